"""The AsyncAPI documents of the services: committed up to date, every reference resolving inside the document,
and each service's operations those the topic registry gives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from caisse_contracts.asyncapi import SERVICES, document, render
from caisse_contracts.events import PAYLOADS
from caisse_contracts.topics import TOPICS

ROOT = Path(__file__).resolve().parents[3]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref" and isinstance(v, str)] + [
            r for v in node.values() for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_the_generated_one(service: str) -> None:
    committed = (ROOT / "services" / service / "asyncapi.yaml").read_text(encoding="utf-8")
    assert committed == render(service), "run `make snapshots` (caisse-contracts asyncapi)"
    assert yaml.safe_load(committed)["asyncapi"] == "3.0.0"  # JSON is YAML


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves_inside_the_document(service: str) -> None:
    doc = document(service)
    for ref in refs(doc):
        assert resolve(doc, ref) is not None


def test_each_service_sends_what_it_produces_and_receives_what_it_consumes() -> None:
    for service in SERVICES:
        doc = document(service)
        sends = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values() if op["action"] == "send"}
        receives = {
            op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values() if op["action"] == "receive"
        }
        modelled = {cls.EVENT_TYPE for cls in PAYLOADS}
        produced = {
            t.name.replace(".", "-") for t in TOPICS if service in t.producers and modelled & set(t.event_types)
        }
        stream = {"till-stream"} if service == "notifier" else set()
        assert sends == produced | stream
        assert receives == {t.name.replace(".", "-") for t in TOPICS if service in t.consumers} | stream
    pos_api = document("pos-api")
    assert pos_api["operations"]["send-ticket.finalized-v1"]["action"] == "send"
    assert pos_api["channels"]["caisse-ticket-v1"]["address"] == "caisse.ticket.v1"


def test_the_notifier_documents_the_tills_stream_both_ways_with_its_close_codes() -> None:
    doc = document("notifier")
    assert doc["servers"]["stream"]["protocol"] == "ws"
    channel = doc["channels"]["till-stream"]
    assert channel["address"] == "/v1/stream"
    assert "4401 TOKEN_REFUSED" in channel["description"]
    sent = {m["$ref"].rsplit("/", 1)[1] for m in doc["operations"]["send-stream"]["messages"]}
    received = {m["$ref"].rsplit("/", 1)[1] for m in doc["operations"]["receive-stream"]["messages"]}
    assert {"stream.hello", "stream.change", "stream.item", "stream.removed", "stream.reset", "stream.synced"} <= sent
    assert received == {"stream.resume", "stream.ack", "stream.snapshot", "stream.refresh"}
    change = doc["components"]["messages"]["stream.change"]["payload"]
    assert set(change["required"]) >= {"position", "entity_type", "entity_id", "from_version", "version", "patch"}
