"""A Kafka consumer that hands envelopes to its handler a batch at a time, for consumers that must keep up.

One `getmany` yields up to `max_records` records; the handler applies them in one transaction (its inbox
makes a redelivery harmless) and only then are the offsets committed, so nothing is acknowledged without its
work. What can never be processed (undecodable, unknown version, refused by a rule) goes to
`<topic>.<group>.dlq` with the reason. When a batch fails, its messages are retried one by one, so that one
poison message does not hold back the others; any other failure pauses (growing) and the batch comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope, EnvelopeHead, Payload
from caisse_contracts.topics import dlq_topic
from caisse_runtime.kafka import MAX_REASON, PoisonMessageError
from caisse_runtime.telemetry import context_from

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Envelope[Any]]], Awaitable[None]]
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
_SPAN_HEADERS: Final = frozenset({"traceparent", "tracestate", "ce_id"})
"""The headers a message's span reads: only these are decoded."""


def _routing(record: Record) -> tuple[str, int]:
    """The event type and version, from the CloudEvents headers when the producer set them (a JSON parse
    less per message), from the envelope itself otherwise."""
    headers = dict(record.headers or ())
    event_type, version = headers.get("ce_type"), headers.get("ce_dataversion")
    if event_type is not None and version is not None and version.isdigit():
        return event_type.decode(errors="replace"), int(version)
    head = EnvelopeHead.model_validate_json(record.value or b"")
    return head.type, head.version


class BatchConsumer:
    """Consumes `topic` as `group` (+ `group_suffix`), routing the event types of `payloads` to `handle`."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group: str,
        payloads: Sequence[type[Payload]],
        handle: BatchHandler,
        group_suffix: str = "",
        max_records: int = 500,
        gather_bytes: int = 64 * 1024,
        gather_wait_ms: int = 100,
        first_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._group_id = group + group_suffix
        self._payloads = {p.EVENT_TYPE: p for p in payloads}
        # Each payload's envelope class, parametrized once rather than looked up again for every message.
        self._envelopes: dict[str, type[Envelope[Any]]] = {p.EVENT_TYPE: Envelope[p] for p in payloads}  # type: ignore[valid-type]
        self._handle = handle
        self._max_records = max_records
        self._gather_bytes = gather_bytes
        self._gather_wait_ms = gather_wait_ms
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._dlq = dlq_topic(topic, group)
        self._tracer = trace.get_tracer(f"{group}.consumer")
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer {self._group_id}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)
            self._task = None

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            # The broker answers a fetch once it has `gather_bytes` or after `gather_wait_ms`: under load a batch
            # holds tens of events rather than the one or two that had just arrived, so the per-batch costs
            # (transaction, inbox claim, offset commit, fetch round trip) are shared; idle, an event waits at
            # most `gather_wait_ms` more.
            fetch_min_bytes=self._gather_bytes,
            fetch_max_wait_ms=self._gather_wait_ms,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, enable_idempotence=True, acks="all")
        while not self._stop.is_set():
            try:
                await consumer.start()
                await producer.start()
                break
            except KafkaError:
                log.warning("%s: Kafka not reachable yet; retrying", self._group_id)
                await asyncio.sleep(1.0)
        attempt = 0
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if not batch:
                    continue
                try:
                    await self._process([r for records in batch.values() for r in records], producer)
                except Exception:  # retryable: pause, go back to the batch's first offsets, try again
                    attempt += 1
                    log.exception("%s: batch failed (attempt %d); retrying", self._group_id, attempt)
                    for tp, records in batch.items():
                        consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(min(self._first_backoff_s * 2 ** (attempt - 1), self._max_backoff_s))
                    continue
                attempt = 0
                await self._commit(consumer, {tp: records[-1].offset + 1 for tp, records in batch.items()})
        finally:
            await consumer.stop()
            await producer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except CommitFailedError:  # the group rebalanced: the new owner re-reads these; the inbox keeps them once
            log.warning("%s: offsets not committed after a rebalance", self._group_id)

    async def _process(self, records: list[Record], producer: AIOKafkaProducer) -> None:
        decoded: list[tuple[Record, Envelope[Any]]] = []
        for record in records:
            try:
                envelope = self.decode(record)
            except (ValidationError, PoisonMessageError) as exc:
                reason = exc.reason if isinstance(exc, PoisonMessageError) else f"undecodable: {exc}"
                await self._dead_letter(producer, record, reason)
                continue
            if envelope is not None:
                decoded.append((record, envelope))
        if not decoded:
            return
        spans = [self._span(record) for record, _ in decoded]
        try:
            try:
                await self._handle([e for _, e in decoded])
            except Exception:  # not swallowed: the batch is applied again message by message, and a lone one re-raises
                if len(decoded) == 1:
                    raise
                log.warning("%s: a batch of %d failed; applying its messages one by one", self._group_id, len(decoded))
                for record, envelope in decoded:
                    await self._one(producer, record, envelope)
        except PoisonMessageError as exc:
            await self._dead_letter(producer, decoded[0][0], exc.reason)
        finally:
            for span in spans:
                span.end()
        self.processed += len(decoded)

    async def _one(self, producer: AIOKafkaProducer, record: Record, envelope: Envelope[Any]) -> None:
        try:
            await self._handle([envelope])
        except PoisonMessageError as exc:
            await self._dead_letter(producer, record, exc.reason)

    def decode(self, record: Record) -> Envelope[Any] | None:
        """The record's envelope, None for a type this group does not read; poison raises (to the DLQ)."""
        event_type, version = _routing(record)
        payload_cls = self._payloads.get(event_type)
        if payload_cls is None:
            return None  # another type on the same topic: not this group's business
        if version != payload_cls.VERSION:
            raise PoisonMessageError(f"{event_type} v{version} is not v{payload_cls.VERSION}")
        envelope: Envelope[Any] = self._envelopes[event_type].model_validate_json(record.value or b"")
        if (envelope.type, envelope.version) != (event_type, version):
            raise PoisonMessageError(
                f"headers say {event_type} v{version}, the envelope {envelope.type} v{envelope.version}"
            )
        return envelope

    def _span(self, record: Record) -> Span:
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ()) if k in _SPAN_HEADERS}
        return self._tracer.start_span(
            f"{record.topic} process",
            context=context_from(headers.get("traceparent"), headers.get("tracestate")),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self._group_id,
                "messaging.kafka.message.offset": record.offset,
                "messaging.message.id": headers.get("ce_id", ""),
            },
        )

    async def _dead_letter(self, producer: AIOKafkaProducer, record: Record, reason: str) -> None:
        headers = [(k, v) for k, v in (record.headers or ())]
        headers += [
            ("dlq_reason", reason[:MAX_REASON].encode()),
            ("dlq_group", self._group.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
        ]
        await producer.send_and_wait(self._dlq, record.value, key=record.key, headers=headers)
        log.warning(
            "dead-lettered %s[%s]@%s to %s: %s", record.topic, record.partition, record.offset, self._dlq, reason
        )
