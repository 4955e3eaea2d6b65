"""From what the till chose to what is priced: catalogue products at the shop's price, category items at their
free price, each with its category's revenue account and its tax rate from the territory.

Nothing here trusts a price from the till for a catalogue product; a product or category of another company,
an inactive product, a missing weight or a seat without capacity are refused with the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.config import Category, Product, ProductKind, Territory, WeightMode
from caisse_contracts.events import LineKind
from caisse_contracts.till_views import ShopCatalogue
from caisse_contracts.tills import BasketContent, BasketLine, DiscountIn
from pos_api.domain.errors import FieldProblem, TicketInconsistentError


@dataclass(frozen=True, slots=True)
class PricedLine:
    line_id: UUID
    kind: LineKind
    label: str
    category_id: UUID
    category_label: str
    revenue_account: str
    product_id: UUID | None
    quantity: int
    unit_price: int
    per_kg: bool
    weight_grams: int | None
    tax_code: str
    tax_rate_bp: int
    discount: DiscountIn | None
    seat_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The shop's sellable catalogue (`domain.catalogue.shop_catalogue`) indexed by id, with the territory's rates."""

    categories: dict[UUID, Category]
    products: dict[UUID, Product]
    tax_rates: dict[str, int]

    @classmethod
    def of(cls, catalogue: ShopCatalogue, territory: Territory) -> Catalogue:
        return cls(
            categories={c.id: c for c in catalogue.categories},
            products={p.id: p for p in catalogue.products},
            tax_rates={t.code: t.rate_bp for t in territory.tax_rates},
        )


def price_lines(content: BasketContent, catalogue: Catalogue) -> list[PricedLine]:
    problems: list[FieldProblem] = []
    priced: list[PricedLine] = []
    first_of_id: dict[UUID, int] = {}
    for i, line in enumerate(content.lines):
        where = f"lines[{i}]"
        if (first := first_of_id.setdefault(line.line_id, i)) != i:
            # a line id names one line for good: credit notes give units back by it
            problems.append(FieldProblem(f"{where}.line_id", f"is the id of lines[{first}] too: each line has its own"))
            continue
        try:
            priced.append(_price(line, catalogue, where))
        except _LineError as exc:
            problems.append(FieldProblem(exc.field, exc.reason))
    if problems:
        raise TicketInconsistentError(problems)
    return priced


class _LineError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _rate(catalogue: Catalogue, code: str, where: str) -> int:
    try:
        return catalogue.tax_rates[code]
    except KeyError:
        raise _LineError(where, f"tax code {code} is not a rate of the territory") from None


def _price(line: BasketLine, catalogue: Catalogue, where: str) -> PricedLine:
    if line.product_id is not None:
        product = catalogue.products.get(line.product_id)
        if product is None:
            raise _LineError(f"{where}.product_id", "is not sold by this shop")
        category = catalogue.categories.get(product.category_id)
        if category is None:
            raise _LineError(f"{where}.product_id", "has no category in this shop's catalogue")
        mode = product.weight_mode
        if mode is not WeightMode.NONE and line.weight_grams is None:
            raise _LineError(f"{where}.weight_grams", "this product is sold with its weight")
        if line.price is not None:
            raise _LineError(f"{where}.price", "a catalogue product is sold at the catalogue's price")
        seat = product.kind is ProductKind.EVENT_SEAT
        tax_code = product.tax_code or category.default_tax_code
        return PricedLine(
            line_id=line.line_id,
            kind=LineKind.EVENT_SEAT if seat else LineKind.PRODUCT,
            label=line.label or product.name,
            category_id=category.id,
            category_label=category.name,
            revenue_account=category.revenue_account,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=product.price,
            per_kg=mode is WeightMode.PER_KG,
            weight_grams=line.weight_grams,
            tax_code=tax_code,
            tax_rate_bp=_rate(catalogue, tax_code, f"{where}.product_id"),
            discount=line.discount,
            seat_capacity=product.capacity if seat else None,
        )
    category = catalogue.categories.get(line.category_id) if line.category_id is not None else None
    if category is None:
        raise _LineError(f"{where}.category_id", "is not a category of this shop's catalogue")
    if category.sold_by_weight and line.weight_grams is None:
        raise _LineError(f"{where}.weight_grams", "items of this category are sold with their weight")
    if line.price is None:
        raise _LineError(f"{where}.price", "a category item needs its free price")
    tax_code = category.default_tax_code
    return PricedLine(
        line_id=line.line_id,
        kind=LineKind.CATEGORY_ITEM,
        label=line.label or category.name,
        category_id=category.id,
        category_label=category.name,
        revenue_account=category.revenue_account,
        product_id=None,
        quantity=line.quantity,
        unit_price=line.price,
        per_kg=False,
        weight_grams=line.weight_grams,
        tax_code=tax_code,
        tax_rate_bp=_rate(catalogue, tax_code, f"{where}.category_id"),
        discount=line.discount,
    )
