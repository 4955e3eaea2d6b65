"""Basket math: lines, discounts, taxes per rate, payments, change and cash rounding — pure, integer, exact.

The till computes its baskets offline with this module and pos-api recomputes them with it: both must agree
to the minor unit. Every amount is an `int` of minor units of the basket's currency; every division that
needs rounding goes through `div_half_up` (round half away from zero, exact on integers, the same result as
`Decimal` with `ROUND_HALF_UP`), never through a float. Amounts entered by the cashier (prices, amount
discounts, vouchers) are in the basis of the prices: tax included when `prices_include_tax`, excluded
otherwise.

Gross of a line: `unit_price × quantity`, or for a price per kilogram `unit_price × weight_grams × quantity
/ 1000`, half up (3.50 €/kg × 1250 g = 437.5 → 438).

Discounts, each on what the previous ones left:
1. the line's own discount (a percentage of the line, or an amount off the whole line);
2. the member-card percentage, then the staff percentage, on each line (so 5 % then 10 % is 14.5 % off);
3. the basket discount (a percentage of, or an amount off, the subtotal), spread over the lines;
4. discount vouchers (amounts, all together), spread over the lines.
A percentage is rounded once where it applies (per line for 1–2, on the subtotal for 3). A basket-level
amount is spread over the lines in proportion to their totals by largest remainder, so each line — and so
each tax rate — gets a whole number of minor units and the shares add up exactly to the amount. A line's
`discount` is everything taken off it, voucher shares included; `ComputedBasket.discounts` is their sum.

Taxes are computed per rate on the rate's total, not line by line: rounding line by line accumulates (three
lines at 1.00 € TTC and 20 % would give 3 × 17 = 51 of VAT where the rate's total gives 50), whereas one
rounding per rate gives the VAT an accountant recomputes from the totals. The rounding is to the nearest
minor unit, a half going up — the usual French rule for VAT (to the nearest cent, half a cent up). Prices tax included:
`VAT = round_half_up(TTC × r / (10000 + r))`, `HT = TTC − VAT`; prices tax excluded:
`VAT = round_half_up(HT × r / 10000)`, `TTC = HT + VAT` (r in basis points). The rate's VAT is then spread
over its lines by largest remainder, so HT + VAT = TTC exactly per line, per rate and in total, the lines
add up to the rates and the rates to the ticket.

Payments: what is left for cash (the amount due minus the other tenders) is rounded with `money.round_cash`
when cash pays part of the ticket and the territory rounds cash (XPF, CHF: to the nearest 5; EUR: never).
The difference is `cash_rounding`, which the caller books on its rounding account, so a cash-rounded ticket
is fully paid and balanced: Σ payment amounts = total due + cash_rounding and nothing remains. `cash_due`
tells the till what cash must still bring: the part left for cash, rounded, minus the cash already taken.
A cash payment's `amount` is what it settles; what the customer handed over is its `tendered`, and the
change is `tendered − amount`. The till may write the cash either as `cash_due` or as any amount that
rounds to it (the `remaining` it shows, unrounded): cash is then booked at the rounded amount, the last
cash payment taking the difference, and a cash payment left with nothing to settle (2 XPF after a card
rounds to 0) is no payment at all, only its rounding. No tender may settle more than what remains, and
only cash is tendered.

This module computes sales. Credit notes are not computed here: they cancel a finalized ticket's own amounts
(see pos-api's credit notes), so they never recompute discounts or taxes from prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from caisse_contracts.events.tickets import LineKind, PaymentMethod, PaymentV1, TaxTotalV1, TicketLineV1
from caisse_contracts.money import CashRoundingRule, round_cash

BASIS_POINTS = 10_000
"""100 % in basis points: rates and percentages are ints of basis points (20 % = 2000, 5.5 % = 550)."""

GRAMS_PER_KILOGRAM = 1000


def div_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded to the nearest int, halves away from zero; exact (denominator > 0).

    The one rounding division of the basket math: it gives what `Decimal` quantized with `ROUND_HALF_UP`
    gives (as `money.to_minor` does), without leaving the integers.
    """
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((2 * -numerator + denominator) // (2 * denominator))


def spread(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` shared in proportion to non-negative `weights` by largest remainder: the shares add up to it.

    Each share is the exact proportional share rounded down or up, never further than one unit away; the
    units left after rounding down go to the largest remainders, ties to the earlier weight, so the result
    is deterministic. With all weights zero only a zero amount can be shared.
    """
    total = sum(weights)
    if total == 0:
        if amount:
            raise ValueError("cannot spread an amount over nothing")
        return [0] * len(weights)
    products = [amount * weight for weight in weights]
    shares = [product // total for product in products]
    left = amount - sum(shares)
    if left:
        remainders = [product % total for product in products]
        # A stable sort keeps equal remainders in their order, reversed or not: ties go to the earlier weight.
        for index in sorted(range(len(remainders)), key=remainders.__getitem__, reverse=True)[:left]:
            shares[index] += 1
    return shares


class BasketError(ValueError):
    """A basket that cannot be computed: `field` says where (e.g. `lines[2].weight_grams`), `reason` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MissingWeightError(BasketError):
    """A line priced per kilogram has no weight."""


class DiscountTooLargeError(BasketError):
    """A discount or voucher takes off more than what it applies to."""


class PaymentRefusedError(BasketError):
    """A payment that the basket cannot take; the subclasses say which rule it breaks."""


class TenderedOnNonCashError(PaymentRefusedError):
    """Only cash is tendered: a card, cheque or gift voucher pays exactly its amount."""


class TenderedBelowAmountError(PaymentRefusedError):
    """Cash handed over is less than the amount it is said to settle."""


class MissingPaymentReferenceError(PaymentRefusedError):
    """A cheque without its number, or a gift voucher without its code."""


class NonCashOverpaymentError(PaymentRefusedError):
    """A card, cheque or gift voucher would settle more than what remains: there is no change on them."""


class CashOverpaymentError(PaymentRefusedError):
    """Cash amounts settle more than what remains: the excess is `tendered`, given back as change."""


Money = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
"""Minor units; `StrictInt` so that `12.5` and `"1250"` are refused."""

Percentage = Annotated[StrictInt, Field(ge=0, le=BASIS_POINTS)]
"""Basis points, 0 to 100 %."""


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Discount(_Input):
    """`{"kind": "percent", "value_bp": 1000}` (10 %) or `{"kind": "amount", "value": 150}` (minor units)."""

    kind: Literal["percent", "amount"]
    value_bp: Percentage | None = None
    value: Money | None = None

    @model_validator(mode="after")
    def _one_value_for_its_kind(self) -> Discount:
        if self.kind == "percent" and (self.value_bp is None or self.value is not None):
            raise ValueError("a percent discount has value_bp and no value")
        if self.kind == "amount" and (self.value is None or self.value_bp is not None):
            raise ValueError("an amount discount has value and no value_bp")
        return self

    def amount_off(self, base: int) -> int:
        """What this discount takes off `base`: the percentage of it (half up), or the amount as it is."""
        if self.value_bp is not None:
            return div_half_up(base * self.value_bp, BASIS_POINTS)
        return self.value or 0


class BasketLineIn(_Input):
    """One line at its price: a catalogue product, a second-hand item of a category, or an event seat."""

    line_id: UUID
    kind: LineKind
    label: StrictStr
    category_id: UUID
    category_label: StrictStr
    revenue_account: StrictStr
    product_id: UUID | None = None
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_price: Money = Field(description="Price of one unit, or of one kilogram when `pricing` is per_kg.")
    pricing: Literal["unit", "per_kg"] = "unit"
    weight_grams: StrictInt | None = Field(
        default=None, ge=0, le=100_000_000, description="Required per kilogram; else optional, for tonnage."
    )
    tax_rate_bp: Percentage
    discount: Discount | None = None


class VoucherIn(_Input):
    """A discount voucher: an amount off the basket (not a tender; a gift voucher is a payment)."""

    code: StrictStr
    amount: StrictInt = Field(gt=0, le=1_000_000_000)


class PaymentIn(_Input):
    """One tender: `amount` is what it settles; for cash only, `tendered` is what the customer handed over."""

    payment_id: UUID
    method: PaymentMethod
    amount: StrictInt = Field(gt=0, le=1_000_000_000)
    tendered: StrictInt | None = Field(default=None, gt=0, le=1_000_000_000)
    reference: StrictStr | None = Field(default=None, description="Cheque number, card authorisation, voucher code.")
    bank: StrictStr | None = None


class BasketIn(_Input):
    """Everything the basket math needs, prices already resolved from the catalogue."""

    currency: StrictStr = Field(pattern=r"^[A-Z]{3}$")
    prices_include_tax: StrictBool = True
    cash_rounding: CashRoundingRule = CashRoundingRule.NONE
    lines: tuple[BasketLineIn, ...] = ()
    basket_discount: Discount | None = None
    member_discount_bp: Percentage | None = None
    employee_discount_bp: Percentage | None = None
    vouchers: tuple[VoucherIn, ...] = ()
    payments: tuple[PaymentIn, ...] = ()


@dataclass(frozen=True, slots=True)
class ComputedLine:
    source: BasketLineIn
    gross: int
    """Price × quantity (or × weight), before any discount."""
    discount: int
    """Everything taken off the line: its own discount, card and staff, its shares of basket and vouchers."""
    total_incl_tax: int
    total_excl_tax: int
    tax: int


@dataclass(frozen=True, slots=True)
class ComputedTax:
    """Totals of one tax rate; `total_excl_tax + tax == total_incl_tax`."""

    rate_bp: int
    total_excl_tax: int
    tax: int
    total_incl_tax: int


@dataclass(frozen=True, slots=True)
class ComputedBasket:
    currency: str
    lines: tuple[ComputedLine, ...]
    taxes: tuple[ComputedTax, ...]
    """One per rate, by increasing rate."""
    payments: tuple[PaymentIn, ...]
    """The payments as booked: cash at its rounded amount (see the module's docstring)."""
    total_excl_tax: int
    total_tax: int
    total_incl_tax: int
    """What the basket costs after every discount: the amount due before cash rounding."""
    discounts: int
    """Everything taken off the gross, vouchers included: Σ of the lines' discounts."""
    vouchers: int
    """The part of `discounts` that discount vouchers took off."""
    paid: int
    """Σ of the payments' amounts (what they settle; change excluded)."""
    cash_rounding: int
    """Rounded cash amount minus the amount left for cash; 0 without cash or in a territory that never rounds."""
    due_after_rounding: int
    """`total_incl_tax + cash_rounding`: what the payments must add up to."""
    remaining: int
    """What is still to pay, ≥ 0."""
    cash_due: int
    """What cash must still bring if it settles the rest: the part left for cash, rounded, minus the cash paid.

    0 when that part rounds to nothing (XPF 2 left after a card): a cash payment of what remains then settles
    the ticket with no coin changing hands, the rest booked as rounding."""
    change: int
    """Σ (tendered − amount) over the cash payments."""

    @property
    def fully_paid(self) -> bool:
        """Nothing remains to pay on a basket that has lines."""
        return self.remaining == 0 and bool(self.lines)

    def to_ticket_lines(self) -> tuple[TicketLineV1, ...]:
        """The lines of `ticket.finalized`, one per computed line, in the basket's order."""
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
        """The tax totals of `ticket.finalized`, one per rate."""
        return tuple(
            TaxTotalV1(
                rate_bp=tax.rate_bp, total_excl_tax=tax.total_excl_tax, tax=tax.tax, total_incl_tax=tax.total_incl_tax
            )
            for tax in self.taxes
        )

    def to_ticket_payments(self) -> tuple[PaymentV1, ...]:
        """The payments of `ticket.finalized`, as the cashier took them."""
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
            "taxes": [
                {
                    "rate_bp": tax.rate_bp,
                    "total_excl_tax": tax.total_excl_tax,
                    "tax": tax.tax,
                    "total_incl_tax": tax.total_incl_tax,
                }
                for tax in self.taxes
            ],
            "total_excl_tax": self.total_excl_tax,
            "total_tax": self.total_tax,
            "total_incl_tax": self.total_incl_tax,
            "discounts": self.discounts,
            "vouchers": self.vouchers,
            "paid": self.paid,
            "cash_rounding": self.cash_rounding,
            "due_after_rounding": self.due_after_rounding,
            "remaining": self.remaining,
            "cash_due": self.cash_due,
            "change": self.change,
            "fully_paid": self.fully_paid,
        }


def _line_gross(line: BasketLineIn, index: int) -> int:
    if line.pricing == "per_kg":
        if line.weight_grams is None:
            raise MissingWeightError(f"lines[{index}].weight_grams", "a price per kilogram needs the weight")
        return div_half_up(line.unit_price * line.weight_grams * line.quantity, GRAMS_PER_KILOGRAM)
    return line.unit_price * line.quantity


def _after_line_discounts(basket: BasketIn, gross: list[int]) -> list[int]:
    """Each line after its own discount, then the member-card and staff percentages."""
    percentages = [bp for bp in (basket.member_discount_bp, basket.employee_discount_bp) if bp]
    after = []
    for index, (line, amount) in enumerate(zip(basket.lines, gross, strict=True)):
        left = amount
        if line.discount is not None:
            off = line.discount.amount_off(left)
            if off > left:
                raise DiscountTooLargeError(f"lines[{index}].discount", f"{off} is more than the line's {left}")
            left -= off
        for bp in percentages:
            left -= div_half_up(left * bp, BASIS_POINTS)
        after.append(left)
    return after


def _less_basket_discount(basket: BasketIn, amounts: list[int]) -> list[int]:
    discount = basket.basket_discount
    if discount is None:
        return amounts
    subtotal = sum(amounts)
    off = discount.amount_off(subtotal)
    if off > subtotal:
        raise DiscountTooLargeError("basket_discount", f"{off} is more than the basket's {subtotal}")
    if not off:
        return amounts
    return [amount - share for amount, share in zip(amounts, spread(off, amounts), strict=True)]


def _less_vouchers(basket: BasketIn, amounts: list[int]) -> tuple[list[int], int]:
    if not basket.vouchers:
        return amounts, 0
    subtotal = sum(amounts)
    total = 0
    for index, voucher in enumerate(basket.vouchers):
        total += voucher.amount
        if total > subtotal:
            raise DiscountTooLargeError(
                f"vouchers[{index}].amount", f"vouchers worth {total} are more than the basket's {subtotal}"
            )
    return [amount - share for amount, share in zip(amounts, spread(total, amounts), strict=True)], total


def _taxes(basket: BasketIn, amounts: list[int]) -> tuple[list[int], list[ComputedTax]]:
    """The tax of each line and of each rate: one rounding per rate, spread over the rate's lines."""
    lines_of_rate: dict[int, list[int]] = {}
    for index, line in enumerate(basket.lines):
        lines_of_rate.setdefault(line.tax_rate_bp, []).append(index)
    line_tax = [0] * len(amounts)
    taxes = []
    for rate in sorted(lines_of_rate):
        members = lines_of_rate[rate]
        bases = [amounts[i] for i in members]
        base = sum(bases)
        if basket.prices_include_tax:
            tax = div_half_up(base * rate, BASIS_POINTS + rate)
            taxes.append(ComputedTax(rate, base - tax, tax, base))
        else:
            tax = div_half_up(base * rate, BASIS_POINTS)
            taxes.append(ComputedTax(rate, base, tax, base + tax))
        for index, share in zip(members, spread(tax, bases), strict=True):
            line_tax[index] = share
    return line_tax, taxes


@dataclass(frozen=True, slots=True)
class _Settlement:
    payments: tuple[PaymentIn, ...]
    paid: int
    cash_rounding: int
    cash_due: int
    change: int


def _check_tenders(basket: BasketIn) -> None:
    for index, payment in enumerate(basket.payments):
        where = f"payments[{index}]"
        if payment.method is PaymentMethod.CASH:
            if payment.tendered is not None and payment.tendered < payment.amount:
                raise TenderedBelowAmountError(
                    f"{where}.tendered", f"{payment.tendered} handed over is less than the {payment.amount} paid"
                )
            continue
        if payment.tendered is not None:
            raise TenderedOnNonCashError(f"{where}.tendered", f"only cash is tendered, not {payment.method.value}")
        if payment.method is PaymentMethod.CHEQUE and not payment.reference:
            raise MissingPaymentReferenceError(f"{where}.reference", "a cheque needs its number")
        if payment.method is PaymentMethod.VOUCHER and not payment.reference:
            raise MissingPaymentReferenceError(f"{where}.reference", "a gift voucher needs its code")


def _cash_booked_at(payments: tuple[PaymentIn, ...], difference: int) -> tuple[PaymentIn, ...]:
    """The payments with `difference` added to the cash, from the last cash payment back; one left at 0 goes."""
    booked = list(payments)
    for index in reversed(range(len(booked))):
        payment = booked[index]
        if not difference or payment.method is not PaymentMethod.CASH:
            continue
        amount = max(payment.amount + difference, 0)
        difference -= amount - payment.amount
        if payment.tendered is not None and payment.tendered < amount:
            raise TenderedBelowAmountError(
                f"payments[{index}].tendered",
                f"{payment.tendered} handed over is less than the {amount} this cash comes to after rounding",
            )
        booked[index] = payment.model_copy(update={"amount": amount})
    return tuple(p for p in booked if p.amount)


def _settle(basket: BasketIn, due: int) -> _Settlement:
    """Check the payments against the amount due and round what cash pays."""
    _check_tenders(basket)
    non_cash = sum(p.amount for p in basket.payments if p.method is not PaymentMethod.CASH)
    cash = sum(p.amount for p in basket.payments if p.method is PaymentMethod.CASH)
    has_cash = any(p.method is PaymentMethod.CASH for p in basket.payments)

    left_for_cash = due - non_cash
    rounded_for_cash = left_for_cash
    if left_for_cash > 0:
        rounded_for_cash = round_cash(left_for_cash, basket.cash_rounding).rounded
    payments = basket.payments
    written_unrounded = has_cash and left_for_cash > 0 and cash != rounded_for_cash
    if written_unrounded and round_cash(cash, basket.cash_rounding).rounded == rounded_for_cash:
        # the cash written as `remaining` showed it, unrounded: it is the rounded amount that changes hands
        payments = _cash_booked_at(payments, rounded_for_cash - cash)
        cash = rounded_for_cash
    cash_rounding = rounded_for_cash - left_for_cash if has_cash else 0
    due_after_rounding = due + cash_rounding

    non_cash_applied = 0
    applied = 0
    change = 0
    for index, payment in enumerate(payments):
        remaining = due_after_rounding - applied
        if payment.method is PaymentMethod.CASH:
            if payment.amount > remaining:
                raise CashOverpaymentError(
                    f"payments[{index}].amount",
                    f"cash settles at most the {max(remaining, 0)} due in cash after rounding; what is handed over "
                    "beyond it is tendered and given back as change",
                )
            if payment.tendered is not None:
                change += payment.tendered - payment.amount
        else:
            limit = min(remaining, due - non_cash_applied)
            if payment.amount > limit:
                raise NonCashOverpaymentError(
                    f"payments[{index}].amount",
                    f"{payment.method.value} may pay at most the {max(limit, 0)} that remains",
                )
            non_cash_applied += payment.amount
        applied += payment.amount

    return _Settlement(
        payments=payments,
        paid=applied,
        cash_rounding=cash_rounding,
        cash_due=max(rounded_for_cash - cash, 0),
        change=change,
    )


def compute_basket(basket: BasketIn) -> ComputedBasket:
    """Every total of the basket; raises a `BasketError` naming the field when it cannot be computed."""
    gross = [_line_gross(line, index) for index, line in enumerate(basket.lines)]
    amounts = _less_basket_discount(basket, _after_line_discounts(basket, gross))
    amounts, vouchers = _less_vouchers(basket, amounts)
    line_tax, taxes = _taxes(basket, amounts)

    if basket.prices_include_tax:
        lines = tuple(
            ComputedLine(line, gross[i], gross[i] - amounts[i], amounts[i], amounts[i] - line_tax[i], line_tax[i])
            for i, line in enumerate(basket.lines)
        )
    else:
        lines = tuple(
            ComputedLine(line, gross[i], gross[i] - amounts[i], amounts[i] + line_tax[i], amounts[i], line_tax[i])
            for i, line in enumerate(basket.lines)
        )
    total_incl_tax = sum(tax.total_incl_tax for tax in taxes)
    total_tax = sum(tax.tax for tax in taxes)
    settlement = _settle(basket, total_incl_tax)
    due_after_rounding = total_incl_tax + settlement.cash_rounding
    return ComputedBasket(
        currency=basket.currency,
        lines=lines,
        taxes=tuple(taxes),
        payments=settlement.payments,
        total_excl_tax=total_incl_tax - total_tax,
        total_tax=total_tax,
        total_incl_tax=total_incl_tax,
        discounts=sum(gross) - sum(amounts),
        vouchers=vouchers,
        paid=settlement.paid,
        cash_rounding=settlement.cash_rounding,
        due_after_rounding=due_after_rounding,
        remaining=due_after_rounding - settlement.paid,
        cash_due=settlement.cash_due,
        change=settlement.change,
    )
