"""pos-api's Kafka consumers: the session read model from `session.opened` and `session.closed`."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionOpenedV1
from caisse_contracts.topics import POS_API_SESSIONS, SESSIONS
from caisse_runtime.kafka import subscribe_envelopes
from pos_api.service_layer.cash_sessions import session_closed, session_opened
from pos_api.service_layer.ports import UnitOfWorkFactory


def register(broker: KafkaBroker, *, uow: UnitOfWorkFactory, group_suffix: str = "") -> None:
    async def on_opened(envelope: Envelope[Any]) -> None:
        await session_opened(envelope.data, event_id=envelope.id, uow=uow)

    async def on_closed(envelope: Envelope[Any]) -> None:
        await session_closed(envelope.data, event_id=envelope.id, uow=uow)

    subscribe_envelopes(
        broker,
        topic=SESSIONS.name,
        group=POS_API_SESSIONS.name,
        group_suffix=group_suffix,
        handlers={
            SessionOpenedV1.EVENT_TYPE: (SessionOpenedV1, on_opened),
            SessionClosedV1.EVENT_TYPE: (SessionClosedV1, on_closed),
        },
    )
