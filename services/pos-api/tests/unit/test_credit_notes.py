"""Credit notes: partial refunds add up exactly to the sale, never beyond it; the money given back must match."""

from __future__ import annotations

import uuid

import pytest

from caisse_contracts.events import PaymentMethod, TicketFinalizedV1
from caisse_contracts.money import CashRoundingRule
from caisse_contracts.snapshots import load_example
from pos_api.domain.credit_notes import RefundLine, RefundTender, credit_note_parts
from pos_api.domain.errors import TicketInconsistentError

SALE = load_example(TicketFinalizedV1).data
"""8.00 € coat (1250 g) at 20 % and 2.00 € book (180 g) at 5.5 %, paid in cash."""
COAT = SALE.lines[0]


def three_coats() -> TicketFinalizedV1:
    line = COAT.model_copy(update={"quantity": 3, "total_incl_tax": 1000, "total_excl_tax": 833, "tax": 167})
    return SALE.model_copy(update={"lines": (line,)})


def refund(amount: int, method: PaymentMethod = PaymentMethod.CASH) -> RefundTender:
    return RefundTender(uuid.uuid4(), method, amount)


def test_refunding_one_unit_at_a_time_gives_back_exactly_the_sale() -> None:
    sale = three_coats()
    notes: list[TicketFinalizedV1] = []
    given = []
    for expected in (333, 333, 334):  # 1000 × 1/3 = 333.3 → 333, twice; the last unit takes what is left
        parts = credit_note_parts(sale, notes, [RefundLine(COAT.line_id, 1)], [refund(expected)], CashRoundingRule.NONE)
        given.append(-parts.total_incl_tax)
        notes.append(sale.model_copy(update={"lines": parts.lines}))
    assert given == [333, 333, 334]
    assert sum(given) == 1000
    assert sum(-n.lines[0].tax for n in notes) == 167


def test_a_line_cannot_be_given_back_beyond_what_was_sold() -> None:
    sale = three_coats()
    with pytest.raises(TicketInconsistentError) as caught:
        credit_note_parts(sale, [], [RefundLine(COAT.line_id, 4)], [refund(1333)], CashRoundingRule.NONE)
    assert caught.value.problems[0].field == "lines[0].quantity"


def test_a_line_of_another_ticket_is_refused() -> None:
    with pytest.raises(TicketInconsistentError) as caught:
        credit_note_parts(SALE, [], [RefundLine(uuid.uuid4(), 1)], [refund(800)], CashRoundingRule.NONE)
    assert caught.value.problems[0].field == "lines[0].line_id"


def test_the_money_given_back_must_equal_the_credit_note() -> None:
    with pytest.raises(TicketInconsistentError) as caught:
        credit_note_parts(SALE, [], [RefundLine(COAT.line_id, 1)], [refund(700)], CashRoundingRule.NONE)
    assert caught.value.problems[0].field == "payments"


def test_a_cash_refund_in_xpf_is_rounded_like_a_sale() -> None:
    line = COAT.model_copy(update={"total_incl_tax": 1233, "total_excl_tax": 1011, "tax": 222, "unit_price": 1233})
    sale = SALE.model_copy(update={"currency": "XPF", "lines": (line,)})
    parts = credit_note_parts(sale, [], [RefundLine(line.line_id, 1)], [refund(1235)], CashRoundingRule.NEAREST_5)
    assert (parts.total_incl_tax, parts.cash_rounding) == (-1233, -2)
    assert sum(p.amount for p in parts.payments) == parts.total_incl_tax + parts.cash_rounding


def test_two_lines_of_the_same_article_are_given_back_each_by_its_own_id() -> None:
    # the same coat rung up twice: two lines, two ids; each gives back its own unit, once
    first = COAT
    second = COAT.model_copy(update={"line_id": uuid.uuid4()})
    sale = SALE.model_copy(update={"lines": (first, second)})
    notes: list[TicketFinalizedV1] = []
    for line in (first, second):
        parts = credit_note_parts(sale, notes, [RefundLine(line.line_id, 1)], [refund(800)], CashRoundingRule.NONE)
        assert [(n.line_id, n.quantity) for n in parts.lines] == [(line.line_id, -1)]
        notes.append(sale.model_copy(update={"lines": parts.lines}))
    with pytest.raises(TicketInconsistentError) as caught:
        credit_note_parts(sale, notes, [RefundLine(first.line_id, 1)], [refund(800)], CashRoundingRule.NONE)
    assert (caught.value.problems[0].field, caught.value.problems[0].reason) == (
        "lines[0].quantity",
        "every unit of this line was given back already",
    )
