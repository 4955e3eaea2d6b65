"""paheko-bridge's Kafka consumers, a batch per transaction: tickets, session closes and deposits into its store (then the
forwarder is woken), and `config.changed` into its view of companies and categories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import ConfigChangedV1, SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.topics import CONFIG, PAHEKO_BRIDGE, PAHEKO_BRIDGE_CONFIG, SESSIONS, TICKETS
from caisse_runtime.batches import BatchConsumer
from paheko_bridge.adapters.config_view import SqlConfigView
from paheko_bridge.service_layer.accept import accept
from paheko_bridge.service_layer.services import BridgeServices


def build(
    services: BridgeServices,
    view: SqlConfigView,
    *,
    wake: Callable[[], None],
    bootstrap: str,
    group_suffix: str = "",
    max_records: int = 500,
) -> list[BatchConsumer]:
    async def on_events(envelopes: Sequence[Envelope[Any]]) -> None:
        if await accept(envelopes, services):
            wake()

    async def on_config(envelopes: Sequence[Envelope[Any]]) -> None:
        if await view.apply([e.data for e in envelopes]):
            wake()  # a company may have just got its Paheko, or a missing account

    def consumer(topic: str, payloads: list[Any], handle: Any, group: str) -> BatchConsumer:
        return BatchConsumer(
            bootstrap=bootstrap,
            topic=topic,
            group=group,
            group_suffix=group_suffix,
            payloads=payloads,
            handle=handle,
            max_records=max_records,
        )

    return [
        consumer(TICKETS.name, [TicketFinalizedV1], on_events, PAHEKO_BRIDGE.name),
        consumer(SESSIONS.name, [SessionClosedV1, SessionDepositConfirmedV1], on_events, PAHEKO_BRIDGE.name),
        consumer(CONFIG.name, [ConfigChangedV1], on_config, PAHEKO_BRIDGE_CONFIG.name),
    ]
