"""paheko-bridge's Kafka consumers, a batch per transaction: tickets, session closes and deposits into its store (then the
forwarder is woken), and `config.changed` into its view of companies and categories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import ConfigChangedV1, SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.topics import CONFIG, PAHEKO_BRIDGE, PAHEKO_BRIDGE_CONFIG, SESSIONS, TICKETS
from caisse_runtime.kafka import EnvelopeConsumer
from paheko_bridge.adapters.config_view import SqlConfigView
from paheko_bridge.service_layer.accept import accept
from paheko_bridge.service_layer.services import BridgeServices


def subscribe(
    broker: KafkaBroker,
    services: BridgeServices,
    view: SqlConfigView,
    *,
    wake: Callable[[], None],
    group_suffix: str = "",
    max_records: int = 500,
) -> None:
    async def on_events(envelopes: Sequence[Envelope[Any]]) -> None:
        if await accept(envelopes, services):
            wake()

    async def on_config(envelopes: Sequence[Envelope[Any]]) -> None:
        if await view.apply([e.data for e in envelopes]):
            wake()  # a company may have just got its Paheko, or a missing account

    for consumer in (
        EnvelopeConsumer(topic=TICKETS.name, group=PAHEKO_BRIDGE.name, payloads=[TicketFinalizedV1], handle=on_events),
        EnvelopeConsumer(
            topic=SESSIONS.name,
            group=PAHEKO_BRIDGE.name,
            payloads=[SessionClosedV1, SessionDepositConfirmedV1],
            handle=on_events,
        ),
        EnvelopeConsumer(
            topic=CONFIG.name, group=PAHEKO_BRIDGE_CONFIG.name, payloads=[ConfigChangedV1], handle=on_config
        ),
    ):
        consumer.subscribe(broker, group_suffix=group_suffix, max_records=max_records)
