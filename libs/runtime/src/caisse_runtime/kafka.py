"""Kafka for a service: the FastStream broker (idempotent producer, tracing) and the one consumer engine.

Every consumer group reads envelopes a batch at a time through `EnvelopeConsumer`, on a FastStream batch
subscriber. One fetch yields up to `max_records` records; the handler applies them (in one transaction when it
can: its inbox makes a redelivery harmless) and only then are the offsets committed (`AckPolicy.NACK_ON_ERROR`),
so nothing is acknowledged without its work. What can never be processed (undecodable, unknown version, refused
by a rule) goes to `<topic>.<group>.dlq` with the reason. When a batch fails, its messages are applied again one
by one, so that one poison message does not hold back the others; any other failure pauses (growing) and the
batch comes back from its first offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, NamedTuple, TypeAlias, cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope, EnvelopeHead, Payload
from caisse_contracts.topics import dlq_topic
from caisse_runtime.telemetry import context_from

log = logging.getLogger(__name__)

MAX_REASON: Final = 2000
BatchHandler = Callable[[Sequence[Envelope[Any]]], Awaitable[None]]
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
DeadLetter = Callable[[Record, str], Awaitable[None]]
CATCH_UP_FETCH_BYTES: Final = 4 << 20
"""What one fetch may bring per partition (aiokafka's default is 1 MiB). Catching up with a backlog, the consumer
stalls on each fetch once its buffer runs dry; at 1 MiB that was every third batch of 500 tickets."""
_SPAN_HEADERS: Final = frozenset({"traceparent", "tracestate", "ce_id"})
"""The headers a message's span reads: only these are decoded."""


class PoisonMessageError(Exception):
    """A message that retrying will never fix; it goes to the consumer group's DLQ with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_broker(bootstrap: str, *, service: str, tracer_provider: TracerProvider | None) -> KafkaBroker:
    """The service's broker: idempotent producer with `acks=all`, trace context through Kafka headers.

    `tracer_provider`: where FastStream's batch and publish spans go; None when nothing exports spans, since its
    middleware would otherwise still read every message's headers for a batch's links. The messages' own spans,
    children of their producers' (see `EnvelopeConsumer`), are made either way.
    """
    return KafkaBroker(
        bootstrap,
        client_id=service,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)] if tracer_provider is not None else [],
        # FastStream's "Received" and "Processed" lines for every batch at DEBUG; failures still log as errors.
        log_level=logging.DEBUG,
        graceful_timeout=10.0,
        apply_types=False,  # handlers take the message itself: no per-message dependency injection
    )


def _routing(record: Record) -> tuple[str, int]:
    """The event type and version, from the CloudEvents headers when the producer set them (a JSON parse
    less per message), from the envelope itself otherwise."""
    headers = dict(record.headers or ())
    event_type, version = headers.get("ce_type"), headers.get("ce_dataversion")
    if event_type is not None and version is not None and version.isdigit():
        return event_type.decode(errors="replace"), int(version)
    head = EnvelopeHead.model_validate_json(record.value or b"")
    return head.type, head.version


async def _the_message_itself(message: KafkaMessage) -> KafkaMessage:
    """The handler decodes the envelopes itself (to dead-letter what does not decode), so it takes the message."""
    return message


class EnvelopeConsumer:
    """`group` reading `topic`: the event types of `payloads` go to `handle`, a batch at a time; other types on
    the same topic are acknowledged and skipped (a topic carries several types, a group reads what concerns it).
    A reader that also needs each envelope's partition and offset gives `handle_positioned` instead."""

    def __init__(
        self,
        *,
        topic: str,
        group: str,
        payloads: Sequence[type[Payload]],
        handle: BatchHandler | None = None,
        handle_positioned: PositionedHandler | None = None,
        first_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        if (handle is None) == (handle_positioned is None):
            raise ValueError("a consumer has one handler: handle or handle_positioned")
        self.topic = topic
        self.group = group
        self.dlq = dlq_topic(topic, group)
        self._payloads = {p.EVENT_TYPE: p for p in payloads}
        # Each payload's envelope class, parametrized once rather than looked up again for every message.
        self._envelopes: dict[str, type[Envelope[Any]]] = {p.EVENT_TYPE: Envelope[p] for p in payloads}  # type: ignore[valid-type]
        self._handle = handle
        self._handle_positioned = handle_positioned
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._attempt = 0
        self._tracer = trace.get_tracer(f"{group}.consumer")

    def decode(self, record: Record) -> Envelope[Any] | None:
        """The record's envelope, None for a type this group does not read; poison raises (to the DLQ)."""
        event_type, version = _routing(record)
        payload_cls = self._payloads.get(event_type)
        if payload_cls is None:
            return None
        if version != payload_cls.VERSION:
            raise PoisonMessageError(f"{event_type} v{version} is not v{payload_cls.VERSION}")
        envelope: Envelope[Any] = self._envelopes[event_type].model_validate_json(record.value or b"")
        if (envelope.type, envelope.version) != (event_type, version):
            raise PoisonMessageError(
                f"headers say {event_type} v{version}, the envelope {envelope.type} v{envelope.version}"
            )
        return envelope

    async def consume(self, records: Sequence[Record], dead_letter: DeadLetter) -> None:
        """Apply one batch: poison to `dead_letter`, the rest to the handler (one by one if the batch fails).
        Raises what retrying may fix; the batch is then to come back whole."""
        decoded: list[tuple[Record, Envelope[Any]]] = []
        for record in records:
            try:
                envelope = self.decode(record)
            except (ValidationError, PoisonMessageError) as exc:
                reason = exc.reason if isinstance(exc, PoisonMessageError) else f"undecodable: {exc}"
                await dead_letter(record, reason)
                continue
            if envelope is not None:
                decoded.append((record, envelope))
        if not decoded:
            return
        spans = [self._span(record) for record, _ in decoded]
        try:
            try:
                await self._deliver(decoded)
            except Exception:  # not swallowed: the batch is applied again message by message, and a lone one re-raises
                if len(decoded) == 1:
                    raise
                log.warning("%s: a batch of %d failed; applying its messages one by one", self.group, len(decoded))
                for record, envelope in decoded:
                    await self._one(record, envelope, dead_letter)
        except PoisonMessageError as exc:
            await dead_letter(decoded[0][0], exc.reason)
        finally:
            for span in spans:
                span.end()

    async def _deliver(self, decoded: Sequence[tuple[Record, Envelope[Any]]]) -> None:
        """Hand the decoded envelopes to the handler (with their positions, to a positioned one)."""
        if self._handle_positioned is not None:
            await self._handle_positioned([Positioned(r.partition, r.offset, e) for r, e in decoded])
        elif self._handle is not None:
            await self._handle([e for _, e in decoded])

    async def _one(self, record: Record, envelope: Envelope[Any], dead_letter: DeadLetter) -> None:
        try:
            await self._deliver([(record, envelope)])
        except PoisonMessageError as exc:
            await dead_letter(record, exc.reason)

    def _span(self, record: Record) -> Span:
        """The message's own span, a child of its producer's (the trace of a sale goes on across services)."""
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ()) if k in _SPAN_HEADERS}
        return self._tracer.start_span(
            f"{record.topic} process",
            context=context_from(headers.get("traceparent"), headers.get("tracestate")),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.group,
                "messaging.kafka.message.offset": record.offset,
                "messaging.message.id": headers.get("ce_id", ""),
            },
        )

    async def retry_later(self) -> int:
        """Pause before the failed batch comes back, longer at each failure in a row; the attempt's number."""
        self._attempt += 1
        await asyncio.sleep(min(self._first_backoff_s * 2 ** (self._attempt - 1), self._max_backoff_s))
        return self._attempt

    def subscribe(
        self,
        broker: KafkaBroker,
        *,
        group_suffix: str = "",
        max_records: int = 500,
        gather_bytes: int = 64 * 1024,
        gather_wait_ms: int = 100,
        whole_history: bool = False,
        idle_poll_ms: int = 200,
    ) -> None:
        """Consume on `broker` as `group` + `group_suffix`.

        `idle_poll_ms`: when a poll finds nothing, FastStream waits this long before the next (and a poll waits as
        long for records): what comes meanwhile waits up to twice it. A consumer whose latency is the product's (the
        notifier's) polls more often.

        `whole_history`: read the topic from its beginning at every start, with no consumer group (nothing is
        committed, each process reads every partition): a view that each replica rebuilds for itself. A failed
        batch is read again from its first offsets all the same.

        The broker answers a fetch once it has `gather_bytes` or after `gather_wait_ms`: under load a batch holds
        tens of events rather than the one or two that had just arrived, so the per-batch costs (transaction,
        inbox claim, offset commit, fetch round trip) are shared; idle, an event waits at most `gather_wait_ms`.
        """

        async def dead_letter(record: Record, reason: str) -> None:
            headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
            headers.update(
                {
                    "dlq_reason": reason[:MAX_REASON],
                    "dlq_group": self.group,
                    "dlq_original_topic": record.topic,
                    "dlq_original_partition": str(record.partition),
                    "dlq_original_offset": str(record.offset),
                }
            )
            await broker.publish(record.value, topic=self.dlq, key=record.key, headers=headers)
            log.warning(
                "dead-lettered %s[%s]@%s to %s: %s", record.topic, record.partition, record.offset, self.dlq, reason
            )

        @broker.subscriber(
            self.topic,
            group_id=None if whole_history else self.group + group_suffix,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=idle_poll_ms,
            fetch_min_bytes=gather_bytes,
            fetch_max_wait_ms=gather_wait_ms,
            max_partition_fetch_bytes=CATCH_UP_FETCH_BYTES,
            ack_policy=AckPolicy.MANUAL if whole_history else AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            title=f"{self.group}:{self.topic}",
            decoder=_the_message_itself,
        )
        async def consume(message: KafkaMessage) -> None:
            records = cast("tuple[Record, ...]", message.raw_message)
            try:
                await self.consume(records, dead_letter)
            except Exception:  # retryable: pause, then re-raise; the nack sends each partition back to the batch
                if whole_history:
                    await message.nack()  # nothing commits here: the rewind is the consumer's own
                attempt = await self.retry_later()
                # FastStream logs the error with its traceback as the exception leaves the handler.
                log.warning("%s: a batch of %d failed (attempt %d); retrying", self.group, len(records), attempt)
                raise
            self._attempt = 0


class Positioned(NamedTuple):
    """An envelope with where it sits in its partition: for views whose readers resume by position."""

    partition: int
    offset: int
    envelope: Envelope[Any]


PositionedHandler = Callable[[Sequence[Positioned]], Awaitable[None]]
