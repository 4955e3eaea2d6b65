"""Accept what Kafka delivers: each ticket, session close and confirmed deposit stored once, with the inbox.

Arrival and forwarding are two steps. What Kafka delivers is stored first, in one transaction with the inbox
(a redelivery adds nothing), and only then acknowledged: a Paheko that is down loses nothing, and it does not
hold back the topic. The forwarder takes it from the store (`push`, `close`, `deposit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from paheko_bridge.service_layer.services import BridgeServices


async def accept(envelopes: Sequence[Envelope[Any]], services: BridgeServices) -> int:
    """Store the tickets, closes and deposits that arrived, each once; the number new."""
    now = services.clock()
    async with services.uow() as work:
        fresh = await work.inbox.claim_many([(e.id, e.type) for e in envelopes])
        new = [e.data for e in envelopes if e.id in fresh]
        tickets = [data for data in new if isinstance(data, TicketFinalizedV1)]
        added = await work.pushes.add_many(tickets, now) if tickets else 0
        for data in new:
            if isinstance(data, SessionClosedV1):
                added += await work.closes.add(data, now)
            elif isinstance(data, SessionDepositConfirmedV1):
                added += await work.deposits.add(data, now)
        await work.commit()
    return added
