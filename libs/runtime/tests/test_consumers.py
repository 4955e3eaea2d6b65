"""The consumer engine's decoding and batches: routed on the CloudEvents headers when present, on the envelope
otherwise; what cannot be processed is refused as poison (it goes to the DLQ) rather than retried forever; a batch
that fails is applied again message by message, so one poison message holds back none of the others."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionOpenedV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.kafka import EnvelopeConsumer, PoisonMessageError, Positioned, Record, build_broker


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


def consumer(handle: Any = _ignore) -> EnvelopeConsumer:
    return EnvelopeConsumer(topic="caisse.ticket.v1", group="g", payloads=[TicketFinalizedV1], handle=handle)


def record(envelope: Envelope[Any], offset: int = 0, **header_changes: str) -> Any:
    headers = {**envelope.kafka_headers(), **header_changes}
    return FakeRecord(envelope.model_dump_json().encode(), [(k, v.encode()) for k, v in headers.items()], offset=offset)


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


class DeadLetters:
    """The DLQ as the engine sees it: the offsets and reasons of what went there."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def __call__(self, record: Record, reason: str) -> None:
        self.sent.append((record.offset, reason))


def tickets(count: int) -> list[Envelope[TicketFinalizedV1]]:
    example = load_example(TicketFinalizedV1)
    return [example.model_copy(update={"id": uuid.UUID(int=example.id.int + n)}) for n in range(count)]


async def test_an_undecodable_message_goes_to_the_dlq_with_its_reason_and_the_rest_of_the_batch_is_applied() -> None:
    applied: list[Sequence[Envelope[Any]]] = []

    async def handle(envelopes: Sequence[Envelope[Any]]) -> None:
        applied.append(envelopes)

    good = tickets(2)
    garbage = FakeRecord(b'{"not": "an envelope"}', [], offset=1)
    dead = DeadLetters()
    await consumer(handle).consume([record(good[0], 0), garbage, record(good[1], 2)], dead)
    assert [offset for offset, _ in dead.sent] == [1]
    assert dead.sent[0][1].startswith("undecodable")
    assert [[e.id for e in batch] for batch in applied] == [[good[0].id, good[1].id]]


async def test_a_batch_refused_by_a_rule_is_applied_one_by_one_and_only_the_poison_message_is_dead_lettered() -> None:
    poison = tickets(3)[1]
    applied: list[Any] = []

    async def handle(envelopes: Sequence[Envelope[Any]]) -> None:
        if any(e.id == poison.id for e in envelopes):
            raise PoisonMessageError("refused by a rule")
        applied.extend(e.id for e in envelopes)

    events = tickets(3)
    dead = DeadLetters()
    await consumer(handle).consume([record(e, n) for n, e in enumerate(events)], dead)
    assert dead.sent == [(1, "refused by a rule")]
    assert applied == [events[0].id, events[2].id]


async def test_a_failure_retrying_may_fix_is_raised_for_the_batch_to_come_back_and_nothing_is_dead_lettered() -> None:
    async def handle(_: Sequence[Envelope[Any]]) -> None:
        raise ConnectionError("the database is away")

    dead = DeadLetters()
    with pytest.raises(ConnectionError):
        await consumer(handle).consume([record(e, n) for n, e in enumerate(tickets(2))], dead)
    assert dead.sent == []


async def test_a_lone_message_refused_by_a_rule_goes_to_the_dlq() -> None:
    async def handle(_: Sequence[Envelope[Any]]) -> None:
        raise PoisonMessageError("refused by a rule")

    dead = DeadLetters()
    await consumer(handle).consume([record(tickets(1)[0], 7)], dead)
    assert dead.sent == [(7, "refused by a rule")]


async def test_the_failures_of_a_batch_in_a_row_are_counted_for_its_growing_pause() -> None:
    engine = EnvelopeConsumer(
        topic="t", group="g", payloads=[TicketFinalizedV1], handle=_ignore, first_backoff_s=0.0, max_backoff_s=0.0
    )
    assert [await engine.retry_later() for _ in range(3)] == [1, 2, 3]


async def test_on_the_broker_an_envelope_reaches_its_handler_and_an_undecodable_message_its_group_s_dlq() -> None:
    applied: list[Any] = []

    async def handle(envelopes: Sequence[Envelope[Any]]) -> None:
        applied.extend(e.id for e in envelopes)

    broker = build_broker("127.0.0.1:1", service="test", tracer_provider=None)
    engine = consumer(handle)
    engine.subscribe(broker)
    dead: list[dict[str, str]] = []

    @broker.subscriber(engine.dlq, decoder=_headers)
    async def on_dead(headers: dict[str, str]) -> None:
        dead.append(headers)

    example = load_example(TicketFinalizedV1)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            example.model_dump_json().encode(), topic=engine.topic, headers=example.kafka_headers()
        )
        await test_broker.publish(b'{"not": "an envelope"}', topic=engine.topic)
    assert applied == [example.id]
    assert engine.dlq == "caisse.ticket.v1.g.dlq"
    assert [(d["dlq_group"], d["dlq_original_topic"], d["dlq_reason"][:11]) for d in dead] == [
        ("g", "caisse.ticket.v1", "undecodable")
    ]


async def _headers(message: KafkaMessage) -> dict[str, str]:
    return {k: str(v) for k, v in message.headers.items()}


async def test_a_positioned_reader_learns_each_envelope_s_partition_and_offset() -> None:
    got: list[Positioned] = []

    async def handle(batch: Sequence[Positioned]) -> None:
        got.extend(batch)

    reader = EnvelopeConsumer(
        topic="caisse.ticket.v1", group="g", payloads=[TicketFinalizedV1], handle_positioned=handle
    )
    events = tickets(2)
    await reader.consume([record(events[0], 7), record(events[1], 9)], DeadLetters())
    assert [(p.offset, p.envelope.id) for p in got] == [(7, events[0].id), (9, events[1].id)]


def test_a_consumer_has_exactly_one_handler() -> None:
    with pytest.raises(ValueError, match="one handler"):
        EnvelopeConsumer(topic="t", group="g", payloads=[TicketFinalizedV1])
    with pytest.raises(ValueError, match="one handler"):
        EnvelopeConsumer(topic="t", group="g", payloads=[TicketFinalizedV1], handle=_ignore, handle_positioned=_ignore)
