"""Basket compute time: a realistic 50-line basket (mixed rates, weighed and unit lines, discounts, cash in XPF).

Pure: it needs neither the stack nor a network, only `caisse_contracts.basket`.
"""

from __future__ import annotations

import statistics
import time
import uuid

from bench.report import Figure
from caisse_contracts.basket import BasketIn, BasketLineIn, Discount, PaymentIn, VoucherIn, compute_basket
from caisse_contracts.events import LineKind, PaymentMethod
from caisse_contracts.money import CashRoundingRule, round_cash

TGC_RATES = (2200, 1100, 600, 300)
"""New Caledonia's TGC rates (22 %, 11 %, 6 %, 3 %), in basis points: the territory that pays in XPF."""


def fifty_lines() -> BasketIn:
    """A busy Saturday basket in XPF: weighed second-hand items, products, a seat, every kind of discount."""
    categories = [uuid.uuid4() for _ in range(6)]
    lines = []
    for n in range(50):
        per_kg = n % 3 == 0
        seat = n == 49
        lines.append(
            BasketLineIn(
                line_id=uuid.uuid4(),
                kind=LineKind.EVENT_SEAT if seat else LineKind.CATEGORY_ITEM if per_kg else LineKind.PRODUCT,
                label=f"Article {n}",
                category_id=categories[n % len(categories)],
                category_label=f"Catégorie {n % len(categories)}",
                revenue_account="7071",
                product_id=None if per_kg else uuid.uuid4(),
                quantity=1 if per_kg else 1 + n % 4,
                unit_price=150 + 37 * n,
                pricing="per_kg" if per_kg else "unit",
                weight_grams=250 + 13 * n if per_kg else None,
                tax_rate_bp=TGC_RATES[n % len(TGC_RATES)],
                discount=(
                    Discount(kind="percent", value_bp=1000)
                    if n % 7 == 0
                    else Discount(kind="amount", value=50)
                    if n % 11 == 0
                    else None
                ),
            )
        )
    draft = BasketIn(
        currency="XPF",
        prices_include_tax=True,
        cash_rounding=CashRoundingRule.NEAREST_5,
        lines=tuple(lines),
        member_discount_bp=500,
        basket_discount=Discount(kind="amount", value=300),
        vouchers=(VoucherIn(code="BIENVENUE", amount=500),),
    )
    due = compute_basket(draft).total_incl_tax
    # a third by card, chosen so that what is left for cash ends in 3 and is rounded (+2)
    by_card = due // 3 + (due - due // 3 - 3) % 10
    in_cash = round_cash(due - by_card, CashRoundingRule.NEAREST_5).rounded
    payments = (
        PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=by_card, reference="A1B2C3"),
        PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=in_cash, tendered=in_cash + 1000),
    )
    basket = draft.model_copy(update={"payments": payments})
    computed = compute_basket(basket)
    assert computed.fully_paid, computed.remaining
    assert computed.cash_rounding == 2, computed.cash_rounding
    return basket


def run(iterations: int = 2000, repeats: int = 5) -> list[Figure]:
    basket = fifty_lines()
    per_basket_ms = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for _ in range(iterations):
            compute_basket(basket)
        per_basket_ms.append((time.perf_counter_ns() - started) / iterations / 1e6)
    return [
        Figure(
            what="basket compute, 50 lines",
            measured=statistics.median(per_basket_ms),
            unit="ms",
            target=1,
            runs=repeats,
            spread=f"{min(per_basket_ms):.3f}–{max(per_basket_ms):.3f} ms",
        )
    ]
