"""Running totals: each ticket counted once, in any order, per method and per category with weights."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from caisse_contracts.events import PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from session_service.adapters.memory import InMemoryUnitOfWork, MemoryState
from session_service.domain.totals import CategoryTotal, RunningTotals, apply_ticket, apply_tickets
from session_service.service_layer.totals import count_ticket

NOW = datetime(2026, 11, 21, 14, 32, 7, tzinfo=UTC)


def ticket(number: int) -> TicketFinalizedV1:
    """The committed example (10.00 €: 8.00 € textile 1250 g + 2.00 € books 180 g, 20 € cash given)."""
    return load_example(TicketFinalizedV1).data.model_copy(update={"ticket_id": uuid.uuid4(), "number": number})


async def count(state: MemoryState, t: TicketFinalizedV1, event_id: uuid.UUID | None = None) -> bool:
    return await count_ticket(
        t,
        event_id=event_id or uuid.uuid4(),
        event_type="ticket.finalized",
        uow=lambda: InMemoryUnitOfWork(state),
        clock=lambda: NOW,
    )


def test_totals_add_up_per_method_and_category_with_weights() -> None:
    first = ticket(1)
    totals = apply_ticket(apply_ticket(RunningTotals.empty_for(first), first), ticket(2))
    assert totals.ticket_count == 2
    assert totals.total_incl_tax == 2000
    assert totals.by_method == {"cash": (2000, 2)}
    assert totals.cash_received == 4000  # two 20 € notes tendered
    assert totals.change_given == 2000
    assert totals.weight_grams == 2 * (1250 + 180)
    assert sorted(c.amount for c in totals.by_category.values()) == [400, 1600]


def test_tickets_fold_to_the_same_totals_in_any_order() -> None:
    tickets = [ticket(n) for n in (3, 1, 2)]
    forward = RunningTotals.empty_for(tickets[0])
    backward = RunningTotals.empty_for(tickets[0])
    for t in tickets:
        forward = apply_ticket(forward, t)
    for t in reversed(tickets):
        backward = apply_ticket(backward, t)
    assert forward == backward
    assert (forward.first_number, forward.last_number) == (1, 3)


async def test_a_redelivered_event_changes_nothing() -> None:
    state = MemoryState()
    t = ticket(1)
    event_id = uuid.uuid4()
    assert await count(state, t, event_id) is True
    assert await count(state, t, event_id) is False
    assert state.totals[t.session_id].ticket_count == 1


async def test_the_same_ticket_under_another_event_id_is_not_counted_twice() -> None:
    state = MemoryState()
    t = ticket(1)
    await count(state, t)
    assert await count(state, t) is False
    assert state.totals[t.session_id].ticket_count == 1


def test_a_batch_folded_at_once_gives_the_totals_of_its_tickets_counted_one_by_one() -> None:
    first = ticket(7)
    cheque = PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=1000, reference="12", bank="LBP")
    moved = first.lines[0].model_copy(update={"category_id": uuid.uuid4(), "revenue_account": "7078"})
    batch = [
        ticket(9).model_copy(update={"payments": (cheque,), "change_given": 0}),
        ticket(3).model_copy(update={"kind": TicketKind.CREDIT_NOTE, "total_incl_tax": -1000, "cash_rounding": 2}),
        ticket(8).model_copy(update={"lines": (moved,)}),
    ]
    start = apply_ticket(RunningTotals.empty_for(first), first)
    one_by_one = start
    for t in batch:
        one_by_one = apply_ticket(one_by_one, t)
    at_once = apply_tickets(start, batch)
    assert at_once == one_by_one
    assert (at_once.ticket_count, at_once.credit_note_count, at_once.credit_note_total) == (4, 1, -1000)
    assert (at_once.first_number, at_once.last_number, at_once.cash_rounding) == (3, 9, 2)
    assert at_once.by_method == {"cash": (3000, 3), "cheque": (1000, 1)}
    assert at_once.by_category[moved.category_id] == CategoryTotal(
        "7078", moved.total_incl_tax, moved.weight_grams or 0
    )
    assert apply_tickets(start, []) == start
    assert start.ticket_count == 1  # the totals folded into are left as they were
