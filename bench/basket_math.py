"""Basket compute time: a realistic 50-line basket (mixed rates, weighed and unit lines, discounts, cash in XPF)."""

from __future__ import annotations

import statistics
import time
import uuid

from bench.report import Figure
from caisse_contracts.basket import BasketIn, BasketLineIn, Discount, PaymentIn, compute_basket
from caisse_contracts.events import LineKind, PaymentMethod
from caisse_contracts.money import CashRoundingRule

RATES = (2200, 1100, 600, 300)


def fifty_lines() -> BasketIn:
    lines = []
    for n in range(50):
        per_kg = n % 3 == 0
        lines.append(
            BasketLineIn(
                line_id=uuid.uuid4(),
                kind=LineKind.CATEGORY_ITEM if per_kg else LineKind.PRODUCT,
                label=f"Article {n}",
                category_id=uuid.uuid4(),
                category_label="Textile",
                revenue_account="7071",
                quantity=1 + n % 4,
                unit_price=150 + 37 * n,
                pricing="per_kg" if per_kg else "unit",
                weight_grams=250 + 13 * n if per_kg else None,
                tax_rate_bp=RATES[n % len(RATES)],
                discount=Discount(kind="percent", value_bp=1000) if n % 7 == 0 else None,
            )
        )
    draft = BasketIn(
        currency="XPF",
        cash_rounding=CashRoundingRule.NEAREST_5,
        lines=lines,
        member_discount_bp=500,
        basket_discount=Discount(kind="amount", value=300),
    )
    due = compute_basket(draft).total_incl_tax
    card = due // 3
    cash = due - card
    payments = [
        PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=card, reference="A1"),
        PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=cash - cash % 5, tendered=cash + 1000),
    ]
    return draft.model_copy(update={"payments": payments})


def run(iterations: int = 2000, repeats: int = 5) -> list[Figure]:
    basket = fifty_lines()
    compute_basket(basket)
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
