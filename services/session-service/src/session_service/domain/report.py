"""The Z report of a closed session, and the bank deposit slip drawn from it: plain data, computed once at the close.

The report is stored as it was computed; HTML, PDF, e-mail and the till's printer all render the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from session_service.domain.sessions import CashSession, Count, MovementKind
from session_service.domain.totals import RunningTotals


@dataclass(frozen=True, slots=True)
class Names:
    """Human names for the ids of a session, from the configuration view (ids when a name is unknown)."""

    company: str
    shop: str
    shop_address: str
    pos: str
    bank_account: str
    timezone: str
    operators: dict[UUID, str]
    categories: dict[UUID, str]


@dataclass(frozen=True, slots=True)
class MethodLine:
    method: str
    amount: int
    count: int


@dataclass(frozen=True, slots=True)
class CategoryLine:
    category_id: UUID
    name: str
    revenue_account: str
    amount: int
    weight_grams: int


@dataclass(frozen=True, slots=True)
class CountLine:
    value: int
    count: int
    amount: int


@dataclass(frozen=True, slots=True)
class ChequeLine:
    number: str
    bank: str | None
    amount: int


@dataclass(frozen=True, slots=True)
class MovementLine:
    kind: str
    amount: int
    reason: str
    operator: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ZReport:
    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    currency: str
    exponent: int
    timezone: str
    company: str
    shop: str
    shop_address: str
    pos: str
    bank_account: str
    opened_at: datetime
    closed_at: datetime
    operators: tuple[str, ...]
    closed_by: str
    first_ticket_number: int | None
    last_ticket_number: int | None
    ticket_count: int
    credit_note_count: int
    credit_note_total: int
    total_incl_tax: int
    by_method: tuple[MethodLine, ...]
    by_category: tuple[CategoryLine, ...]
    total_weight_grams: int
    cash_rounding: int
    cash_received: int
    change_given: int
    cash_added: int
    cash_withdrawn: int
    movements: tuple[MovementLine, ...]
    opening_float: int
    float_counts: tuple[CountLine, ...]
    expected_cash: int
    counted_cash: int
    variance: int
    counted: tuple[CountLine, ...]
    comment: str | None
    float_kept: int
    deposit: tuple[CountLine, ...]
    deposit_cash: int
    cheques: tuple[ChequeLine, ...]
    cheque_total: int
    card_total: int
    card_terminal_total: int | None
    card_difference: int | None

    @property
    def deposit_total(self) -> int:
        """Cash and cheques handed to the bank."""
        return self.deposit_cash + self.cheque_total


def _lines(counts: tuple[Count, ...]) -> tuple[CountLine, ...]:
    return tuple(CountLine(c.value, c.count, c.amount) for c in counts)


def z_report(session: CashSession, totals: RunningTotals | None, names: Names) -> ZReport:
    """The report of a closed session."""
    closing, request, closed_at = session.closing, session.close_request, session.closed_at
    if closing is None or request is None or closed_at is None:
        raise ValueError(f"session {session.session_id} is not closed")
    place = session.place
    by_method = (
        tuple(MethodLine(m, a, c) for m, (a, c) in sorted(totals.by_method.items(), key=lambda kv: -kv[1][0]))
        if totals
        else ()
    )
    by_category = (
        tuple(
            sorted(
                (
                    CategoryLine(k, names.categories.get(k, str(k)), v.revenue_account, v.amount, v.weight_grams)
                    for k, v in totals.by_category.items()
                ),
                key=lambda line: (-line.amount, line.name),
            )
        )
        if totals
        else ()
    )

    def who(operator_id: UUID) -> str:
        return names.operators.get(operator_id, str(operator_id))

    return ZReport(
        session_id=session.session_id,
        pos_id=place.pos_id,
        shop_id=place.shop_id,
        company_id=place.company_id,
        currency=place.currency,
        exponent=place.exponent,
        timezone=names.timezone,
        company=names.company,
        shop=names.shop,
        shop_address=names.shop_address,
        pos=names.pos,
        bank_account=names.bank_account,
        opened_at=session.opened_at,
        closed_at=closed_at,
        operators=tuple(who(o) for o in session.operator_ids),
        closed_by=who(request.closed_by),
        first_ticket_number=totals.first_number if totals else None,
        last_ticket_number=request.last_ticket_number,
        ticket_count=totals.ticket_count if totals else 0,
        credit_note_count=totals.credit_note_count if totals else 0,
        credit_note_total=totals.credit_note_total if totals else 0,
        total_incl_tax=totals.total_incl_tax if totals else 0,
        by_method=by_method,
        by_category=by_category,
        total_weight_grams=totals.weight_grams if totals else 0,
        cash_rounding=totals.cash_rounding if totals else 0,
        cash_received=totals.cash_received if totals else 0,
        change_given=totals.change_given if totals else 0,
        cash_added=session.cash_added,
        cash_withdrawn=session.cash_withdrawn,
        movements=tuple(
            MovementLine(
                "retrait" if m.kind is MovementKind.WITHDRAWAL else "apport",
                m.amount,
                m.reason,
                who(m.operator_id),
                m.at,
            )
            for m in session.movements
        ),
        opening_float=session.opening_float,
        float_counts=_lines(session.float_counts),
        expected_cash=closing.expected_cash,
        counted_cash=closing.counted_cash,
        variance=closing.variance,
        counted=_lines(request.counts),
        comment=request.comment,
        float_kept=closing.float_kept,
        deposit=_lines(closing.deposit),
        deposit_cash=closing.deposit_cash,
        cheques=tuple(ChequeLine(c.number, c.bank, c.amount) for c in closing.cheques),
        cheque_total=closing.cheque_total,
        card_total=closing.card_total,
        card_terminal_total=request.card_terminal_total,
        card_difference=closing.card_difference,
    )
