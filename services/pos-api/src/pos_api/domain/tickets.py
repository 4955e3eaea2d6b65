"""Checks that a finalized ticket is internally consistent: every total adds up, to the minor unit.

A ticket arrives computed (by the till, online or offline); the server trusts nothing and recomputes the
sums: lines → total, lines per rate → tax totals, HT + TVA = TTC, payments = total + cash rounding, and
change = cash tendered − cash applied. Signs follow the ticket's kind: a sale is positive, a credit note
negative. A ticket's content hash says whether two tickets under one number are the same sale; one that is
not is a `TicketConflict`. A number that skips others opens them as gaps (`gaps_of`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.events import PaymentMethod, TicketFinalizedV1, TicketKind
from caisse_contracts.money import CashRoundingRule, round_cash
from caisse_contracts.tills import INT4_MAX
from pos_api.domain.errors import FieldProblem, TicketInconsistentError

SALE_HASH_PREFIX = "sale1:"
"""Marks a hash of the sale's content as `content_hash` makes it; a stored hash without it (an older ticket)
is recomputed from the stored ticket before it is compared."""

_CONTENT_STARTS = ',"currency":'
"""Where the sale's content begins in a ticket's JSON: every field before it says who, where and when."""


def content_hash(ticket: TicketFinalizedV1) -> str:
    """The fingerprint of what was sold and paid: a replay of the same sale has the same one, whenever it is sent.

    It covers the ticket's id, kind and original ticket, then its currency, lines, taxes, payments, totals,
    rounding and change (the ticket's fields from `currency` on); not its number, till, session, operator or
    times, which a replay may carry differently (a finalize replayed later is computed at a later `now`).
    """
    return json_digest(ticket.model_dump_json(), ticket)


def json_digest(ticket_json: str, ticket: TicketFinalizedV1) -> str:
    """`content_hash` of a ticket whose JSON (`model_dump_json()`) is already made: the sale's part of that text.

    pydantic writes a model's fields in their declared order with no spaces, so the same content is always
    the same text; taking it from the ticket's own JSON spares a second serialization on every sale.
    """
    content = ticket_json[ticket_json.index(_CONTENT_STARTS) :]
    head = f"{ticket.ticket_id}|{ticket.kind.value}|{ticket.original_ticket_id or ''}"
    return SALE_HASH_PREFIX + hashlib.sha256((head + content).encode()).hexdigest()


def same_sale(stored_hash: str, stored: TicketFinalizedV1, attempt_hash: str) -> bool:
    """Whether an attempt carries the content of a stored ticket, whichever way the stored hash was made."""
    if not stored_hash.startswith(SALE_HASH_PREFIX):
        stored_hash = content_hash(stored)
    return stored_hash == attempt_hash


@dataclass(frozen=True, slots=True)
class TicketGaps:
    """What a ticket's number does to its till's gaps: each number it skips opens one; its own closes one."""

    opened: range
    """The numbers between the till's highest one and this ticket's: missing until their tickets come."""
    closed: int
    """The ticket's own number: a gap if a higher number came first, and no more."""


def gaps_of(number: int, last_number: int | None) -> TicketGaps:
    """The gaps a ticket numbered `number` opens and closes, the till's highest number so far being `last_number`
    (None: no ticket yet, so every number from 1 on is skipped). A number below the highest skips nothing new."""
    return TicketGaps(range((last_number or 0) + 1, number), number)


def check_ticket(ticket: TicketFinalizedV1) -> None:
    """Raise `TicketInconsistentError` listing every problem found, or return when the ticket holds."""
    problems: list[FieldProblem] = []
    sign = 1 if ticket.kind is TicketKind.SALE else -1

    if not 1 <= ticket.number <= INT4_MAX:
        problems.append(FieldProblem("number", f"must be between 1 and {INT4_MAX}"))
    if ticket.kind is TicketKind.CREDIT_NOTE and ticket.original_ticket_id is None:
        problems.append(FieldProblem("original_ticket_id", "a credit note must reference the ticket it corrects"))

    by_rate: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    first_of_id: dict[UUID, int] = {}
    for i, line in enumerate(ticket.lines):
        where = f"lines[{i}]"
        if (first := first_of_id.setdefault(line.line_id, i)) != i:
            problems.append(FieldProblem(f"{where}.line_id", f"is the id of lines[{first}] too: each line has its own"))
        if line.quantity == 0 or (line.quantity > 0) != (sign > 0):
            problems.append(FieldProblem(f"{where}.quantity", f"must be {'positive' if sign > 0 else 'negative'}"))
        if line.unit_price < 0:
            problems.append(FieldProblem(f"{where}.unit_price", "must not be negative"))
        if line.discount < 0:
            problems.append(FieldProblem(f"{where}.discount", "must not be negative"))
        if line.weight_grams is not None and line.weight_grams * sign < 0:
            problems.append(
                FieldProblem(f"{where}.weight_grams", f"must not be {'negative' if sign > 0 else 'positive'}")
            )
        if not 0 <= line.tax_rate_bp <= 10_000:
            problems.append(FieldProblem(f"{where}.tax_rate_bp", "must be between 0 and 10000 basis points"))
        if line.total_excl_tax + line.tax != line.total_incl_tax:
            problems.append(FieldProblem(f"{where}.total_incl_tax", "is not total_excl_tax + tax"))
        sums = by_rate[line.tax_rate_bp]
        sums[0] += line.total_excl_tax
        sums[1] += line.tax
        sums[2] += line.total_incl_tax

    declared_rates = {t.rate_bp: t for t in ticket.taxes}
    if set(declared_rates) != set(by_rate):
        problems.append(FieldProblem("taxes", "must have exactly one total per tax rate of the lines"))
    for rate, (excl, tax, incl) in by_rate.items():
        declared = declared_rates.get(rate)
        if declared and (declared.total_excl_tax, declared.tax, declared.total_incl_tax) != (excl, tax, incl):
            problems.append(FieldProblem(f"taxes[{rate}]", "does not equal the sum of its lines"))

    lines_total = sum(line.total_incl_tax for line in ticket.lines)
    if lines_total != ticket.total_incl_tax:
        problems.append(FieldProblem("total_incl_tax", f"is {ticket.total_incl_tax}, lines add up to {lines_total}"))
    if ticket.total_excl_tax + ticket.total_tax != ticket.total_incl_tax:
        problems.append(FieldProblem("total_tax", "total_excl_tax + total_tax must equal total_incl_tax"))
    if sum(line.total_excl_tax for line in ticket.lines) != ticket.total_excl_tax:
        problems.append(FieldProblem("total_excl_tax", "does not equal the sum of the lines"))

    has_cash = any(p.method is PaymentMethod.CASH for p in ticket.payments)
    if ticket.cash_rounding and not has_cash and not _rest_rounded_away(ticket.cash_rounding, sign):
        problems.append(
            FieldProblem(
                "cash_rounding",
                "only cash is rounded: without a cash payment, only a rest that rounds to no coin at all can be",
            )
        )
    paid = sum(p.amount for p in ticket.payments)
    due = ticket.total_incl_tax + ticket.cash_rounding
    if paid != due:
        problems.append(FieldProblem("payments", f"add up to {paid}, the ticket is {due} after cash rounding"))
    change = 0
    for i, payment in enumerate(ticket.payments):
        if payment.amount == 0 or (payment.amount > 0) != (sign > 0):
            problems.append(FieldProblem(f"payments[{i}].amount", f"must be {'positive' if sign > 0 else 'negative'}"))
        if payment.tendered is not None:
            if payment.method is not PaymentMethod.CASH:
                problems.append(FieldProblem(f"payments[{i}].tendered", "only cash is tendered"))
            elif abs(payment.tendered) < abs(payment.amount):
                problems.append(FieldProblem(f"payments[{i}].tendered", "is less than the amount applied"))
            else:
                change += payment.tendered - payment.amount
        if payment.method is PaymentMethod.CHEQUE and not payment.reference:
            problems.append(FieldProblem(f"payments[{i}].reference", "a cheque needs its number"))
    if change != ticket.change_given:
        problems.append(FieldProblem("change_given", f"is {ticket.change_given}, cash tendered gives {change}"))

    if problems:
        raise TicketInconsistentError(problems)


def _rest_rounded_away(cash_rounding: int, sign: int) -> bool:
    """A rest left for cash that rounds to nothing (2 XPF after a card): booked as rounding, no cash changes hands."""
    rest = -cash_rounding
    return rest * sign > 0 and round_cash(rest, CashRoundingRule.NEAREST_5).rounded == 0


MAX_NUMBER_JUMP = 10_000
"""More numbers skipped at once than a till could have sold offline is a broken counter, not a gap."""


def check_number_jump(last_number: int | None, number: int) -> None:
    """A ticket number may leave gaps behind the till's last, never more than `MAX_NUMBER_JUMP` of them."""
    last = last_number or 0
    if number > last + MAX_NUMBER_JUMP:
        raise TicketInconsistentError(
            [FieldProblem("number", f"jumps from {last} to {number}: more than {MAX_NUMBER_JUMP} missing tickets")]
        )
