"""Recording a finalized ticket: the sums are checked, a number is used once, a replay is safe."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime

import pytest

from caisse_contracts.events import PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import TICKETS
from pos_api.adapters.memory import InMemoryTickets, InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import InvalidReferenceError, TicketInconsistentError, TicketNumberConflictError
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


async def test_a_number_synced_again_with_two_units_instead_of_one_is_a_conflict_kept_aside_for_ops() -> None:
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    coat = ticket.lines[0]
    doubled = coat.model_copy(update={"quantity": 2, "total_incl_tax": 1600, "total_excl_tax": 1333, "tax": 267})
    taxes = tuple(
        t.model_copy(update={"total_incl_tax": 1600, "total_excl_tax": 1333, "tax": 267}) if t.rate_bp == 2000 else t
        for t in ticket.taxes
    )
    payment = ticket.payments[0].model_copy(update={"amount": 1800, "tendered": 2000})
    other = ticket.model_copy(
        update={
            "lines": (doubled, *ticket.lines[1:]),
            "taxes": taxes,
            "payments": (payment,),
            "total_incl_tax": 1800,
            "total_excl_tax": 1523,
            "total_tax": 277,
            "change_given": 200,
        }
    )
    with pytest.raises(TicketNumberConflictError):
        await record(state, other)
    [kept] = state.conflicts.values()
    assert (kept.source, kept.number, kept.existing_ticket_id) == ("ticket", ticket.number, ticket.ticket_id)
    assert kept.attempt["lines"][0]["quantity"] == 2
    assert state.tickets[(ticket.pos_id, ticket.number)].ticket == ticket
    assert len(state.events) == 1


async def test_the_same_sale_sent_again_later_by_another_operator_is_the_original() -> None:
    """Lines, payments and totals make the sale; when it was sent and who sent it do not."""
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    later = ticket.model_copy(update={"finalized_at": NOW, "operator_id": uuid.uuid4(), "session_id": uuid.uuid4()})
    assert await record(state, later) is Outcome.ALREADY_EXISTS
    assert not state.conflicts


async def test_a_ticket_stored_with_a_hash_of_its_whole_json_is_compared_by_its_sale() -> None:
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    key = (ticket.pos_id, ticket.number)
    older = hashlib.sha256(ticket.model_dump_json().encode()).hexdigest()  # how tickets were hashed before
    state.tickets[key] = dataclasses.replace(state.tickets[key], content_hash=older)
    assert await record(state, ticket) is Outcome.ALREADY_EXISTS
    with pytest.raises(TicketNumberConflictError):
        await record(state, example_ticket(ticket_id=uuid.uuid4()))


async def test_a_new_ticket_has_its_operator_checked_and_a_replay_answers_whatever_became_of_them() -> None:
    state = MemoryState()
    ticket = example_ticket()
    allowed = {ticket.operator_id}

    async def check_operator(operator_id: uuid.UUID | None) -> None:
        if operator_id not in allowed:
            raise InvalidReferenceError("operator_id", f"unknown operator {operator_id}")

    async def sync(sent: TicketFinalizedV1) -> Outcome:
        recorded = await record_ticket(
            sent,
            uow=lambda: InMemoryUnitOfWork(state),
            clock=lambda: NOW,
            new_id=uuid.uuid4,
            check_operator=check_operator,
        )
        return recorded.outcome

    assert await sync(ticket) is Outcome.CREATED
    allowed.clear()  # the cashier left since
    assert await sync(ticket) is Outcome.ALREADY_EXISTS
    with pytest.raises(InvalidReferenceError) as caught:
        await sync(example_ticket(ticket_id=uuid.uuid4(), number=2))
    assert caught.value.field == "operator_id"
    assert len(state.tickets) == 1


async def test_a_ticket_under_the_id_of_another_number_is_refused_naming_ticket_id_not_a_500() -> None:
    state = MemoryState()
    ticket = example_ticket()
    await record(state, ticket)
    with pytest.raises(TicketInconsistentError) as caught:
        await record(state, example_ticket(number=ticket.number + 1))
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("ticket_id", f"is already the id of ticket number {ticket.number} of this till: each ticket has its own")
    ]
    assert len(state.tickets) == 1


async def test_two_lines_with_one_id_are_refused_naming_the_second() -> None:
    ticket = example_ticket()
    twice = ticket.lines[1].model_copy(update={"line_id": ticket.lines[0].line_id})
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), ticket.model_copy(update={"lines": (ticket.lines[0], twice)}))
    assert [p.field for p in caught.value.problems] == ["lines[1].line_id"]


async def test_a_rest_that_rounds_to_no_coin_is_rounding_without_a_cash_payment() -> None:
    # 1000 due, 998 by card: the 2 left end in 2, which rounds by −2 to no coin at all (PRODUCT.md §4), so
    # they are booked as rounding and no cash changes hands; 5 left would be a coin, not a rounding
    def by_card(amount: int) -> tuple[PaymentV1, ...]:
        return (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=amount, reference="A"),)

    rounded = example_ticket(payments=by_card(998), change_given=0, cash_rounding=-2)
    assert await record(MemoryState(), rounded) is Outcome.CREATED
    with pytest.raises(TicketInconsistentError) as caught:
        await record(MemoryState(), example_ticket(payments=by_card(995), change_given=0, cash_rounding=-5))
    assert "cash_rounding" in {p.field for p in caught.value.problems}


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


async def test_the_next_number_read_before_a_higher_one_was_stored_still_closes_its_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A till's sale 5 forwarded online while its sync sends 2: the sync read the highest number (1) before 5 was
    stored, and 5 opened 2, 3 and 4 as gaps; 2, the next number by that read, must close its own."""
    state = MemoryState()
    uow = InMemoryUnitOfWork(state)
    pos = example_ticket().pos_id
    await record(state, example_ticket(number=1))
    await record(state, example_ticket(ticket_id=uuid.uuid4(), number=5))

    async def read_before_5(self: object, pos_id: uuid.UUID) -> int | None:
        return 1

    monkeypatch.setattr(InMemoryTickets, "last_number", read_before_5)
    await record(state, example_ticket(ticket_id=uuid.uuid4(), number=2))
    assert [n for _, n, _ in await uow.tickets.open_gaps([pos])] == [3, 4]


async def test_a_number_far_beyond_the_last_is_refused_as_a_broken_counter() -> None:
    state = MemoryState()
    await record(state, example_ticket(number=1))
    with pytest.raises(TicketInconsistentError) as caught:
        await record(state, example_ticket(ticket_id=uuid.uuid4(), number=20_000))
    assert caught.value.problems[0].field == "number"
    assert len(state.tickets) == 1


async def test_a_ticket_numbered_beyond_what_is_stored_is_refused_naming_number_and_nothing_is_kept() -> None:
    state = MemoryState()
    with pytest.raises(TicketInconsistentError) as caught:
        await record(state, example_ticket(number=2_147_483_648))  # one past PostgreSQL's integer
    # checked before anything is read or written: PostgreSQL would refuse such a number as a parameter
    assert [(p.field, p.reason) for p in caught.value.problems] == [("number", "must be between 1 and 2147483647")]
    assert state.tickets == {}
