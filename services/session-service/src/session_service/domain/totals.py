"""Running totals of a cash session, folded from its finalized tickets.

Folding is order-independent (sums and min/max), so tickets may arrive in any order across partitions
and restarts; deduplication is the inbox's job, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from uuid import UUID

from caisse_contracts.events import PaymentMethod, TicketFinalizedV1, TicketKind


@dataclass(frozen=True, slots=True)
class CategoryTotal:
    revenue_account: str
    amount: int = 0
    weight_grams: int = 0


@dataclass(frozen=True, slots=True)
class RunningTotals:
    session_id: UUID
    pos_id: UUID
    currency: str
    ticket_count: int = 0
    credit_note_count: int = 0
    credit_note_total: int = 0
    first_number: int | None = None
    last_number: int | None = None
    total_incl_tax: int = 0
    cash_received: int = 0
    change_given: int = 0
    cash_rounding: int = 0
    weight_grams: int = 0
    by_method: dict[str, tuple[int, int]] = field(default_factory=dict)
    """method → (amount, count)."""
    by_category: dict[UUID, CategoryTotal] = field(default_factory=dict)

    @classmethod
    def empty_for(cls, ticket: TicketFinalizedV1) -> RunningTotals:
        return cls(session_id=ticket.session_id, pos_id=ticket.pos_id, currency=ticket.currency)


def cheques_of(ticket: TicketFinalizedV1) -> list[tuple[UUID, str, str | None, int]]:
    """The ticket's cheques: (payment id, number, bank, amount); a cheque without a number shows as "?"."""
    return [
        (p.payment_id, p.reference or "?", p.bank, p.amount)
        for p in ticket.payments
        if p.method is PaymentMethod.CHEQUE
    ]


def apply_ticket(totals: RunningTotals, ticket: TicketFinalizedV1) -> RunningTotals:
    """The totals with one more ticket counted in."""
    if ticket.session_id != totals.session_id:
        raise ValueError(f"ticket {ticket.ticket_id} belongs to session {ticket.session_id}")
    by_method = dict(totals.by_method)
    cash_received = totals.cash_received
    for payment in ticket.payments:
        amount, count = by_method.get(payment.method.value, (0, 0))
        by_method[payment.method.value] = (amount + payment.amount, count + 1)
        if payment.method is PaymentMethod.CASH:
            cash_received += payment.tendered if payment.tendered is not None else payment.amount
    by_category = dict(totals.by_category)
    weight = 0
    for line in ticket.lines:
        current = by_category.get(line.category_id, CategoryTotal(line.revenue_account))
        line_weight = line.weight_grams or 0
        weight += line_weight
        by_category[line.category_id] = replace(
            current,
            amount=current.amount + line.total_incl_tax,
            weight_grams=current.weight_grams + line_weight,
        )
    is_credit = ticket.kind is TicketKind.CREDIT_NOTE
    return replace(
        totals,
        ticket_count=totals.ticket_count + 1,
        credit_note_count=totals.credit_note_count + (1 if is_credit else 0),
        credit_note_total=totals.credit_note_total + (ticket.total_incl_tax if is_credit else 0),
        first_number=ticket.number if totals.first_number is None else min(totals.first_number, ticket.number),
        last_number=ticket.number if totals.last_number is None else max(totals.last_number, ticket.number),
        total_incl_tax=totals.total_incl_tax + ticket.total_incl_tax,
        cash_received=cash_received,
        change_given=totals.change_given + ticket.change_given,
        cash_rounding=totals.cash_rounding + ticket.cash_rounding,
        weight_grams=totals.weight_grams + weight,
        by_method=by_method,
        by_category=by_category,
    )
