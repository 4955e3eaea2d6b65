"""Basket math: lines, discounts, taxes per rate, payments, change and cash rounding — pure, integer, exact.

The till computes its baskets offline with this module and pos-api recomputes them with it: both must agree
to the minor unit. Every amount is an `int` of minor units; a division that needs rounding goes through
`div_half_up` (round half away from zero, the rule of French receipts), never through a float.

Order of discounts, each on what the previous ones left:
1. the line's own discount (percentage or amount);
2. the member-card percentage, then the staff percentage, on each line;
3. the basket discount (percentage of, or amount off, the subtotal), spread over the lines;
4. discount vouchers (amounts), spread over the lines.
A basket-level amount is spread in proportion to the lines' totals by largest remainder, so each line (and so
each tax rate) gets a whole number of minor units and the shares add up exactly to the amount.

Taxes are computed per rate on the rate's total, not line by line, so that rounding happens once per rate
and the ticket's VAT is the one an accountant recomputes from the totals; the rate's tax is then spread over
its lines by largest remainder. Prices tax-included: VAT = TTC × r / (1 + r), HT = TTC − VAT. Prices
tax-excluded: VAT = HT × r, TTC = HT + VAT. Either way HT + VAT = TTC exactly, per line, per rate and in total.

Cash rounding (XPF, CHF: to the nearest 5 minor units; EUR: none) applies to what cash pays: the amount left
for cash after the other tenders is rounded with `money.round_cash`, and the difference is a rounding amount
booked apart, so a cash-rounded basket is fully paid and balanced (Σ payments = due + rounding, nothing
remaining). Credit notes are built by the caller from a computed sale, with the signs reversed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from caisse_contracts.events.tickets import LineKind, PaymentMethod, PaymentV1, TaxTotalV1, TicketLineV1
from caisse_contracts.money import CashRoundingRule, round_cash

BP = 10_000
"""Basis points in one: rates and percentages are ints of basis points (20 % = 2000)."""


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((2 * -numerator + denominator) // (2 * denominator))


def spread(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` shared in proportion to non-negative `weights`, by largest remainder: the shares add up to it.

    Ties go to the earlier weight, so the result is deterministic. With all weights zero, nothing is shared
    unless the amount is zero.
    """
    total = sum(weights)
    if total == 0:
        if amount:
            raise ValueError("cannot spread an amount over nothing")
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    left = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


class BasketError(ValueError):
    """A basket that cannot be computed; `field` says where (e.g. `lines[2].weight_grams`), `reason` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MissingWeightError(BasketError):
    pass


class DiscountTooLargeError(BasketError):
    pass


class PaymentRefusedError(BasketError):
    pass


Money = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Discount(_Input):
    """A percentage in basis points (`value_bp`) or an amount in minor units (`value`)."""

    kind: Literal["percent", "amount"]
    value_bp: StrictInt | None = Field(default=None, ge=0, le=BP)
    value: Money | None = None

    @model_validator(mode="after")
    def _one_value(self) -> Discount:
        if (self.kind == "percent") != (self.value_bp is not None) or (self.kind == "amount") != (
            self.value is not None
        ):
            raise ValueError("a percent discount has value_bp, an amount discount has value")
        return self

    def of(self, base: int) -> int:
        if self.kind == "percent":
            return div_half_up(base * (self.value_bp or 0), BP)
        return self.value or 0


class BasketLineIn(_Input):
    line_id: UUID
    kind: LineKind
    label: str
    category_id: UUID
    category_label: str
    revenue_account: str
    product_id: UUID | None = None
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_price: Money
    pricing: Literal["unit", "per_kg"] = "unit"
    weight_grams: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    tax_rate_bp: StrictInt = Field(ge=0, le=BP)
    discount: Discount | None = None


class VoucherIn(_Input):
    code: str
    amount: StrictInt = Field(gt=0, le=1_000_000_000)


class PaymentIn(_Input):
    payment_id: UUID
    method: PaymentMethod
    amount: StrictInt = Field(gt=0, le=1_000_000_000)
    tendered: StrictInt | None = Field(default=None, gt=0, le=1_000_000_000)
    reference: str | None = None
    bank: str | None = None


class BasketIn(_Input):
    currency: str
    prices_include_tax: bool = True
    cash_rounding: CashRoundingRule = CashRoundingRule.NONE
    lines: Sequence[BasketLineIn] = ()
    basket_discount: Discount | None = None
    member_discount_bp: StrictInt | None = Field(default=None, ge=0, le=BP)
    employee_discount_bp: StrictInt | None = Field(default=None, ge=0, le=BP)
    vouchers: Sequence[VoucherIn] = ()
    payments: Sequence[PaymentIn] = ()


@dataclass(frozen=True, slots=True)
class ComputedLine:
    source: BasketLineIn
    gross: int
    discount: int
    total_incl_tax: int
    total_excl_tax: int
    tax: int


@dataclass(frozen=True, slots=True)
class ComputedBasket:
    currency: str
    lines: tuple[ComputedLine, ...]
    taxes: tuple[TaxTotalV1, ...]
    payments: tuple[PaymentIn, ...]
    total_excl_tax: int
    total_tax: int
    total_incl_tax: int
    """What the basket costs after every discount: the amount due before cash rounding."""
    discounts: int
    vouchers: int
    paid: int
    cash_rounding: int
    due_after_rounding: int
    remaining: int
    change: int

    @property
    def fully_paid(self) -> bool:
        return self.remaining == 0 and bool(self.lines)

    def to_ticket_lines(self) -> tuple[TicketLineV1, ...]:
        return tuple(
            TicketLineV1(
                line_id=line.source.line_id,
                kind=line.source.kind,
                label=line.source.label,
                category_id=line.source.category_id,
                category_label=line.source.category_label,
                revenue_account=line.source.revenue_account,
                product_id=line.source.product_id,
                quantity=line.source.quantity,
                unit_price=line.source.unit_price,
                weight_grams=line.source.weight_grams,
                discount=line.discount,
                tax_rate_bp=line.source.tax_rate_bp,
                total_excl_tax=line.total_excl_tax,
                tax=line.tax,
                total_incl_tax=line.total_incl_tax,
            )
            for line in self.lines
        )

    def to_ticket_taxes(self) -> tuple[TaxTotalV1, ...]:
        return self.taxes

    def to_ticket_payments(self) -> tuple[PaymentV1, ...]:
        return tuple(
            PaymentV1(
                payment_id=p.payment_id,
                method=p.method,
                amount=p.amount,
                tendered=p.tendered,
                reference=p.reference,
                bank=p.bank,
            )
            for p in self.payments
        )

    def as_dict(self) -> dict[str, Any]:
        """The computation as JSON for the till's screen."""
        return {
            "currency": self.currency,
            "lines": [
                {
                    "line_id": str(line.source.line_id),
                    "label": line.source.label,
                    "gross": line.gross,
                    "discount": line.discount,
                    "total_incl_tax": line.total_incl_tax,
                    "total_excl_tax": line.total_excl_tax,
                    "tax": line.tax,
                    "tax_rate_bp": line.source.tax_rate_bp,
                }
                for line in self.lines
            ],
            "taxes": [t.model_dump() for t in self.taxes],
            "total_excl_tax": self.total_excl_tax,
            "total_tax": self.total_tax,
            "total_incl_tax": self.total_incl_tax,
            "discounts": self.discounts,
            "vouchers": self.vouchers,
            "paid": self.paid,
            "cash_rounding": self.cash_rounding,
            "due_after_rounding": self.due_after_rounding,
            "remaining": self.remaining,
            "change": self.change,
            "fully_paid": self.fully_paid,
        }


def _gross(line: BasketLineIn, where: str) -> int:
    if line.pricing == "per_kg":
        if line.weight_grams is None:
            raise MissingWeightError(f"{where}.weight_grams", "a price per kilogram needs the weight")
        return div_half_up(line.unit_price * line.weight_grams * line.quantity, 1000)
    return line.unit_price * line.quantity


def _apply_spread(amounts: list[int], discount: int, where: str) -> list[int]:
    subtotal = sum(amounts)
    if discount > subtotal:
        raise DiscountTooLargeError(where, f"{discount} is more than the {subtotal} it applies to")
    return spread(discount, amounts)


def compute_basket(basket: BasketIn) -> ComputedBasket:
    """Every total of the basket; raises a `BasketError` naming the field when it cannot be computed."""
    gross: list[int] = []
    after: list[int] = []
    for i, line in enumerate(basket.lines):
        where = f"lines[{i}]"
        amount = _gross(line, where)
        gross.append(amount)
        if line.discount is not None:
            off = line.discount.of(amount)
            if off > amount:
                raise DiscountTooLargeError(f"{where}.discount", f"{off} is more than the line's {amount}")
            amount -= off
        for rate in (basket.member_discount_bp, basket.employee_discount_bp):
            if rate:
                amount -= div_half_up(amount * rate, BP)
        after.append(amount)

    if basket.basket_discount is not None:
        off = basket.basket_discount.of(sum(after))
        shares = _apply_spread(after, off, "basket_discount")
        after = [a - s for a, s in zip(after, shares, strict=True)]
    voucher_total = sum(v.amount for v in basket.vouchers)
    if voucher_total:
        shares = _apply_spread(after, voucher_total, "vouchers")
        after = [a - s for a, s in zip(after, shares, strict=True)]

    by_rate: dict[int, list[int]] = {}
    for index, line in enumerate(basket.lines):
        by_rate.setdefault(line.tax_rate_bp, []).append(index)
    line_tax = [0] * len(after)
    taxes: list[TaxTotalV1] = []
    for rate in sorted(by_rate):
        members = by_rate[rate]
        base = sum(after[i] for i in members)
        rate_tax = div_half_up(base * rate, BP + rate) if basket.prices_include_tax else div_half_up(base * rate, BP)
        for i, share in zip(members, spread(rate_tax, [after[i] for i in members]), strict=True):
            line_tax[i] = share
        incl, excl = (base, base - rate_tax) if basket.prices_include_tax else (base + rate_tax, base)
        taxes.append(TaxTotalV1(rate_bp=rate, total_excl_tax=excl, tax=rate_tax, total_incl_tax=incl))

    lines = tuple(
        ComputedLine(
            source=line,
            gross=gross[i],
            discount=gross[i] - after[i],
            total_incl_tax=after[i] if basket.prices_include_tax else after[i] + line_tax[i],
            total_excl_tax=after[i] - line_tax[i] if basket.prices_include_tax else after[i],
            tax=line_tax[i],
        )
        for i, line in enumerate(basket.lines)
    )
    total_incl = sum(t.total_incl_tax for t in taxes)
    total_excl = sum(t.total_excl_tax for t in taxes)
    total_tax = sum(t.tax for t in taxes)

    non_cash = 0
    cash = 0
    change = 0
    has_cash = False
    for i, payment in enumerate(basket.payments):
        where = f"payments[{i}]"
        if payment.method is PaymentMethod.CASH:
            has_cash = True
            cash += payment.amount
            if payment.tendered is not None:
                if payment.tendered < payment.amount:
                    raise PaymentRefusedError(f"{where}.tendered", "is less than the amount it pays")
                change += payment.tendered - payment.amount
            continue
        if payment.tendered is not None:
            raise PaymentRefusedError(f"{where}.tendered", f"only cash is tendered, not {payment.method.value}")
        if payment.method is PaymentMethod.CHEQUE and not payment.reference:
            raise PaymentRefusedError(f"{where}.reference", "a cheque needs its number")
        if non_cash + payment.amount > total_incl:
            raise PaymentRefusedError(f"{where}.amount", f"{payment.method.value} may not pay more than what remains")
        non_cash += payment.amount

    rounding = 0
    if has_cash and basket.cash_rounding is not CashRoundingRule.NONE:
        rounding = round_cash(total_incl - non_cash, basket.cash_rounding).adjustment
    due_after = total_incl + rounding
    paid = non_cash + cash
    if paid > due_after:
        raise PaymentRefusedError(
            "payments", f"{paid} paid for {due_after} due: cash handed over beyond it is tendered"
        )
    return ComputedBasket(
        currency=basket.currency,
        lines=lines,
        taxes=tuple(taxes),
        payments=tuple(basket.payments),
        total_excl_tax=total_excl,
        total_tax=total_tax,
        total_incl_tax=total_incl,
        discounts=sum(gross) - sum(after) - voucher_total,
        vouchers=voucher_total,
        paid=paid,
        cash_rounding=rounding,
        due_after_rounding=due_after,
        remaining=due_after - paid,
        change=change,
    )
