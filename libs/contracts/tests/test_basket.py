"""Basket math: worked examples from the spec, properties that must hold for every basket, and refusals."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from caisse_contracts.basket import (
    BasketIn,
    BasketLineIn,
    ComputedBasket,
    Discount,
    DiscountTooLargeError,
    MissingWeightError,
    PaymentIn,
    PaymentRefusedError,
    VoucherIn,
    compute_basket,
    div_half_up,
    spread,
)
from caisse_contracts.events import LineKind, PaymentMethod
from caisse_contracts.money import CashRoundingRule, round_cash


def item(price: int, rate_bp: int = 2000, *, quantity: int = 1, **extra: object) -> BasketLineIn:
    fields: dict[str, object] = {
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


def cash(amount: int, tendered: int | None = None) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=amount, tendered=tendered)


def card(amount: int) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=amount, reference="AUTH")


def eur(*lines: BasketLineIn, **extra: object) -> ComputedBasket:
    return compute_basket(BasketIn.model_validate({"currency": "EUR", "lines": list(lines), **extra}))


def xpf(*lines: BasketLineIn, **extra: object) -> ComputedBasket:
    return compute_basket(
        BasketIn.model_validate(
            {"currency": "XPF", "cash_rounding": CashRoundingRule.NEAREST_5, "lines": list(lines), **extra}
        )
    )


def test_a_coat_at_8_euros_with_20_percent_vat_included_is_667_ht_and_133_vat() -> None:
    # 800 × 2000 / 12000 = 133.33 → 133; HT = 800 − 133 = 667
    [tax] = eur(item(800)).taxes
    assert (tax.total_excl_tax, tax.tax, tax.total_incl_tax) == (667, 133, 800)


def test_a_book_at_2_euros_with_5_5_percent_vat_is_190_ht_and_10_vat() -> None:
    # 200 × 550 / 10550 = 10.43 → 10; HT = 190
    [tax] = eur(item(200, 550)).taxes
    assert (tax.total_excl_tax, tax.tax) == (190, 10)


def test_prices_without_tax_add_the_vat_on_top() -> None:
    # HT 1000 at 20 % → VAT 200, TTC 1200
    computed = eur(item(1000), prices_include_tax=False)
    assert (computed.total_excl_tax, computed.total_tax, computed.total_incl_tax) == (1000, 200, 1200)


def test_a_price_per_kilogram_is_rounded_half_up_on_the_weight() -> None:
    # 3.50 €/kg × 1.250 kg = 437.5 → 438
    computed = eur(item(350, pricing="per_kg", weight_grams=1250))
    assert computed.total_incl_tax == 438


def test_xpf_1231_paid_in_cash_is_rounded_to_1230_fully_paid_with_a_rounding_of_minus_1() -> None:
    computed = xpf(item(1231, 2200), payments=[cash(1230, 2000)])
    assert (computed.cash_rounding, computed.due_after_rounding, computed.remaining) == (-1, 1230, 0)
    assert computed.change == 770
    assert computed.fully_paid


def test_xpf_1233_paid_in_cash_is_rounded_to_1235() -> None:
    computed = xpf(item(1233, 2200), payments=[cash(1235)])
    assert (computed.cash_rounding, computed.remaining) == (2, 0)


def test_chf_10_03_in_cash_is_paid_10_05() -> None:
    computed = compute_basket(
        BasketIn(
            currency="CHF", cash_rounding=CashRoundingRule.NEAREST_5, lines=[item(1003, 810)], payments=[cash(1005)]
        )
    )
    assert (computed.cash_rounding, computed.remaining) == (2, 0)


def test_only_the_part_cash_pays_is_rounded() -> None:
    # 1233 due, 1000 by card: 233 left for cash → 235 (+2)
    computed = xpf(item(1233, 2200), payments=[card(1000), cash(235)])
    assert (computed.cash_rounding, computed.remaining, computed.paid) == (2, 0, 1235)


def test_without_cash_nothing_is_rounded() -> None:
    computed = xpf(item(1233, 2200), payments=[card(1233)])
    assert (computed.cash_rounding, computed.remaining) == (0, 0)


def test_discounts_apply_in_order_line_then_card_then_basket_then_vouchers() -> None:
    # 1000 − 10 % = 900; member 5 % → 855; basket −55 → 800; voucher −100 → 700
    computed = eur(
        item(1000, discount=Discount(kind="percent", value_bp=1000)),
        member_discount_bp=500,
        basket_discount=Discount(kind="amount", value=55),
        vouchers=[VoucherIn(code="NOEL", amount=100)],
    )
    assert computed.total_incl_tax == 700
    assert computed.lines[0].discount == 300
    assert computed.vouchers == 100


def test_a_basket_discount_is_spread_over_lines_to_the_unit() -> None:
    computed = eur(item(100), item(100), item(100), basket_discount=Discount(kind="amount", value=100))
    assert [line.total_incl_tax for line in computed.lines] == [66, 67, 67] or sum(
        line.total_incl_tax for line in computed.lines
    ) == 200
    assert sum(line.discount for line in computed.lines) == 100


def test_change_is_cash_handed_over_minus_cash_applied() -> None:
    assert eur(item(1000), payments=[cash(1000, 2000)]).change == 1000


def test_a_per_kg_line_without_weight_is_refused() -> None:
    with pytest.raises(MissingWeightError) as caught:
        eur(item(350, pricing="per_kg"))
    assert caught.value.field == "lines[0].weight_grams"


def test_a_discount_above_the_line_is_refused() -> None:
    with pytest.raises(DiscountTooLargeError) as caught:
        eur(item(100, discount=Discount(kind="amount", value=150)))
    assert caught.value.field == "lines[0].discount"


def test_a_card_may_not_pay_more_than_what_remains() -> None:
    with pytest.raises(PaymentRefusedError) as caught:
        eur(item(1000), payments=[card(1500)])
    assert caught.value.field == "payments[0].amount"


def test_only_cash_is_tendered() -> None:
    tendered_card = PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=1000, tendered=2000)
    with pytest.raises(PaymentRefusedError) as caught:
        eur(item(1000), payments=[tendered_card])
    assert caught.value.field == "payments[0].tendered"


def test_a_cheque_needs_its_number() -> None:
    cheque = PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=1000)
    with pytest.raises(PaymentRefusedError) as caught:
        eur(item(1000), payments=[cheque])
    assert caught.value.field == "payments[0].reference"


@pytest.mark.parametrize("bad", [12.5, "1000", True])
def test_money_that_is_not_an_int_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        item(bad)  # type: ignore[arg-type]


@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
def test_div_half_up_agrees_with_decimal_half_up(numerator: int, denominator: int) -> None:
    expected = int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert div_half_up(numerator, denominator) == expected


@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**6), min_size=1, max_size=60).filter(lambda w: sum(w) > 0))
def test_a_spread_amount_adds_up_and_never_exceeds_a_share_by_one(amount: int, weights: list[int]) -> None:
    shares = spread(amount, weights)
    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share * total - amount * weight) < total


lines_strategy = st.lists(
    st.builds(
        lambda price, rate, qty, pct: item(
            price, rate, quantity=qty, discount=Discount(kind="percent", value_bp=pct) if pct else None
        ),
        st.integers(0, 100_000),
        st.sampled_from([0, 210, 550, 1000, 2000, 300, 600, 1100, 2200]),
        st.integers(1, 20),
        st.sampled_from([0, 500, 1000, 5000]),
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=300)
@given(lines_strategy, st.booleans(), st.integers(0, 3000), st.integers(0, 2000))
def test_every_total_adds_up_exactly_per_line_per_rate_and_in_total(
    lines: list[BasketLineIn], include_tax: bool, basket_pct: int, voucher: int
) -> None:
    draft = BasketIn(
        currency="EUR",
        prices_include_tax=include_tax,
        lines=lines,
        basket_discount=Discount(kind="percent", value_bp=basket_pct),
    )
    subtotal = compute_basket(draft).total_incl_tax if include_tax else compute_basket(draft).total_excl_tax
    vouchers = [VoucherIn(code="V", amount=min(voucher, subtotal))] if min(voucher, subtotal) > 0 else []
    computed = compute_basket(draft.model_copy(update={"vouchers": vouchers}))
    assert sum(line.total_incl_tax for line in computed.lines) == computed.total_incl_tax
    assert computed.total_excl_tax + computed.total_tax == computed.total_incl_tax
    for tax in computed.taxes:
        members = [line for line in computed.lines if line.source.tax_rate_bp == tax.rate_bp]
        assert tax.total_excl_tax + tax.tax == tax.total_incl_tax
        assert sum(line.tax for line in members) == tax.tax
        assert sum(line.total_incl_tax for line in members) == tax.total_incl_tax
    for line in computed.lines:
        assert line.total_incl_tax >= 0
        assert line.total_excl_tax + line.tax == line.total_incl_tax
        assert type(line.total_incl_tax) is int
        assert type(line.tax) is int
    assert compute_basket(draft.model_copy(update={"vouchers": vouchers})) == computed


@given(st.integers(1, 10**7), st.integers(0, 10**6), st.integers(0, 9))
def test_a_cash_rounded_xpf_basket_is_fully_paid_and_balanced(price: int, card_part: int, tendered_extra: int) -> None:
    card_amount = min(card_part, price - 1) if price > 1 else 0
    payments = [card(card_amount)] if card_amount else []
    due_cash = price - card_amount
    draft = BasketIn(
        currency="XPF", cash_rounding=CashRoundingRule.NEAREST_5, lines=[item(price, 2200)], payments=payments
    )
    applied = round_cash(due_cash, CashRoundingRule.NEAREST_5).rounded
    if applied <= 0:
        return
    computed = compute_basket(
        draft.model_copy(update={"payments": [*payments, cash(applied, applied + tendered_extra)]})
    )
    assert abs(computed.cash_rounding) <= 2
    assert (computed.total_incl_tax - card_amount + computed.cash_rounding) % 5 == 0
    assert sum(p.amount for p in computed.payments) == computed.total_incl_tax + computed.cash_rounding
    assert computed.remaining == 0
    assert computed.change == tendered_extra
