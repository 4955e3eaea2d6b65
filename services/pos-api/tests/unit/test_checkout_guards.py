"""Finalize's guarded write on the fakes: it lands only while the basket, the session and the number are as
finalize read them, and otherwise writes nothing (`tests/ports` holds PostgreSQL to the same)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.tills import BasketContent
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.service_layer.ports import CheckoutView, SessionState, StoredBasket, StoredTicket

NOW = datetime(2026, 11, 21, 14, 32, 6, tzinfo=UTC)
CONTENT = BasketContent.model_validate({"lines": [], "payments": []})


def sale(state: MemoryState, number: int, *, session_id: uuid.UUID | None = None) -> tuple[StoredTicket, StoredBasket]:
    example = load_example(TicketFinalizedV1).data
    basket_id = uuid.uuid4()
    ticket = example.model_copy(
        update={
            "ticket_id": basket_id,
            "number": number,
            "session_id": session_id or state.sessions[example.pos_id].session_id,
        }
    )
    return StoredTicket.new(ticket, NOW), StoredBasket(basket_id, ticket.pos_id, 1, CONTENT, True, basket_id, NOW)


async def record(state: MemoryState, stored: StoredTicket, ended: StoredBasket, expected_version: int) -> bool:
    work = InMemoryUnitOfWork(state)
    async with work:
        event = Envelope[TicketFinalizedV1].wrap(stored.ticket, event_id=uuid.uuid4(), occurred_at=NOW, source="test")
        # what finalize read: the basket at `expected_version` (0: none) and the till's open session
        read = StoredBasket(ended.id, ended.pos_id, expected_version, CONTENT, False, None, NOW)
        session = SessionState(stored.ticket.pos_id, state.sessions[stored.ticket.pos_id].session_id, True, NOW)
        seen = CheckoutView(read if expected_version else None, None, session, None)
        landed = await work.checkout.record(stored, ended, event, topic="t", seen=seen)
        await work.commit()
    return landed


async def opened_state() -> MemoryState:
    state = MemoryState()
    async with InMemoryUnitOfWork(state) as work:
        await work.sessions.opened(load_example(TicketFinalizedV1).data.pos_id, uuid.uuid4(), NOW)
        await work.commit()
    return state


async def test_a_write_as_read_lands_and_ends_its_basket() -> None:
    state = await opened_state()
    stored, ended = sale(state, 1)
    assert await record(state, stored, ended, expected_version=0)
    assert state.baskets[ended.id].finalized
    assert len(state.tickets) == 1


async def test_a_basket_saved_meanwhile_a_foreign_session_or_a_taken_number_write_nothing() -> None:
    state = await opened_state()
    stored, ended = sale(state, 1)
    state.baskets[ended.id] = StoredBasket(ended.id, ended.pos_id, 1, CONTENT, False, None, NOW)  # saved meanwhile
    assert not await record(state, stored, ended, expected_version=0)
    other_session, other_ended = sale(state, 1, session_id=uuid.uuid4())
    assert not await record(state, other_session, other_ended, expected_version=0)
    first, first_ended = sale(state, 2)
    assert await record(state, first, first_ended, expected_version=0)
    taken, taken_ended = sale(state, 2)
    assert not await record(state, taken, taken_ended, expected_version=0)
    assert [t.ticket.number for t in state.tickets.values()] == [2]
    assert not state.baskets[ended.id].finalized
    assert taken_ended.id not in state.baskets
