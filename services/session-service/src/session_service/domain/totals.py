"""Running totals of a cash session, folded from its finalized tickets.

Folding is order-independent (sums and min/max), so tickets may arrive in any order across partitions
and restarts; deduplication is the inbox's job, not this module's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
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
    return apply_tickets(totals, (ticket,))


def apply_tickets(totals: RunningTotals, tickets: Iterable[TicketFinalizedV1]) -> RunningTotals:
    """The totals with the tickets counted in, built once: a batch of a session's tickets is folded into plain
    running sums rather than into a new frozen totals (and category totals) per ticket."""
    ticket_count, credit_note_count, credit_note_total = 0, 0, 0
    total_incl_tax, cash_received, change_given, cash_rounding, weight_grams = 0, 0, 0, 0, 0
    first_number, last_number = totals.first_number, totals.last_number
    by_method = {method: list(sums) for method, sums in totals.by_method.items()}  # [amount, count]
    by_category: dict[UUID, list[Any]] = {  # [revenue account, amount added, weight added]
        category_id: [current.revenue_account, 0, 0] for category_id, current in totals.by_category.items()
    }
    for ticket in tickets:
        if ticket.session_id != totals.session_id:
            raise ValueError(f"ticket {ticket.ticket_id} belongs to session {ticket.session_id}")
        for payment in ticket.payments:
            method = payment.method.value
            sums = by_method.get(method)
            if sums is None:
                by_method[method] = [payment.amount, 1]
            else:
                sums[0] += payment.amount
                sums[1] += 1
            if payment.method is PaymentMethod.CASH:
                cash_received += payment.tendered if payment.tendered is not None else payment.amount
        for line in ticket.lines:
            line_weight = line.weight_grams or 0
            weight_grams += line_weight
            category = by_category.get(line.category_id)
            if category is None:
                by_category[line.category_id] = [line.revenue_account, line.total_incl_tax, line_weight]
            else:
                category[1] += line.total_incl_tax
                category[2] += line_weight
        ticket_count += 1
        if ticket.kind is TicketKind.CREDIT_NOTE:
            credit_note_count += 1
            credit_note_total += ticket.total_incl_tax
        first_number = ticket.number if first_number is None else min(first_number, ticket.number)
        last_number = ticket.number if last_number is None else max(last_number, ticket.number)
        total_incl_tax += ticket.total_incl_tax
        change_given += ticket.change_given
        cash_rounding += ticket.cash_rounding
    return RunningTotals(
        session_id=totals.session_id,
        pos_id=totals.pos_id,
        currency=totals.currency,
        ticket_count=totals.ticket_count + ticket_count,
        credit_note_count=totals.credit_note_count + credit_note_count,
        credit_note_total=totals.credit_note_total + credit_note_total,
        first_number=first_number,
        last_number=last_number,
        total_incl_tax=totals.total_incl_tax + total_incl_tax,
        cash_received=totals.cash_received + cash_received,
        change_given=totals.change_given + change_given,
        cash_rounding=totals.cash_rounding + cash_rounding,
        weight_grams=totals.weight_grams + weight_grams,
        by_method={method: (amount, count) for method, (amount, count) in by_method.items()},
        by_category=_categories(totals.by_category, by_category),
    )


def _categories(before: dict[UUID, CategoryTotal], added: dict[UUID, list[Any]]) -> dict[UUID, CategoryTotal]:
    """The category totals after a fold: the ones the fold did not touch are kept as they were."""
    merged = dict(before)
    for category_id, (revenue_account, amount, weight) in added.items():
        current = before.get(category_id)
        if current is None:
            merged[category_id] = CategoryTotal(revenue_account, amount, weight)
        elif amount or weight:
            merged[category_id] = CategoryTotal(
                current.revenue_account, current.amount + amount, current.weight_grams + weight
            )
    return merged


def paid_by_method(ticket: TicketFinalizedV1) -> dict[str, int]:
    """What the ticket's payments bring per method, as the totals count them."""
    paid: dict[str, int] = {}
    for payment in ticket.payments:
        paid[payment.method.value] = paid.get(payment.method.value, 0) + payment.amount
    return paid


@dataclass(frozen=True, slots=True)
class LateTicket:
    """A ticket that reached its session after the close: not counted (the Z report and the variance never saw
    it), kept aside for ops and the treasurer to settle by hand."""

    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    number: int
    kind: str
    total_incl_tax: int
    currency: str
    by_method: dict[str, int]
    """What was paid, per payment method (minor units, net of change for cash)."""
    finalized_at: datetime
    event_id: UUID
    received_at: datetime

    @classmethod
    def of(cls, ticket: TicketFinalizedV1, *, event_id: UUID, received_at: datetime) -> LateTicket:
        """The ticket kept aside as it arrived, `received_at` after its session's close."""
        return cls(
            ticket_id=ticket.ticket_id,
            session_id=ticket.session_id,
            pos_id=ticket.pos_id,
            shop_id=ticket.shop_id,
            company_id=ticket.company_id,
            number=ticket.number,
            kind=ticket.kind.value,
            total_incl_tax=ticket.total_incl_tax,
            currency=ticket.currency,
            by_method=paid_by_method(ticket),
            finalized_at=ticket.finalized_at,
            event_id=event_id,
            received_at=received_at,
        )
