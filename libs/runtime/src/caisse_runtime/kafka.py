"""Kafka for a service: the FastStream broker (idempotent producer, tracing) and envelope consumers with a DLQ.

A consumer acknowledges only after its work (`AckPolicy.NACK_ON_ERROR`). A message that can never be
processed (undecodable, unknown version, refused by a rule) goes to `<topic>.<group>.dlq` with the reason,
then is acknowledged; any other error is retried after a growing pause, and the offset stays put.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from caisse_contracts.envelope import Envelope, EnvelopeHead, Payload
from caisse_contracts.topics import dlq_topic

log = logging.getLogger(__name__)

MAX_REASON: Final = 2000


class PoisonMessageError(Exception):
    """A message that retrying will never fix; it goes to the consumer group's DLQ with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_broker(bootstrap: str, *, service: str, tracer_provider: TracerProvider | None) -> KafkaBroker:
    """The service's broker: idempotent producer with `acks=all`, trace context through Kafka headers."""
    return KafkaBroker(
        bootstrap,
        client_id=service,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        log_level=logging.INFO,
        graceful_timeout=10.0,
        apply_types=False,  # handlers take the message itself: no per-message dependency injection
    )


class Backoff:
    """Pause before a retry, growing per message and forgotten once the message is processed."""

    def __init__(self, first_s: float = 0.05, max_s: float = 5.0) -> None:
        self._first_s = first_s
        self._max_s = max_s
        self._attempts: dict[tuple[str, int, int], int] = {}

    async def pause(self, where: tuple[str, int, int]) -> int:
        attempt = self._attempts.get(where, 0) + 1
        self._attempts[where] = attempt
        await asyncio.sleep(min(self._first_s * 2 ** (attempt - 1), self._max_s))
        return attempt

    def forget(self, where: tuple[str, int, int]) -> None:
        self._attempts.pop(where, None)


async def _the_message_itself(message: KafkaMessage) -> KafkaMessage:
    """The handler decodes the envelope itself (to dead-letter what does not decode), so it takes the message."""
    return message


def subscribe_envelopes(
    broker: KafkaBroker,
    *,
    topic: str,
    group: str,
    handlers: dict[str, tuple[type[Payload], Callable[[Envelope[Any]], Awaitable[None]]]],
    backoff: Backoff | None = None,
    group_suffix: str = "",
) -> None:
    """Subscribe `group` to `topic`, routing each event type to its handler.

    `handlers` maps an event type to (payload class, handler). Event types the group does not handle are
    acknowledged and skipped: a topic carries several types, and a group reads what concerns it.
    """
    retry = backoff or Backoff()
    dlq = dlq_topic(topic, group)

    async def dead_letter(message: KafkaMessage, reason: str) -> None:
        raw = cast("ConsumerRecord[bytes, bytes]", message.raw_message)
        headers = {k: v.decode(errors="replace") for k, v in (raw.headers or ())}
        headers.update(
            {
                "dlq_reason": reason[:MAX_REASON],
                "dlq_group": group,
                "dlq_original_topic": raw.topic,
                "dlq_original_partition": str(raw.partition),
                "dlq_original_offset": str(raw.offset),
            }
        )
        await broker.publish(raw.value, topic=dlq, key=raw.key, headers=headers)
        log.warning("dead-lettered %s[%s]@%s to %s: %s", raw.topic, raw.partition, raw.offset, dlq, reason)

    @broker.subscriber(
        topic,
        group_id=group + group_suffix,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{group}:{topic}",
        decoder=_the_message_itself,
    )
    async def consume(message: KafkaMessage) -> None:
        raw = cast("ConsumerRecord[bytes, bytes]", message.raw_message)
        where = (raw.topic, raw.partition, raw.offset)
        try:
            head = EnvelopeHead.model_validate_json(raw.value or b"")
            route = handlers.get(head.type)
            if route is None:
                return
            payload_cls, handler = route
            if head.version != payload_cls.VERSION:
                raise PoisonMessageError(f"{head.type} v{head.version} is not v{payload_cls.VERSION}")
            envelope: Envelope[Any] = Envelope[payload_cls].model_validate_json(raw.value or b"")  # type: ignore[valid-type]
            await handler(envelope)
        except ValidationError as exc:
            await dead_letter(message, f"undecodable: {exc}")
        except PoisonMessageError as exc:
            await dead_letter(message, exc.reason)
        except Exception:  # retryable: pause, then re-raise so the offset stays and the message comes back
            attempt = await retry.pause(where)
            log.exception("%s: processing %s[%s]@%s failed (attempt %d)", group, *where, attempt)
            raise
        retry.forget(where)
