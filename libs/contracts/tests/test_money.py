"""Money: half-up conversion and the cash-rounding table of PRODUCT.md §4."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caisse_contracts.money import CHF, EUR, XPF, CashRoundingRule, format_major, parse_major, round_cash, to_minor

# PRODUCT.md §4: "XPF rounds cash amounts to the nearest 5 (last digit 0→0, 1→−1, 2→−2, 3→+2, 4→+1,
# 5→0, 6→−1, 7→−2, 8→+2, 9→+1)".
XPF_TABLE = {0: 0, 1: -1, 2: -2, 3: 2, 4: 1, 5: 0, 6: -1, 7: -2, 8: 2, 9: 1}


@pytest.mark.parametrize(("last_digit", "offset"), sorted(XPF_TABLE.items()))
def test_xpf_cash_rounding_follows_the_table_of_the_spec(last_digit: int, offset: int) -> None:
    amount = 1230 + last_digit
    assert round_cash(amount, CashRoundingRule.NEAREST_5).adjustment == offset
    assert round_cash(amount, CashRoundingRule.NEAREST_5).rounded == amount + offset


def test_the_spec_examples_1231_and_1233_xpf_round_to_1230_and_1235() -> None:
    assert round_cash(1231, CashRoundingRule.NEAREST_5).rounded == 1230
    assert round_cash(1233, CashRoundingRule.NEAREST_5).rounded == 1235


def test_chf_rounds_cash_to_five_centimes() -> None:
    assert CHF.exponent == 2
    assert round_cash(1002, CashRoundingRule.NEAREST_5).rounded == 1000  # 10.02 → 10.00
    assert round_cash(1003, CashRoundingRule.NEAREST_5).rounded == 1005  # 10.03 → 10.05
    assert round_cash(1007, CashRoundingRule.NEAREST_5).rounded == 1005  # 10.07 → 10.05


def test_eur_cash_is_never_rounded() -> None:
    assert round_cash(1233, CashRoundingRule.NONE).adjustment == 0


def test_a_refund_rounds_to_the_opposite_of_its_sale() -> None:
    assert round_cash(-1233, CashRoundingRule.NEAREST_5).rounded == -1235
    assert round_cash(-1231, CashRoundingRule.NEAREST_5).rounded == -1230


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_nearest_5_lands_on_a_multiple_of_5_at_most_2_away(amount: int) -> None:
    result = round_cash(amount, CashRoundingRule.NEAREST_5)
    assert result.rounded % 5 == 0
    assert abs(result.adjustment) <= 2
    assert isinstance(result.rounded, int)


def test_cash_rounding_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        round_cash(12.5, CashRoundingRule.NEAREST_5)  # type: ignore[arg-type]


def test_to_minor_rounds_half_up_away_from_zero() -> None:
    assert to_minor(Decimal("12.345"), EUR.exponent) == 1235
    assert to_minor(Decimal("12.344"), EUR.exponent) == 1234
    assert to_minor(Decimal("102.5")) == 103
    assert to_minor(Decimal("-102.5")) == -103
    assert to_minor(Decimal("1230.5"), XPF.exponent) == 1231


def test_to_minor_refuses_a_float_and_infinities() -> None:
    with pytest.raises(TypeError):
        to_minor(12.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_minor(Decimal("Infinity"))


def test_typed_amounts_parse_exactly_or_are_refused() -> None:
    assert parse_major("12,50", EUR) == 1250
    assert parse_major("1230", XPF) == 1230
    with pytest.raises(ValueError, match="decimals"):
        parse_major("12.505", EUR)
    with pytest.raises(ValueError, match="decimals"):
        parse_major("12.5", XPF)


def test_amounts_render_in_major_units() -> None:
    assert format_major(1250, EUR) == "12.50"
    assert format_major(-5, EUR) == "-0.05"
    assert format_major(1230, XPF) == "1230"
