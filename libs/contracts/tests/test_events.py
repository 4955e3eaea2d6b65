"""Events: committed snapshots, the additive-only gate, examples, envelope headers and the topic registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope, EnvelopeHead, Payload
from caisse_contracts.events import PAYLOADS, TicketFinalizedV1, payload_class
from caisse_contracts.snapshots import (
    EXAMPLE_DIR,
    SCHEMA_DIR,
    compatibility_problems,
    load_example,
    render,
    schema_of,
    snapshot_name,
)
from caisse_contracts.topics import CONFIG, CONSUMER_GROUPS, TICKETS, all_topics, topic_for

PAYLOAD_IDS = [f"{cls.EVENT_TYPE}.v{cls.VERSION}" for cls in PAYLOADS]


@pytest.mark.parametrize("cls", PAYLOADS, ids=PAYLOAD_IDS)
def test_the_committed_snapshot_equals_the_schema_of_the_code(cls: type[Payload]) -> None:
    committed = (SCHEMA_DIR / snapshot_name(cls)).read_text(encoding="utf-8")
    assert committed == render(schema_of(cls)), "run `uv run caisse-contracts snapshot` and review the diff"


def _history(path: Path) -> list[dict[str, Any]]:
    """Every version of a snapshot ever committed, oldest first."""
    git = shutil.which("git")
    if git is None:
        pytest.fail("git is needed to read the committed history of the snapshots")
    repo = subprocess.run(
        [git, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True, cwd=path.parent
    )
    root = Path(repo.stdout.strip())
    rel = path.resolve().relative_to(root)
    log = subprocess.run(
        [git, "log", "--format=%H", "--reverse", "--", str(rel)], capture_output=True, text=True, check=False, cwd=root
    )
    commits = log.stdout.split() if log.returncode == 0 else []  # a repository without commits has no history
    versions = []
    for commit in commits:
        shown = subprocess.run([git, "show", f"{commit}:{rel}"], capture_output=True, text=True, cwd=root, check=False)
        if shown.returncode == 0:
            versions.append(json.loads(shown.stdout))
    return versions


@pytest.mark.parametrize("cls", PAYLOADS, ids=PAYLOAD_IDS)
def test_the_schema_only_ever_grew_by_addition_since_its_first_commit(cls: type[Payload]) -> None:
    current = schema_of(cls)
    for old in _history(SCHEMA_DIR / snapshot_name(cls)):
        assert compatibility_problems(old, current) == []


def _ticket_schema() -> dict[str, Any]:
    return schema_of(TicketFinalizedV1)


def test_the_gate_accepts_a_new_optional_field() -> None:
    old = _ticket_schema()
    new = json.loads(json.dumps(old))
    new["$defs"]["TicketFinalizedV1"]["properties"]["loyalty_card"] = {"type": "string"}
    assert compatibility_problems(old, new) == []


def test_the_gate_refuses_a_removed_field() -> None:
    old = _ticket_schema()
    new = json.loads(json.dumps(old))
    del new["$defs"]["TicketFinalizedV1"]["properties"]["change_given"]
    assert any("change_given: removed" in p for p in compatibility_problems(old, new))


def test_the_gate_refuses_a_new_required_field() -> None:
    old = _ticket_schema()
    new = json.loads(json.dumps(old))
    props = new["$defs"]["TicketFinalizedV1"]
    props["properties"]["till_serial"] = {"type": "string"}
    props["required"].append("till_serial")
    assert any("till_serial: became required" in p for p in compatibility_problems(old, new))


def test_the_gate_refuses_a_changed_type_and_a_narrowed_enum() -> None:
    old = _ticket_schema()
    new = json.loads(json.dumps(old))
    new["$defs"]["TicketFinalizedV1"]["properties"]["number"] = {"type": "string"}
    new["$defs"]["PaymentMethod"]["enum"].remove("voucher")
    problems = compatibility_problems(old, new)
    assert any(".number: type integer" in p for p in problems)
    assert any("enum values removed: ['voucher']" in p for p in problems)


@pytest.mark.parametrize("cls", PAYLOADS, ids=PAYLOAD_IDS)
def test_the_example_message_decodes_and_round_trips(cls: type[Payload]) -> None:
    raw = (EXAMPLE_DIR / snapshot_name(cls)).read_text(encoding="utf-8")
    head = EnvelopeHead.model_validate_json(raw)
    assert payload_class(head.type, head.version) is cls
    envelope = Envelope[cls].model_validate_json(raw)  # type: ignore[valid-type]
    again = Envelope[cls].model_validate_json(envelope.model_dump_json())  # type: ignore[valid-type]
    assert again == envelope
    assert json.loads(envelope.model_dump_json()) == json.loads(raw)


@pytest.mark.parametrize("cls", PAYLOADS, ids=PAYLOAD_IDS)
def test_an_envelope_dumped_around_its_payloads_json_is_the_envelopes_own_json(cls: type[Payload]) -> None:
    envelope = load_example(cls)
    assert envelope.dump_json_with_data(envelope.data.model_dump_json()) == envelope.model_dump_json()
    bare = envelope.model_copy(update={"traceparent": None, "tracestate": None})
    assert bare.dump_json_with_data(bare.data.model_dump_json()) == bare.model_dump_json()


def test_money_on_the_wire_refuses_floats_and_strings() -> None:
    raw = json.loads((EXAMPLE_DIR / "ticket.finalized.v1.json").read_text(encoding="utf-8"))
    for bad in (1000.0, 12.5, "1000"):
        raw["data"]["total_incl_tax"] = bad
        with pytest.raises(ValidationError, match="total_incl_tax"):
            Envelope[TicketFinalizedV1].model_validate_json(json.dumps(raw))


def test_a_consumer_ignores_fields_a_newer_minor_version_added() -> None:
    raw = json.loads((EXAMPLE_DIR / "ticket.finalized.v1.json").read_text(encoding="utf-8"))
    raw["data"]["loyalty_card"] = "A-123"
    assert Envelope[TicketFinalizedV1].model_validate_json(json.dumps(raw)).data.number == 127


def test_the_envelope_maps_to_cloudevents_kafka_headers_with_trace_context() -> None:
    envelope = Envelope[TicketFinalizedV1].model_validate_json((EXAMPLE_DIR / "ticket.finalized.v1.json").read_text())
    headers = envelope.kafka_headers()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == str(envelope.id)
    assert headers["ce_type"] == "ticket.finalized"
    assert headers["ce_source"] == "pos-api"
    assert headers["ce_dataversion"] == "1"
    assert headers["ce_posid"] == str(envelope.tenant.pos_id)
    assert headers["traceparent"] == envelope.traceparent


def test_every_event_type_has_one_topic_and_config_is_compacted() -> None:
    for cls in PAYLOADS:
        assert topic_for(cls.EVENT_TYPE).name.endswith(".v1")
    assert topic_for("ticket.finalized") is TICKETS
    assert CONFIG.config()["cleanup.policy"] == "compact"
    assert TICKETS.config()["cleanup.policy"] == "delete"


def test_every_consumer_group_has_a_dead_letter_topic_per_topic_it_reads() -> None:
    names = {t.name for t in all_topics()}
    for group in CONSUMER_GROUPS:
        for topic in group.topics:
            assert f"{topic}.{group.name}.dlq" in names
