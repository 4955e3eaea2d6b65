"""Credit notes, shared by pos-api and the till (hw-proxy): a new ticket that cancels all or part of a sale, line by
line, with the money given back.

A finalized ticket never changes. Giving back `q` of a line's `Q` units gives back `q/Q` of each of its
amounts (half up), except that the last units of a line give back exactly what is left of it, so a sale
refunded in several credit notes is cancelled to the minor unit. Amounts of a credit note are negative.

One code for both sides, as the pricing (`caisse_contracts.pricing`): a credit note made on a till offline is the
very ticket pos-api would have made online. Pure functions over the contracts' models; a credit note that cannot be
made raises `CreditNoteRefusedError` naming every field, which each service answers as its own 4xx.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from caisse_contracts.basket import div_half_up
from caisse_contracts.config import Company, Territory
from caisse_contracts.events import PaymentMethod, PaymentV1, TaxTotalV1, TicketFinalizedV1, TicketKind, TicketLineV1
from caisse_contracts.money import CashRoundingRule, round_cash
from caisse_contracts.pricing import PricingProblem, PricingRefusedError, category_weights
from caisse_contracts.tills import CreditNoteIn


class CreditNoteRefusedError(PricingRefusedError):
    """A credit note that cannot be made (a line not of the sale, more given back than sold, the money not matching),
    with every problem found."""


@dataclass(frozen=True, slots=True)
class RefundLine:
    """Units of a line of the original sale given back."""

    line_id: UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class RefundTender:
    """How some of the money goes back."""

    payment_id: UUID
    method: PaymentMethod
    amount: int
    """Money given back, positive (the credit note stores it negative)."""
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class CreditNoteParts:
    """What a credit note is made of: its negative lines, taxes and payments, and its totals."""

    lines: tuple[TicketLineV1, ...]
    taxes: tuple[TaxTotalV1, ...]
    payments: tuple[PaymentV1, ...]
    total_excl_tax: int
    total_tax: int
    total_incl_tax: int
    cash_rounding: int


def _share(amount: int, part: int, whole: int, left: int, last: bool) -> int:
    return left if last else div_half_up(amount * part, whole)


def credit_note_parts(
    original: TicketFinalizedV1,
    earlier: Sequence[TicketFinalizedV1],
    refunds: Sequence[RefundLine],
    tenders: Sequence[RefundTender],
    rounding: CashRoundingRule,
) -> CreditNoteParts:
    """The lines, taxes and refund payments of a credit note on `original`, given its `earlier` credit notes."""
    if original.kind is not TicketKind.SALE:
        raise CreditNoteRefusedError([PricingProblem("ticket_id", "only a sale can be credited")])
    refunded_qty: dict[UUID, int] = defaultdict(int)
    refunded: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for note in earlier:
        for line in note.lines:
            refunded_qty[line.line_id] += -line.quantity
            sums = refunded[line.line_id]
            sums[0] += -line.total_incl_tax
            sums[1] += -line.total_excl_tax
            sums[2] += -line.tax
            sums[3] += line.discount
    by_id = {line.line_id: line for line in original.lines}
    problems: list[PricingProblem] = []
    lines: list[TicketLineV1] = []
    for i, refund in enumerate(refunds):
        found = by_id.get(refund.line_id)
        if found is None:
            problems.append(PricingProblem(f"lines[{i}].line_id", "is not a line of the original ticket"))
            continue
        line = found
        left_qty = line.quantity - refunded_qty[line.line_id]
        if left_qty == 0:
            problems.append(PricingProblem(f"lines[{i}].quantity", "every unit of this line was given back already"))
            continue
        if refund.quantity < 1 or refund.quantity > left_qty:
            problems.append(PricingProblem(f"lines[{i}].quantity", f"between 1 and {left_qty} can still be given back"))
            continue
        done = refunded[line.line_id]
        last = refund.quantity == left_qty
        incl = _share(line.total_incl_tax, refund.quantity, line.quantity, line.total_incl_tax - done[0], last)
        tax = _share(line.tax, refund.quantity, line.quantity, line.tax - done[2], last)
        discount = _share(line.discount, refund.quantity, line.quantity, line.discount - done[3], last)
        weight = None if line.weight_grams is None else div_half_up(line.weight_grams * refund.quantity, line.quantity)
        lines.append(
            line.model_copy(
                update={
                    "quantity": -refund.quantity,
                    "total_incl_tax": -incl,
                    "tax": -tax,
                    "total_excl_tax": -(incl - tax),
                    "discount": discount,
                    "weight_grams": -weight if weight is not None else None,
                }
            )
        )
    if len({r.line_id for r in refunds}) != len(refunds):
        problems.append(PricingProblem("lines", "a line is named twice"))
    if problems:
        raise CreditNoteRefusedError(problems)
    if not lines:
        raise CreditNoteRefusedError([PricingProblem("lines", "a credit note gives back at least one line")])
    rates: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        sums = rates[line.tax_rate_bp]
        sums[0] += line.total_excl_tax
        sums[1] += line.tax
        sums[2] += line.total_incl_tax
    taxes = tuple(
        TaxTotalV1(rate_bp=r, total_excl_tax=e, tax=t, total_incl_tax=i) for r, (e, t, i) in sorted(rates.items())
    )
    total_incl = sum(line.total_incl_tax for line in lines)
    non_cash = sum(t.amount for t in tenders if t.method is not PaymentMethod.CASH)
    has_cash = any(t.method is PaymentMethod.CASH for t in tenders)
    cash_rounding = 0
    if has_cash and rounding is not CashRoundingRule.NONE:
        cash_rounding = round_cash(total_incl + non_cash, rounding).adjustment
    given_back = sum(t.amount for t in tenders)
    if given_back != -(total_incl + cash_rounding):
        problems.append(
            PricingProblem("payments", f"give back {given_back}, the credit note is {-(total_incl + cash_rounding)}")
        )
        raise CreditNoteRefusedError(problems)
    payments = tuple(
        PaymentV1(payment_id=t.payment_id, method=t.method, amount=-t.amount, reference=t.reference) for t in tenders
    )
    return CreditNoteParts(
        lines=tuple(lines),
        taxes=taxes,
        payments=payments,
        total_excl_tax=sum(line.total_excl_tax for line in lines),
        total_tax=sum(line.tax for line in lines),
        total_incl_tax=total_incl,
        cash_rounding=cash_rounding,
    )


def credit_note_ticket(
    sale: TicketFinalizedV1,
    earlier: Sequence[TicketFinalizedV1],
    request: CreditNoteIn,
    *,
    pos_id: UUID,
    session_id: UUID,
    now: datetime,
    territory: Territory,
    company: Company,
) -> TicketFinalizedV1:
    """The credit-note ticket (kind `credit_note`, `original_ticket_id` the sale, negative quantities and amounts) of
    `request` on `sale`, given its `earlier` credit notes, numbered `request.number` by the till `pos_id`."""
    parts = credit_note_parts(
        sale,
        earlier,
        [RefundLine(line.line_id, line.quantity) for line in request.lines],
        [RefundTender(p.payment_id, p.method, p.amount, p.reference) for p in request.payments],
        territory.cash_rounding,
    )
    return credit_note_of(
        sale,
        parts,
        CreditNoteIdentity(request.credit_note_id, request.number, pos_id, session_id, request.operator_id),
        now=now,
        territory=territory,
        company=company,
    )


@dataclass(frozen=True, slots=True)
class CreditNoteIdentity:
    """Who makes a credit note, and under which id and number: what its ticket holds besides its sale and parts."""

    credit_note_id: UUID
    number: int
    pos_id: UUID
    session_id: UUID
    operator_id: UUID | None


def credit_note_of(
    sale: TicketFinalizedV1,
    parts: CreditNoteParts,
    who: CreditNoteIdentity,
    *,
    now: datetime,
    territory: Territory,
    company: Company,
) -> TicketFinalizedV1:
    """The credit-note ticket made of `parts` of `sale`: the sale's place and currency, the credit note's own id,
    number, till, session, operator and time, its negative lines, taxes and payments."""
    ticket = sale.model_copy(
        update={
            "ticket_id": who.credit_note_id,
            "number": who.number,
            "kind": TicketKind.CREDIT_NOTE,
            "original_ticket_id": sale.ticket_id,
            "pos_id": who.pos_id,
            "session_id": who.session_id,
            "operator_id": who.operator_id,
            "finalized_at": now,
            "local_date": now.astimezone(ZoneInfo(territory.timezone)).date(),
            "lines": parts.lines,
            "taxes": parts.taxes,
            "payments": parts.payments,
            "total_excl_tax": parts.total_excl_tax,
            "total_tax": parts.total_tax,
            "total_incl_tax": parts.total_incl_tax,
            "cash_rounding": parts.cash_rounding,
            "rounding_account": company.accounts.cash_rounding if parts.cash_rounding else None,
            "change_given": 0,
            "category_weights": category_weights(parts.lines),
            "pickup_number": None,
        }
    )
    return TicketFinalizedV1.model_validate(ticket.model_dump())
