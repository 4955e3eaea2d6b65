"""session-service's Kafka consumers: `ticket.finalized` into running totals, through the inbox."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.runtime.kafka import subscribe_envelopes
from caisse_contracts.topics import SESSION_SERVICE_TICKETS, TICKETS
from session_service.service_layer.ports import Clock, UnitOfWorkFactory
from session_service.service_layer.totals import count_ticket


def register(broker: KafkaBroker, *, uow: UnitOfWorkFactory, clock: Clock, group_suffix: str = "") -> None:
    async def on_ticket_finalized(envelope: Envelope[Any]) -> None:
        await count_ticket(envelope.data, event_id=envelope.id, event_type=envelope.type, uow=uow, clock=clock)

    subscribe_envelopes(
        broker,
        topic=TICKETS.name,
        group=SESSION_SERVICE_TICKETS.name,
        group_suffix=group_suffix,
        handlers={TicketFinalizedV1.EVENT_TYPE: (TicketFinalizedV1, on_ticket_finalized)},
    )
