"""The batch consumer's decoding: routed on the CloudEvents headers when present, on the envelope otherwise;
what cannot be processed is refused as poison (it goes to the DLQ) rather than retried forever."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionOpenedV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.batches import BatchConsumer
from caisse_runtime.kafka import PoisonMessageError


@dataclass
class FakeRecord:
    value: bytes
    headers: list[tuple[str, bytes]]
    topic: str = "caisse.ticket.v1"
    partition: int = 0
    offset: int = 0
    key: bytes = b"pos"


async def _ignore(_: Any) -> None:
    return None


def consumer() -> BatchConsumer:
    return BatchConsumer(
        bootstrap="127.0.0.1:1", topic="caisse.ticket.v1", group="g", payloads=[TicketFinalizedV1], handle=_ignore
    )


def record(envelope: Envelope[Any], **header_changes: str) -> FakeRecord:
    headers = {**envelope.kafka_headers(), **header_changes}
    return FakeRecord(envelope.model_dump_json().encode(), [(k, v.encode()) for k, v in headers.items()])


def test_an_event_is_decoded_from_its_headers_route_and_its_envelope() -> None:
    example = load_example(TicketFinalizedV1)
    decoded = consumer().decode(record(example))
    assert decoded is not None
    assert decoded.data == example.data


def test_an_event_without_headers_is_routed_on_its_envelope_and_another_type_is_skipped() -> None:
    ticket = load_example(TicketFinalizedV1)
    assert consumer().decode(FakeRecord(ticket.model_dump_json().encode(), [])) is not None
    opened = load_example(SessionOpenedV1)
    assert consumer().decode(FakeRecord(opened.model_dump_json().encode(), [])) is None


def test_headers_that_disagree_with_the_envelope_or_an_unknown_version_are_poison() -> None:
    ticket = load_example(TicketFinalizedV1)
    with pytest.raises(PoisonMessageError):
        consumer().decode(record(ticket, ce_dataversion="2"))
    opened = load_example(SessionOpenedV1)
    with pytest.raises((PoisonMessageError, ValidationError)):
        consumer().decode(record(opened, ce_type="ticket.finalized"))
