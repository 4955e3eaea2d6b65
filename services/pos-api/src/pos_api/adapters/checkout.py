"""Finalize's reads and writes composed of the finer repositories: the fakes and the back office's unit of work
use it; the till's asyncpg unit of work does the same in one statement each way."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from caisse_contracts.envelope import Envelope
from pos_api.service_layer.ports import (
    Baskets,
    CheckoutView,
    Outbox,
    Sessions,
    StoredBasket,
    StoredTicket,
    Tickets,
)


class ComposedCheckout:
    def __init__(self, tickets: Tickets, baskets: Baskets, sessions: Sessions, outbox: Outbox) -> None:
        self._tickets = tickets
        self._baskets = baskets
        self._sessions = sessions
        self._outbox = outbox

    async def read(self, basket_id: UUID, pos_id: UUID, number: int) -> CheckoutView:
        return CheckoutView(
            basket=await self._baskets.get(basket_id, for_update=True),
            holder=await self._tickets.by_number(pos_id, number),
            session=await self._sessions.of_pos(pos_id),
            last_number=await self._tickets.last_number(pos_id),
        )

    async def record(
        self, stored: StoredTicket, basket: StoredBasket, event: Envelope[Any], *, topic: str, expected_version: int
    ) -> bool:
        ticket = stored.ticket
        current = await self._baskets.get(basket.id)
        if current is not None and (current.finalized or current.pos_id != ticket.pos_id):
            return False
        if (current.version if current else 0) != expected_version:
            return False
        session = await self._sessions.of_pos(
            ticket.pos_id, lock=True
        )  # a close waits for this sale, or it for the close
        if session is None or not session.takes(ticket.number) or session.session_id != ticket.session_id:
            return False
        if await self._tickets.by_id(ticket.ticket_id) is not None or not await self._tickets.add(stored):
            return False
        await self._tickets.note_number(ticket.pos_id, ticket.number, stored.received_at)
        await self._outbox.add(
            event, topic=topic, key=str(ticket.pos_id), aggregate_type="ticket", aggregate_id=str(ticket.ticket_id)
        )
        await self._baskets.put(basket)
        return True
