"""Money as integers of minor units: currencies, the one Decimal→int conversion, and cash rounding per territory.

Money never travels as a float. Amounts are `int` minor units of a currency whose exponent says where the
decimal point is (EUR 2, XPF 0). `Decimal` appears only inside a computation and comes back to `int`
through `to_minor`, with explicit half-up rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: alphabetic code, numeric code (used by card terminals) and minor-unit exponent."""

    code: str
    numeric: int
    exponent: int

    @property
    def minor_per_major(self) -> int:
        scale: int = 10**self.exponent
        return scale


EUR: Final = Currency("EUR", 978, 2)
XPF: Final = Currency("XPF", 953, 0)
CHF: Final = Currency("CHF", 756, 2)
CURRENCIES: Final = {c.code: c for c in (EUR, XPF, CHF)}


def currency(code: str) -> Currency:
    """The known currency for `code`; unknown codes raise `KeyError` so a typo never silently becomes EUR."""
    return CURRENCIES[code]


def to_minor(value: Decimal, exponent: int = 0) -> int:
    """Convert `value` (in units of 10**-exponent, i.e. already scaled by the caller when exponent=0) to int.

    `to_minor(Decimal("12.345"), 2)` reads 12.345 major units and returns 1235 minor units (half-up, away from
    zero on .5). With the default exponent 0 it simply rounds a Decimal number of minor units half-up:
    `to_minor(Decimal("102.5")) == 103`, `to_minor(Decimal("-102.5")) == -103`.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"to_minor takes a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    scaled = value.scaleb(exponent)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_major(text: str, cur: Currency) -> int:
    """Parse a human amount in major units ("12.50", "12,50") into minor units; more decimals than the
    currency has are refused rather than rounded, because a typed price must be exact."""
    normalized = text.strip().replace(",", ".")
    value = Decimal(normalized)
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    exponent_of_value = value.as_tuple().exponent
    if isinstance(exponent_of_value, int) and -exponent_of_value > cur.exponent:
        raise ValueError(f"{text!r} has more decimals than {cur.code} allows ({cur.exponent})")
    return to_minor(value, cur.exponent)


def format_major(amount: int, cur: Currency) -> str:
    """Render minor units as a plain decimal string in major units ("12.50", "1230")."""
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if cur.exponent == 0:
        return f"{sign}{magnitude}"
    major, minor = divmod(magnitude, cur.minor_per_major)
    return f"{sign}{major}.{minor:0{cur.exponent}d}"


class CashRoundingRule(StrEnum):
    """How a territory rounds amounts paid in cash (coins that do not exist cannot be given back)."""

    NONE = "none"
    NEAREST_5 = "nearest_5"
    """To the nearest 5 minor units: XPF (no 1 and 2 franc coins) and CHF (0.05, no 1 and 2 centimes)."""

    @property
    def increment(self) -> int:
        return 5 if self is CashRoundingRule.NEAREST_5 else 1


@dataclass(frozen=True, slots=True)
class CashRounding:
    """The result of rounding a cash amount due: what the customer pays and the difference booked apart.

    `adjustment = rounded - amount`; it is booked on a rounding line (a configurable account) so that a
    cash-rounded ticket is fully paid and balanced.
    """

    amount: int
    rounded: int

    @property
    def adjustment(self) -> int:
        return self.rounded - self.amount


def round_cash(amount: int, rule: CashRoundingRule) -> CashRounding:
    """Round a cash amount due to the territory's smallest coin.

    For NEAREST_5 the last digit moves as in PRODUCT.md §4: 0→0, 1→−1, 2→−2, 3→+2, 4→+1, 5→0, 6→−1,
    7→−2, 8→+2, 9→+1. An increment of 5 has no ties on integers, so "nearest" is unambiguous. A negative
    amount (money given back on a credit note) is rounded by the same table on its magnitude, so a refund
    and the sale it cancels round to opposite amounts.
    """
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("cash amounts are int minor units")
    step = rule.increment
    if step == 1:
        return CashRounding(amount, amount)
    magnitude = abs(amount)
    down = magnitude - magnitude % step
    up = down + step
    nearest = down if magnitude - down < up - magnitude else up
    return CashRounding(amount, nearest if amount >= 0 else -nearest)
