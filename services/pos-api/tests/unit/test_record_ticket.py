"""Recording a finalized ticket: the sums are checked, a number is used once, a replay is safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from caisse_contracts.events import PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import TICKETS
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import TicketInconsistentError, TicketNumberConflictError
from pos_api.service_layer.tickets import Outcome, record_ticket

NOW = datetime(2026, 11, 21, 14, 32, 6, tzinfo=UTC)


def example_ticket(**changes: object) -> TicketFinalizedV1:
    """The committed example: 8.00 € coat at 20 % + 2.00 € book at 5.5 %, 10.00 € paid with a 20 € note."""
    return load_example(TicketFinalizedV1).data.model_copy(update=changes)


async def record(state: MemoryState, ticket: TicketFinalizedV1) -> Outcome:
    recorded = await record_ticket(ticket, uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    return recorded.outcome


async def test_a_new_ticket_is_stored_with_its_event_keyed_by_pos() -> None:
    state = MemoryState()
    ticket = example_ticket()
    assert await record(state, ticket) is Outcome.CREATED
    assert (ticket.pos_id, ticket.number) in state.tickets
    [event] = state.events
    assert event.topic == TICKETS.name
    assert event.key == str(ticket.pos_id)
    assert event.envelope.type == "ticket.finalized"
    assert event.envelope.data == ticket
    assert event.envelope.tenant.shop_id == ticket.shop_id


async def test_an_identical_replay_answers_already_exists_and_emits_nothing_more() -> None:
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    assert await record(state, ticket) is Outcome.ALREADY_EXISTS
    assert len(state.events) == 1


async def test_the_same_number_with_other_content_is_a_conflict_and_the_original_stays() -> None:
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    other = example_ticket(ticket_id=uuid.uuid4())
    with pytest.raises(TicketNumberConflictError) as caught:
        await record(state, other)
    assert caught.value.existing_ticket_id == ticket.ticket_id
    assert state.tickets[(ticket.pos_id, ticket.number)].ticket == ticket
    assert len(state.events) == 1


async def test_a_ticket_whose_lines_do_not_add_up_is_refused_and_nothing_is_written() -> None:
    state = MemoryState()
    with pytest.raises(TicketInconsistentError) as caught:
        await record(state, example_ticket(total_incl_tax=1001))
    assert "total_incl_tax" in {p.field for p in caught.value.problems}
    assert state.tickets == {}
    assert state.events == []


async def test_an_underpaid_ticket_is_refused_naming_payments() -> None:
    ticket = example_ticket()
    underpaid = (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=900),)
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), ticket.model_copy(update={"payments": underpaid, "change_given": 0}))
    assert "payments" in {p.field for p in caught.value.problems}


async def test_change_must_equal_cash_tendered_minus_cash_applied() -> None:
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), example_ticket(change_given=500))
    assert "change_given" in {p.field for p in caught.value.problems}


async def test_a_cheque_without_its_number_is_refused() -> None:
    cheque = (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=1000),)
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), example_ticket(payments=cheque, change_given=0))
    assert "payments[0].reference" in {p.field for p in caught.value.problems}


async def test_a_credit_note_must_reference_its_original_and_carry_negative_amounts() -> None:
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), example_ticket(kind=TicketKind.CREDIT_NOTE))
    fields = {p.field for p in caught.value.problems}
    assert "original_ticket_id" in fields
    assert "lines[0].quantity" in fields


async def test_cash_rounding_without_cash_is_refused() -> None:
    card = (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=1002),)
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), example_ticket(payments=card, change_given=0, cash_rounding=2))
    assert "cash_rounding" in {p.field for p in caught.value.problems}


async def test_skipped_numbers_are_gaps_until_their_tickets_arrive() -> None:
    state = MemoryState()
    uow = InMemoryUnitOfWork(state)
    await record(state, example_ticket(number=1))
    await record(state, example_ticket(ticket_id=uuid.uuid4(), number=4))
    pos = example_ticket().pos_id
    assert [n for _, n, _ in await uow.tickets.open_gaps([pos])] == [2, 3]
    await record(state, example_ticket(ticket_id=uuid.uuid4(), number=3))
    assert [n for _, n, _ in await uow.tickets.open_gaps([pos])] == [2]


async def test_a_number_far_beyond_the_last_is_refused_as_a_broken_counter() -> None:
    state = MemoryState()
    await record(state, example_ticket(number=1))
    with pytest.raises(TicketInconsistentError) as caught:
        await record(state, example_ticket(ticket_id=uuid.uuid4(), number=20_000))
    assert caught.value.problems[0].field == "number"
    assert len(state.tickets) == 1
