"""pos-api's Kafka consumers: the session read model from `session.opened` and `session.closed`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionOpenedV1
from caisse_contracts.topics import POS_API_SESSIONS, SESSIONS
from caisse_runtime.kafka import EnvelopeConsumer
from pos_api.service_layer.cash_sessions import session_closed, session_opened
from pos_api.service_layer.ports import UnitOfWorkFactory


def register(broker: KafkaBroker, *, uow: UnitOfWorkFactory, group_suffix: str = "") -> None:
    async def on_sessions(envelopes: Sequence[Envelope[Any]]) -> None:
        for envelope in envelopes:  # each in its own transaction: sessions open and close a few times a day
            if envelope.type == SessionOpenedV1.EVENT_TYPE:
                await session_opened(envelope.data, event_id=envelope.id, uow=uow)
            else:
                await session_closed(envelope.data, event_id=envelope.id, uow=uow)

    sessions = EnvelopeConsumer(
        topic=SESSIONS.name,
        group=POS_API_SESSIONS.name,
        payloads=[SessionOpenedV1, SessionClosedV1],
        handle=on_sessions,
    )
    # A till may sell right after opening its session: the fetch answers as soon as one event is there.
    sessions.subscribe(broker, group_suffix=group_suffix, gather_bytes=1)
