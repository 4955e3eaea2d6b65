"""session-service's Kafka consumers, a batch per transaction: `ticket.finalized` into running totals (then
the closes that were waiting for those tickets), and `config.changed` into the configuration view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import ConfigChangedV1, TicketFinalizedV1
from caisse_contracts.topics import CONFIG, SESSION_SERVICE_CONFIG, SESSION_SERVICE_TICKETS, TICKETS
from caisse_runtime.kafka import EnvelopeConsumer
from session_service.service_layer.close import complete_closes
from session_service.service_layer.config import apply_config
from session_service.service_layer.ports import CountingWorkFactory
from session_service.service_layer.sessions import SessionServices
from session_service.service_layer.totals import TicketEvent, count_tickets

CONFIG_GATHER_WAIT_MS = 500
"""How long the broker may hold the config consumer's fetch when nothing comes. Changes are rare and an open waits
for its till's configuration for seconds (`config_wait_s`): half a second is soon enough, and an idle service
then asks five times less often than its ticket consumer."""


def subscribe(
    broker: KafkaBroker,
    services: SessionServices,
    *,
    counting: CountingWorkFactory,
    group_suffix: str = "",
    max_records: int = 500,
) -> None:
    """`counting` is the unit of work tickets are counted in (the hot path's own, lighter than `services.uow`)."""

    async def on_tickets(envelopes: Sequence[Envelope[Any]]) -> None:
        events = [TicketEvent(e.id, e.type, e.data) for e in envelopes]
        counted = await count_tickets(events, uow=counting, clock=services.clock)
        await complete_closes(counted.waiting, services)

    async def on_config(envelopes: Sequence[Envelope[Any]]) -> None:
        await apply_config([e.data for e in envelopes], uow=services.uow)

    tickets = EnvelopeConsumer(
        topic=TICKETS.name, group=SESSION_SERVICE_TICKETS.name, payloads=[TicketFinalizedV1], handle=on_tickets
    )
    tickets.subscribe(broker, group_suffix=group_suffix, max_records=max_records)
    config = EnvelopeConsumer(
        topic=CONFIG.name, group=SESSION_SERVICE_CONFIG.name, payloads=[ConfigChangedV1], handle=on_config
    )
    config.subscribe(broker, group_suffix=group_suffix, max_records=max_records, gather_wait_ms=CONFIG_GATHER_WAIT_MS)
