"""Basket math: worked examples from PRODUCT.md §3–§5, properties that hold for every basket, and refusals.

Expected values are worked out by hand in the comments (r in basis points, half up to the minor unit):
prices tax included, VAT = TTC × r / (10000 + r); prices tax excluded, VAT = HT × r / 10000.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from caisse_contracts.basket import (
    BasketError,
    BasketIn,
    BasketLineIn,
    CashOverpaymentError,
    ComputedBasket,
    Discount,
    DiscountTooLargeError,
    MissingPaymentReferenceError,
    MissingWeightError,
    NonCashOverpaymentError,
    PaymentIn,
    PaymentRefusedError,
    TenderedBelowAmountError,
    TenderedOnNonCashError,
    VoucherIn,
    compute_basket,
    div_half_up,
    spread,
)
from caisse_contracts.events import LineKind, PaymentMethod, TicketFinalizedV1
from caisse_contracts.money import CashRoundingRule, round_cash, to_minor

# PRODUCT.md §4: "XPF rounds cash amounts to the nearest 5 (last digit 0→0, 1→−1, 2→−2, 3→+2, 4→+1,
# 5→0, 6→−1, 7→−2, 8→+2, 9→+1)".
XPF_TABLE = {0: 0, 1: -1, 2: -2, 3: 2, 4: 1, 5: 0, 6: -1, 7: -2, 8: 2, 9: 1}

RATES = [0, 210, 550, 1000, 2000, 300, 600, 1100, 2200]
"""French VAT (2.1 %, 5.5 %, 10 %, 20 %) and New Caledonian TGC (3 %, 6 %, 11 %, 22 %) rates, and none."""


def item(price: int, rate_bp: int = 2000, *, quantity: int = 1, **extra: Any) -> BasketLineIn:
    fields: dict[str, Any] = {
        "line_id": uuid.uuid4(),
        "kind": LineKind.CATEGORY_ITEM,
        "label": "Article",
        "category_id": uuid.uuid4(),
        "category_label": "Textile",
        "revenue_account": "7071",
        "quantity": quantity,
        "unit_price": price,
        "tax_rate_bp": rate_bp,
        **extra,
    }
    return BasketLineIn.model_validate(fields)


def percent(bp: int) -> Discount:
    return Discount(kind="percent", value_bp=bp)


def amount_off(value: int) -> Discount:
    return Discount(kind="amount", value=value)


def cash(amount: int, tendered: int | None = None) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=amount, tendered=tendered)


def card(amount: int) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=amount, reference="AUTH42")


def cheque(amount: int, number: str | None = "0012345") -> PaymentIn:
    return PaymentIn(
        payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=amount, reference=number, bank="Banque"
    )


def basket(currency: str, *lines: BasketLineIn, **extra: Any) -> BasketIn:
    rounding = CashRoundingRule.NONE if currency == "EUR" else CashRoundingRule.NEAREST_5
    return BasketIn.model_validate({"currency": currency, "cash_rounding": rounding, "lines": lines, **extra})


def eur(*lines: BasketLineIn, **extra: Any) -> ComputedBasket:
    return compute_basket(basket("EUR", *lines, **extra))


def xpf(*lines: BasketLineIn, **extra: Any) -> ComputedBasket:
    return compute_basket(basket("XPF", *lines, **extra))


# Worked examples: taxes


def test_a_coat_at_8_euros_with_20_percent_vat_included_is_667_ht_and_133_vat() -> None:
    # 800 × 2000 / 12000 = 133.33 → 133; HT = 800 − 133 = 667
    computed = eur(item(800))
    [tax] = computed.taxes
    assert (tax.rate_bp, tax.total_excl_tax, tax.tax, tax.total_incl_tax) == (2000, 667, 133, 800)
    assert (computed.total_excl_tax, computed.total_tax, computed.total_incl_tax) == (667, 133, 800)


def test_a_book_at_2_euros_with_5_5_percent_vat_included_is_190_ht_and_10_vat() -> None:
    # 200 × 550 / 10550 = 10.43 → 10; HT = 200 − 10 = 190
    [tax] = eur(item(200, 550)).taxes
    assert (tax.total_excl_tax, tax.tax, tax.total_incl_tax) == (190, 10, 200)


def test_prices_without_tax_add_the_vat_on_top() -> None:
    # HT 1000 at 20 %: 1000 × 2000 / 10000 = 200 → TTC 1200
    computed = eur(item(1000), prices_include_tax=False)
    assert (computed.total_excl_tax, computed.total_tax, computed.total_incl_tax) == (1000, 200, 1200)
    assert (computed.lines[0].total_excl_tax, computed.lines[0].tax, computed.lines[0].total_incl_tax) == (
        1000,
        200,
        1200,
    )


def test_vat_is_rounded_once_per_rate_and_spread_over_its_lines() -> None:
    # Three lines at 1.00 € and 20 %: per rate 300 × 2000 / 12000 = 50 (line by line it would be 3 × 17 = 51).
    # 50 over three equal lines: 16.67 each → 16 + 16 + 16 and the 2 units left go to the first two lines.
    computed = eur(item(100), item(100), item(100))
    assert computed.total_tax == 50
    assert [line.tax for line in computed.lines] == [17, 17, 16]
    assert [line.total_excl_tax for line in computed.lines] == [83, 83, 84]


def test_each_rate_has_its_own_totals_sorted_by_rate() -> None:
    # 20 %: 800 → VAT 133, HT 667; 5.5 %: 200 → VAT 10, HT 190; total HT 857, VAT 143, TTC 1000
    computed = eur(item(800, 2000), item(200, 550))
    assert [(t.rate_bp, t.total_excl_tax, t.tax, t.total_incl_tax) for t in computed.taxes] == [
        (550, 190, 10, 200),
        (2000, 667, 133, 800),
    ]
    assert (computed.total_excl_tax, computed.total_tax, computed.total_incl_tax) == (857, 143, 1000)


def test_xpf_at_22_percent_tgc_included() -> None:
    # 1231 × 2200 / 12200 = 221.98 → 222; HT = 1009
    [tax] = xpf(item(1231, 2200)).taxes
    assert (tax.total_excl_tax, tax.tax) == (1009, 222)


# Worked examples: prices per kilogram


def test_a_price_per_kilogram_is_rounded_half_up_on_the_weight() -> None:
    # 3.50 €/kg × 1.250 kg = 437.5 → 438; VAT 438 × 2000 / 12000 = 73 → HT 365
    computed = eur(item(350, pricing="per_kg", weight_grams=1250))
    assert (computed.lines[0].gross, computed.total_incl_tax) == (438, 438)
    assert (computed.total_excl_tax, computed.total_tax) == (365, 73)


def test_a_price_per_kilogram_is_multiplied_by_the_quantity_too() -> None:
    # 3.50 €/kg × 1.250 kg × 2 = 875
    assert eur(item(350, quantity=2, pricing="per_kg", weight_grams=1250)).total_incl_tax == 875


def test_a_unit_priced_item_may_carry_its_weight_for_tonnage_without_changing_its_price() -> None:
    computed = eur(item(500, quantity=2, weight_grams=1200))
    assert computed.total_incl_tax == 1000
    assert computed.to_ticket_lines()[0].weight_grams == 1200


# Worked examples: discounts


def test_discounts_apply_in_order_line_then_member_then_staff_then_basket_then_vouchers() -> None:
    # 1000 − 10 % = 900; member 5 %: −45 → 855; staff 10 %: 85.5 → −86 → 769; basket −69 → 700;
    # voucher −100 → 600. The line lost 400 in all, 100 of it to the voucher.
    computed = eur(
        item(1000, discount=percent(1000)),
        member_discount_bp=500,
        employee_discount_bp=1000,
        basket_discount=amount_off(69),
        vouchers=[VoucherIn(code="NOEL", amount=100)],
    )
    assert computed.total_incl_tax == 600
    assert (computed.lines[0].gross, computed.lines[0].discount) == (1000, 400)
    assert (computed.discounts, computed.vouchers) == (400, 100)


def test_an_amount_discount_on_a_line_is_off_the_whole_line_not_each_unit() -> None:
    # 3 × 500 = 1500 − 200 = 1300
    computed = eur(item(500, quantity=3, discount=amount_off(200)))
    assert (computed.lines[0].gross, computed.lines[0].discount, computed.total_incl_tax) == (1500, 200, 1300)


def test_a_basket_discount_is_spread_over_the_lines_to_the_unit() -> None:
    # 100 over three lines of 100: 33.33 each → 33 + 33 + 33, the unit left to the first line (equal remainders)
    computed = eur(item(100), item(100), item(100), basket_discount=amount_off(100))
    assert [line.discount for line in computed.lines] == [34, 33, 33]
    assert [line.total_incl_tax for line in computed.lines] == [66, 67, 67]


def test_a_basket_percentage_is_of_the_subtotal_and_each_rate_gets_its_share() -> None:
    # 10 % of 1000 = 100, spread 80 / 20 → 720 at 20 % and 180 at 5.5 %
    # 720 × 2000 / 12000 = 120 → HT 600; 180 × 550 / 10550 = 9.38 → 9 → HT 171
    computed = eur(item(800, 2000), item(200, 550), basket_discount=percent(1000))
    assert [(t.rate_bp, t.total_excl_tax, t.tax, t.total_incl_tax) for t in computed.taxes] == [
        (550, 171, 9, 180),
        (2000, 600, 120, 720),
    ]
    assert (computed.total_incl_tax, computed.discounts) == (900, 100)


def test_with_prices_without_tax_a_discount_is_without_tax_too() -> None:
    # HT 1000 − 10 % = 900; VAT 180; TTC 1080
    computed = eur(item(1000, discount=percent(1000)), prices_include_tax=False)
    assert (computed.lines[0].discount, computed.total_excl_tax, computed.total_tax, computed.total_incl_tax) == (
        100,
        900,
        180,
        1080,
    )


def test_a_full_discount_leaves_a_free_line() -> None:
    computed = eur(item(500, discount=percent(10_000)))
    assert (computed.total_incl_tax, computed.total_tax, computed.lines[0].discount) == (0, 0, 500)


# Worked examples: payments and cash rounding


def test_xpf_1231_paid_in_cash_is_rounded_to_1230_fully_paid_with_a_rounding_of_minus_1() -> None:
    # PRODUCT.md §4: last digit 1 → −1; 2000 handed over for 1230 → 770 change
    computed = xpf(item(1231, 2200), payments=[cash(1230, 2000)])
    assert (computed.total_incl_tax, computed.cash_rounding, computed.due_after_rounding) == (1231, -1, 1230)
    assert (computed.paid, computed.remaining, computed.change) == (1230, 0, 770)
    assert computed.fully_paid


def test_xpf_1233_paid_in_cash_is_rounded_to_1235() -> None:
    # last digit 3 → +2
    computed = xpf(item(1233, 2200), payments=[cash(1235)])
    assert (computed.cash_rounding, computed.due_after_rounding, computed.remaining) == (2, 1235, 0)
    assert computed.fully_paid


@pytest.mark.parametrize(("last_digit", "offset"), sorted(XPF_TABLE.items()))
def test_xpf_cash_follows_the_rounding_table_of_the_spec_for_every_last_digit(last_digit: int, offset: int) -> None:
    due = 1230 + last_digit
    computed = xpf(item(due, 0), payments=[cash(due + offset)])
    assert (computed.cash_rounding, computed.remaining) == (offset, 0)
    assert computed.fully_paid


def test_chf_10_03_in_cash_is_paid_10_05() -> None:
    computed = compute_basket(basket("CHF", item(1003, 810), payments=[cash(1005)]))
    assert (computed.cash_rounding, computed.due_after_rounding, computed.remaining) == (2, 1005, 0)


def test_eur_cash_is_never_rounded() -> None:
    computed = eur(item(1233), payments=[cash(1233)])
    assert (computed.cash_rounding, computed.remaining) == (0, 0)


def test_only_the_part_cash_pays_is_rounded() -> None:
    # 1233 due, 1000 by card: 233 left for cash → 235 (+2)
    computed = xpf(item(1233, 2200), payments=[card(1000), cash(235)])
    assert (computed.cash_rounding, computed.paid, computed.remaining) == (2, 1235, 0)


def test_without_cash_nothing_is_rounded() -> None:
    computed = xpf(item(1233, 2200), payments=[card(1233)])
    assert (computed.cash_rounding, computed.remaining) == (0, 0)


def test_the_till_is_told_what_cash_must_bring_before_cash_is_taken() -> None:
    # 1233 − 1000 by card = 233 left; in cash that is 235
    computed = xpf(item(1233, 2200), payments=[card(1000)])
    assert (computed.remaining, computed.cash_due, computed.cash_rounding) == (233, 235, 0)


def test_a_partial_cash_payment_rounds_the_whole_part_left_for_cash() -> None:
    # 1233 left for cash → 1235 (+2); 500 paid → 735 still due
    computed = xpf(item(1233, 2200), payments=[cash(500)])
    assert (computed.cash_rounding, computed.remaining, computed.cash_due) == (2, 735, 735)
    assert not computed.fully_paid


def test_after_a_card_of_1231_on_1233_xpf_the_2_left_paid_in_cash_round_to_nothing_and_settle_the_ticket() -> None:
    # 2 left for cash: last digit 2 → −2, so cash brings 0; the till writes the 2 it was shown as remaining
    before = xpf(item(1233, 2200), payments=[card(1231)])
    assert (before.remaining, before.cash_due, before.fully_paid) == (2, 0, False)
    computed = xpf(item(1233, 2200), payments=[card(1231), cash(2)])
    assert (computed.cash_rounding, computed.due_after_rounding, computed.paid) == (-2, 1231, 1231)
    assert (computed.remaining, computed.cash_due, computed.change) == (0, 0, 0)
    assert [p.method for p in computed.payments] == [PaymentMethod.CARD]
    assert sum(p.amount for p in computed.payments) == computed.total_incl_tax + computed.cash_rounding
    assert computed.fully_paid


def test_cash_written_as_the_unrounded_remaining_is_booked_at_the_cash_due() -> None:
    # 1233 − 1000 by card = 233 left, 235 in cash (+2); the till writes 233 with a 500 note: change 265
    shown = xpf(item(1233, 2200), payments=[card(1000)])
    assert (shown.remaining, shown.cash_due) == (233, 235)
    computed = xpf(item(1233, 2200), payments=[card(1000), cash(233, 500)])
    assert [p.amount for p in computed.payments] == [1000, 235]
    assert (computed.cash_rounding, computed.remaining, computed.change) == (2, 0, 265)
    assert computed.fully_paid


def test_cash_beyond_the_cash_due_is_refused_with_the_cash_due_the_till_was_shown() -> None:
    # 2 left after the card rounds to 0 in cash: a 5 coin is tendered, not settled
    with pytest.raises(CashOverpaymentError) as caught:
        xpf(item(1233, 2200), payments=[card(1231), cash(5)])
    assert caught.value.field == "payments[1].amount"
    assert "at most the 0 due in cash after rounding" in caught.value.reason
    handed = xpf(item(1233, 2200), payments=[card(1231), cash(2, 5)])
    assert ([p.method for p in handed.payments], handed.change, handed.fully_paid) == ([PaymentMethod.CARD], 0, True)


def test_change_is_cash_handed_over_minus_cash_applied() -> None:
    # (1000 − 600) + (500 − 400) = 500
    assert eur(item(1000), payments=[cash(600, 1000), cash(400, 500)]).change == 500


def test_a_cheque_and_a_card_may_share_a_ticket() -> None:
    computed = eur(item(1000), payments=[cheque(300), card(700)])
    assert (computed.paid, computed.remaining, computed.change) == (1000, 0, 0)
    assert computed.fully_paid


def test_an_underpaid_basket_says_what_remains() -> None:
    computed = eur(item(1000), payments=[card(600)])
    assert (computed.remaining, computed.cash_due) == (400, 400)
    assert not computed.fully_paid


def test_an_empty_basket_is_not_fully_paid() -> None:
    computed = eur()
    assert (computed.total_incl_tax, computed.remaining, computed.taxes) == (0, 0, ())
    assert not computed.fully_paid


# The ticket built from the computation


def test_a_finalized_ticket_is_built_directly_from_the_computation() -> None:
    computed = xpf(
        item(1231, 2200), item(500, 1100, pricing="per_kg", weight_grams=300), payments=[card(1000), cash(380, 500)]
    )
    # 1231 + 500 × 0.3 = 150 → 1381; 1000 by card, 381 left → cash 380 (−1), change 120
    ticket = TicketFinalizedV1(
        ticket_id=uuid.uuid4(),
        number=1,
        territory_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        shop_id=uuid.uuid4(),
        pos_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        finalized_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        local_date=date(2025, 3, 1),
        currency=computed.currency,
        lines=computed.to_ticket_lines(),
        taxes=computed.to_ticket_taxes(),
        payments=computed.to_ticket_payments(),
        total_excl_tax=computed.total_excl_tax,
        total_tax=computed.total_tax,
        total_incl_tax=computed.total_incl_tax,
        cash_rounding=computed.cash_rounding,
        change_given=computed.change,
    )
    assert (ticket.total_incl_tax, ticket.cash_rounding, ticket.change_given) == (1381, -1, 120)
    assert sum(p.amount for p in ticket.payments) == ticket.total_incl_tax + ticket.cash_rounding
    assert sum(line.total_incl_tax for line in ticket.lines) == sum(t.total_incl_tax for t in ticket.taxes)
    assert [line.line_id for line in ticket.lines] == [line.source.line_id for line in computed.lines]


def test_the_computation_as_json_carries_every_total_for_the_till() -> None:
    shown = xpf(item(1233, 2200), payments=[cash(1235, 2000)]).as_dict()
    assert {key: shown[key] for key in ("total_incl_tax", "cash_rounding", "remaining", "change", "fully_paid")} == {
        "total_incl_tax": 1233,
        "cash_rounding": 2,
        "remaining": 0,
        "change": 765,
        "fully_paid": True,
    }


# Refusals: one test each


def test_a_per_kg_line_without_weight_is_refused() -> None:
    with pytest.raises(MissingWeightError) as caught:
        eur(item(100), item(350, pricing="per_kg"))
    assert caught.value.field == "lines[1].weight_grams"


def test_an_amount_discount_above_the_line_is_refused() -> None:
    with pytest.raises(DiscountTooLargeError) as caught:
        eur(item(100, discount=amount_off(150)))
    assert caught.value.field == "lines[0].discount"


def test_a_basket_discount_above_the_basket_is_refused() -> None:
    with pytest.raises(DiscountTooLargeError) as caught:
        eur(item(1000), basket_discount=amount_off(1001))
    assert caught.value.field == "basket_discount"


def test_vouchers_above_the_basket_are_refused_at_the_voucher_that_goes_beyond() -> None:
    with pytest.raises(DiscountTooLargeError) as caught:
        eur(item(1000), vouchers=[VoucherIn(code="A", amount=600), VoucherIn(code="B", amount=500)])
    assert caught.value.field == "vouchers[1].amount"


def test_only_cash_is_tendered() -> None:
    tendered_card = PaymentIn(
        payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=1000, tendered=2000, reference="AUTH"
    )
    with pytest.raises(TenderedOnNonCashError) as caught:
        eur(item(1000), payments=[tendered_card])
    assert caught.value.field == "payments[0].tendered"


def test_cash_handed_over_below_the_amount_it_settles_is_refused() -> None:
    with pytest.raises(TenderedBelowAmountError) as caught:
        eur(item(1000), payments=[cash(1000, 500)])
    assert caught.value.field == "payments[0].tendered"


def test_a_cheque_needs_its_number() -> None:
    with pytest.raises(MissingPaymentReferenceError) as caught:
        eur(item(1000), payments=[cheque(1000, None)])
    assert caught.value.field == "payments[0].reference"


def test_a_gift_voucher_needs_its_code() -> None:
    gift = PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.VOUCHER, amount=1000)
    with pytest.raises(MissingPaymentReferenceError) as caught:
        eur(item(1000), payments=[gift])
    assert caught.value.field == "payments[0].reference"


def test_a_card_may_not_pay_more_than_what_remains() -> None:
    with pytest.raises(NonCashOverpaymentError) as caught:
        eur(item(1000), payments=[card(1500)])
    assert caught.value.field == "payments[0].amount"


def test_a_card_after_cash_may_not_pay_more_than_what_cash_left() -> None:
    with pytest.raises(NonCashOverpaymentError) as caught:
        eur(item(1000), payments=[cash(600), card(500)])
    assert caught.value.field == "payments[1].amount"


def test_cash_may_not_settle_more_than_the_rounded_amount_due() -> None:
    # 1231 XPF in cash is 1230: 1240 does not round to it, the 10 beyond are tendered, not settled
    with pytest.raises(CashOverpaymentError) as caught:
        xpf(item(1231, 2200), payments=[cash(1240, 2000)])
    assert caught.value.field == "payments[0].amount"


def test_cash_written_as_1231_for_1231_xpf_is_the_1230_handed_over() -> None:
    computed = xpf(item(1231, 2200), payments=[cash(1231, 2000)])
    assert ([p.amount for p in computed.payments], computed.cash_rounding, computed.change) == ([1230], -1, 770)


def test_every_refusal_is_a_basket_error_naming_the_field_and_the_reason() -> None:
    with pytest.raises(BasketError) as caught:
        eur(item(1000), payments=[card(1500)])
    assert isinstance(caught.value, PaymentRefusedError)
    assert caught.value.field == "payments[0].amount"
    assert "at most" in caught.value.reason


# Refusals by validation


@pytest.mark.parametrize("bad", [12.5, 1000.0, "1000", True, None])
def test_a_price_that_is_not_an_int_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        item(bad)  # type: ignore[arg-type]


def test_a_percent_discount_with_an_amount_is_refused() -> None:
    with pytest.raises(ValidationError):
        Discount.model_validate({"kind": "percent", "value": 150})


def test_a_percentage_above_100_percent_is_refused() -> None:
    with pytest.raises(ValidationError):
        Discount(kind="percent", value_bp=10_001)


def test_a_sale_of_zero_units_is_refused() -> None:
    with pytest.raises(ValidationError):
        item(100, quantity=0)


def test_a_tax_rate_above_100_percent_is_refused() -> None:
    with pytest.raises(ValidationError):
        item(100, 10_001)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        item(100, colour="red")


def test_a_currency_that_is_not_an_iso_code_is_refused() -> None:
    with pytest.raises(ValidationError):
        BasketIn(currency="euro")


def test_a_payment_of_nothing_is_refused() -> None:
    with pytest.raises(ValidationError):
        cash(0)


def a_valid_basket() -> dict[str, Any]:
    return {
        "currency": "XPF",
        "cash_rounding": "nearest_5",
        "lines": [
            {
                "line_id": str(uuid.uuid4()),
                "kind": "category_item",
                "label": "Vaisselle",
                "category_id": str(uuid.uuid4()),
                "category_label": "Vaisselle",
                "revenue_account": "7071",
                "quantity": 1,
                "unit_price": 1200,
                "pricing": "per_kg",
                "weight_grams": 1500,
                "tax_rate_bp": 2200,
                "discount": {"kind": "percent", "value_bp": 1000},
            }
        ],
        "basket_discount": {"kind": "amount", "value": 100},
        "member_discount_bp": 500,
        "employee_discount_bp": 1000,
        "vouchers": [{"code": "BIENVENUE", "amount": 100}],
        "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 500, "tendered": 1000}],
    }


INT_FIELDS = [
    ("lines", 0, "quantity"),
    ("lines", 0, "unit_price"),
    ("lines", 0, "weight_grams"),
    ("lines", 0, "tax_rate_bp"),
    ("lines", 0, "discount", "value_bp"),
    ("basket_discount", "value"),
    ("member_discount_bp",),
    ("employee_discount_bp",),
    ("vouchers", 0, "amount"),
    ("payments", 0, "amount"),
    ("payments", 0, "tendered"),
]


def test_the_valid_basket_of_the_float_test_is_valid() -> None:
    assert compute_basket(BasketIn.model_validate(a_valid_basket())).total_incl_tax > 0


def with_value_at(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    whole = a_valid_basket()
    node: Any = whole
    *parents, name = path
    for key in parents:
        node = node[key]
    node[name] = value
    return whole


@given(st.sampled_from(INT_FIELDS), st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**6))
def test_a_float_anywhere_in_the_basket_is_refused(path: tuple[str | int, ...], value: float) -> None:
    with pytest.raises(ValidationError):
        BasketIn.model_validate(with_value_at(path, value))


# Properties


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**9))
def test_div_half_up_agrees_with_decimal_half_up(numerator: int, denominator: int) -> None:
    with localcontext() as exact:
        exact.prec = 60
        expected = to_minor(Decimal(numerator) / Decimal(denominator))
    assert div_half_up(numerator, denominator) == expected


def test_div_half_up_rounds_halves_away_from_zero() -> None:
    assert (div_half_up(5, 2), div_half_up(-5, 2), div_half_up(4375, 10), div_half_up(7, 3)) == (3, -3, 438, 2)


@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**6), min_size=1, max_size=60).filter(lambda w: sum(w) > 0))
def test_a_spread_amount_adds_up_and_each_share_is_less_than_one_unit_from_its_exact_part(
    amount: int, weights: list[int]
) -> None:
    shares = spread(amount, weights)
    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert type(share) is int
        assert abs(share * total - amount * weight) < total
    assert spread(amount, weights) == shares


def test_nothing_can_be_spread_over_nothing() -> None:
    with pytest.raises(ValueError, match="nothing"):
        spread(1, [0, 0])


@st.composite
def any_line(draw: st.DrawFn) -> BasketLineIn:
    """A unit-priced or weighed line, with no discount, a percentage, or an amount within the line."""
    price = draw(st.integers(0, 100_000))
    quantity = draw(st.integers(1, 20))
    grams = draw(st.none() | st.integers(0, 50_000))
    # floor of the gross: at most the line, whichever way its half-up rounding goes
    at_most = price * quantity if grams is None else price * grams * quantity // 1000
    discount = draw(
        st.none() | st.integers(0, 10_000).map(percent) | st.integers(0, at_most).map(amount_off),
    )
    return item(
        price,
        draw(st.sampled_from(RATES)),
        quantity=quantity,
        pricing="unit" if grams is None else "per_kg",
        weight_grams=grams,
        discount=discount,
    )


line_strategy = any_line()


@st.composite
def baskets(draw: st.DrawFn) -> BasketIn:
    """Any basket whose discounts fit: amounts are drawn within what they apply to."""
    include_tax = draw(st.booleans())
    lines = draw(st.lists(line_strategy, min_size=1, max_size=50))
    draft = BasketIn(
        currency="EUR",
        prices_include_tax=include_tax,
        lines=tuple(lines),
        member_discount_bp=draw(st.none() | st.integers(0, 3000)),
        employee_discount_bp=draw(st.none() | st.integers(0, 3000)),
    )
    subtotal = sum(line.total_incl_tax if include_tax else line.total_excl_tax for line in compute_basket(draft).lines)
    if draw(st.booleans()):
        discount = percent(draw(st.integers(0, 10_000)))
    else:
        discount = amount_off(draw(st.integers(0, subtotal)))
    draft = draft.model_copy(update={"basket_discount": discount})
    computed = compute_basket(draft)
    left = computed.total_incl_tax if include_tax else computed.total_excl_tax
    voucher = draw(st.integers(0, left))
    if voucher:
        draft = draft.model_copy(update={"vouchers": (VoucherIn(code="V", amount=voucher),)})
    return draft


def every_amount(computed: ComputedBasket) -> list[object]:
    amounts: list[object] = [
        computed.total_excl_tax,
        computed.total_tax,
        computed.total_incl_tax,
        computed.discounts,
        computed.vouchers,
        computed.paid,
        computed.cash_rounding,
        computed.due_after_rounding,
        computed.remaining,
        computed.cash_due,
        computed.change,
    ]
    for line in computed.lines:
        amounts += [line.gross, line.discount, line.total_incl_tax, line.total_excl_tax, line.tax]
    for tax in computed.taxes:
        amounts += [tax.rate_bp, tax.total_excl_tax, tax.tax, tax.total_incl_tax]
    return amounts


@settings(max_examples=200, deadline=None)
@given(baskets())
def test_every_total_adds_up_exactly_per_line_per_rate_and_in_total(draft: BasketIn) -> None:
    computed = compute_basket(draft)
    assert all(type(amount) is int for amount in every_amount(computed))
    assert sum(line.total_incl_tax for line in computed.lines) == computed.total_incl_tax
    assert sum(line.total_excl_tax for line in computed.lines) == computed.total_excl_tax
    assert sum(line.tax for line in computed.lines) == computed.total_tax
    assert computed.total_excl_tax + computed.total_tax == computed.total_incl_tax
    assert [tax.rate_bp for tax in computed.taxes] == sorted({line.tax_rate_bp for line in draft.lines})
    for tax in computed.taxes:
        members = [line for line in computed.lines if line.source.tax_rate_bp == tax.rate_bp]
        assert tax.total_excl_tax + tax.tax == tax.total_incl_tax
        assert sum(line.tax for line in members) == tax.tax
        assert sum(line.total_incl_tax for line in members) == tax.total_incl_tax
        assert sum(line.total_excl_tax for line in members) == tax.total_excl_tax
        base = tax.total_incl_tax if draft.prices_include_tax else tax.total_excl_tax
        divisor = 10_000 + tax.rate_bp if draft.prices_include_tax else 10_000
        assert tax.tax == to_minor(Decimal(base * tax.rate_bp) / Decimal(divisor))
    assert sum(tax.total_incl_tax for tax in computed.taxes) == computed.total_incl_tax
    for line in computed.lines:
        assert 0 <= line.discount <= line.gross
        assert line.total_excl_tax >= 0
        assert line.tax >= 0
        assert line.total_excl_tax + line.tax == line.total_incl_tax
        in_price_basis = line.total_incl_tax if draft.prices_include_tax else line.total_excl_tax
        assert line.gross - line.discount == in_price_basis
    assert sum(line.discount for line in computed.lines) == computed.discounts
    assert compute_basket(draft) == computed


@settings(max_examples=100, deadline=None)
@given(st.lists(line_strategy, min_size=1, max_size=30), st.booleans(), st.data())
def test_a_basket_amount_takes_off_exactly_its_amount_shared_over_the_lines(
    lines: list[BasketLineIn], include_tax: bool, data: st.DataObject
) -> None:
    before = eur(*lines, prices_include_tax=include_tax)
    subtotal = before.total_incl_tax if include_tax else before.total_excl_tax
    off = data.draw(st.integers(0, subtotal))
    voucher = data.draw(st.integers(0, subtotal - off))
    after = eur(
        *lines,
        prices_include_tax=include_tax,
        basket_discount=amount_off(off),
        vouchers=[VoucherIn(code="V", amount=voucher)] if voucher else [],
    )
    shares = [b.total_incl_tax - a.total_incl_tax for b, a in zip(before.lines, after.lines, strict=True)]
    shares_without_tax = [b.total_excl_tax - a.total_excl_tax for b, a in zip(before.lines, after.lines, strict=True)]
    assert sum(shares if include_tax else shares_without_tax) == off + voucher
    assert after.discounts - before.discounts == off + voucher
    assert after.vouchers == voucher
    assert all(line.total_incl_tax >= 0 and line.total_excl_tax >= 0 for line in after.lines)


@settings(max_examples=300)
@given(
    st.sampled_from(["XPF", "CHF"]),
    st.integers(1, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10_000),
    st.sampled_from(RATES),
)
def test_a_cash_rounded_basket_is_fully_paid_and_balanced(
    currency: str, price: int, card_part: int, tendered_extra: int, rate: int
) -> None:
    card_amount = min(card_part, price)
    left_for_cash = price - card_amount
    applied = round_cash(left_for_cash, CashRoundingRule.NEAREST_5).rounded
    payments = ([card(card_amount)] if card_amount else []) + (
        [cash(applied, applied + tendered_extra)] if applied else []
    )
    computed = compute_basket(basket(currency, item(price, rate), payments=payments))
    if not applied:
        # nothing for cash yet: the card paid all, or what is left rounds to nothing (cash_due 0)
        assert (computed.cash_rounding, computed.cash_due) == (0, 0)
        assert computed.remaining == left_for_cash
        return
    assert computed.cash_rounding == applied - left_for_cash
    assert abs(computed.cash_rounding) <= 2
    assert sum(p.amount for p in computed.payments) == computed.total_incl_tax + computed.cash_rounding
    assert (computed.remaining, computed.cash_due) == (0, 0)
    assert computed.fully_paid
    assert computed.change == tendered_extra
    assert XPF_TABLE[left_for_cash % 10] == computed.cash_rounding


@settings(max_examples=300)
@given(st.sampled_from(["XPF", "CHF"]), st.integers(1, 10**7), st.integers(0, 10**7), st.sampled_from(RATES))
def test_the_remaining_paid_in_cash_as_shown_always_settles_the_ticket_balanced(
    currency: str, price: int, card_part: int, rate: int
) -> None:
    card_amount = min(card_part, price - 1)
    payments = [card(card_amount)] if card_amount else []
    shown = compute_basket(basket(currency, item(price, rate), payments=payments))
    computed = compute_basket(basket(currency, item(price, rate), payments=[*payments, cash(shown.remaining)]))
    assert computed.fully_paid
    assert computed.cash_rounding == shown.cash_due - shown.remaining
    assert sum(p.amount for p in computed.payments) == computed.total_incl_tax + computed.cash_rounding
    assert sum(p.amount for p in computed.payments if p.method is PaymentMethod.CASH) == shown.cash_due


@settings(max_examples=200)
@given(
    st.integers(3, 10**6), st.lists(st.sampled_from([PaymentMethod.CASH, PaymentMethod.CARD]), max_size=4), st.data()
)
def test_whatever_is_paid_the_paid_and_the_remaining_make_the_rounded_due(
    price: int, methods: list[PaymentMethod], data: st.DataObject
) -> None:
    # at most price − 2 in all, so that no rounding (never below −2) can make it too much
    budget = price - 2
    payments = []
    for method in methods:
        if budget < 1:
            break
        amount = data.draw(st.integers(1, budget))
        budget -= amount
        payments.append(cash(amount, amount + 100) if method is PaymentMethod.CASH else card(amount))
    computed = xpf(item(price, 2200), payments=payments)
    assert computed.remaining >= 0
    assert computed.paid + computed.remaining == computed.due_after_rounding
    # the cash is booked as given, unless it rounds to the cash due: then it is that and nothing remains
    assert computed.paid == sum(p.amount for p in payments) or computed.remaining == 0
    assert computed.paid == sum(p.amount for p in computed.payments)
    assert computed.change == sum((p.tendered or p.amount) - p.amount for p in computed.payments)
    assert all(type(amount) is int for amount in every_amount(computed))
