"""Pricing shared by pos-api and the till (hw-proxy): from what the cashier chose to the ticket it makes.

One code for both sides, so that a basket rung up on a till offline is priced, computed and ticketed exactly as
pos-api prices it online and as it prices the same sale again when the till syncs it: the same lines, totals and
content hash, whichever way the sale reaches pos-api.

- `shop_catalogue`: the company's categories and products with the shop's overrides (inactive ones left out);
- `Catalogue` / `price_lines`: catalogue products at the shop's price, category items at their free price, each
  with its category's revenue account and its tax rate from the territory. Nothing trusts a price from the till
  for a catalogue product; a product or category the shop does not sell, a missing weight or a price set on a
  catalogue product are refused, every problem named by its field (`PricingRefusedError`);
- `basket_input`: what `caisse_contracts.basket.compute_basket` needs from the priced lines;
- `sale_ticket` / `category_weights`: the `TicketFinalizedV1` of a computed sale;
- `sale_content`: an offline sale (`caisse_contracts.sync.OfflineSale`) read back as the basket it was;
- `receipt_of`: the receipt of a finalized ticket, in the shop's local time.

Pure functions over the contracts' models: no I/O, no service's types. Each service maps `PricingRefusedError`
to its own answer (pos-api's 422 `ticket-inconsistent`, the till's 422 problem).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from caisse_contracts.basket import BasketIn, BasketLineIn, ComputedBasket, Discount
from caisse_contracts.config import (
    CatalogueOverride,
    Category,
    Company,
    Pos,
    Product,
    ProductKind,
    Shop,
    Territory,
    WeightMode,
)
from caisse_contracts.events import CategoryWeightV1, LineKind, TicketFinalizedV1, TicketKind, TicketLineV1
from caisse_contracts.sync import OfflineSale
from caisse_contracts.till_views import ShopCatalogue
from caisse_contracts.tills import (
    BasketContent,
    BasketLine,
    DiscountIn,
    Receipt,
    ReceiptLine,
    ReceiptPayment,
    ReceiptTax,
)


@dataclass(frozen=True, slots=True)
class PricingProblem:
    """One thing wrong with a basket: `field` says where (`lines[2].product_id`), `reason` why."""

    field: str
    reason: str


class PricingRefusedError(ValueError):
    """A basket that cannot be priced, with every problem found (a service answers it as its own 4xx)."""

    def __init__(self, problems: Sequence[PricingProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = tuple(problems)


def shop_catalogue(
    categories: Iterable[Category], products: Iterable[Product], overrides: Iterable[CatalogueOverride]
) -> ShopCatalogue:
    """Categories and the products the shop sells, each at the shop's price; inactive ones left out."""
    by_product = {o.product_id: o for o in overrides}
    sold: list[Product] = []
    for product in products:
        override = by_product.get(product.id)
        effective = product
        if override is not None:
            changes = {"price": override.price, "active": override.active}
            effective = product.model_copy(update={k: v for k, v in changes.items() if v is not None})
        if effective.active:
            sold.append(effective)
    return ShopCatalogue(categories=tuple(categories), products=tuple(sold))


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line as priced: its kind, label, category and account, the unit price charged and the tax rate."""

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
    """The shop's sellable catalogue (`shop_catalogue`) indexed by id, with the territory's rates."""

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
    """Every line of the basket priced from the catalogue, or `PricingRefusedError` naming every line refused."""
    problems: list[PricingProblem] = []
    priced: list[PricedLine] = []
    first_of_id: dict[UUID, int] = {}
    for i, line in enumerate(content.lines):
        where = f"lines[{i}]"
        if (first := first_of_id.setdefault(line.line_id, i)) != i:
            # a line id names one line for good: credit notes give units back by it
            problems.append(
                PricingProblem(f"{where}.line_id", f"is the id of lines[{first}] too: each line has its own")
            )
            continue
        try:
            priced.append(_price(line, catalogue, where))
        except _LineError as exc:
            problems.append(PricingProblem(exc.field, exc.reason))
    if problems:
        raise PricingRefusedError(problems)
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


def _discount(discount: DiscountIn | None) -> Discount | None:
    if discount is None:
        return None
    if discount.kind == "percent":
        return Discount(kind="percent", value_bp=discount.value)
    return Discount(kind="amount", value=discount.value)


def basket_input(content: BasketContent, priced: list[PricedLine], territory: Territory, company: Company) -> BasketIn:
    """What `compute_basket` needs: lines at their catalogue or free price, the company's card and staff rates."""
    return BasketIn(
        currency=territory.currency,
        prices_include_tax=territory.prices_include_tax,
        cash_rounding=territory.cash_rounding,
        lines=[
            BasketLineIn(
                line_id=line.line_id,
                kind=line.kind,
                label=line.label,
                category_id=line.category_id,
                category_label=line.category_label,
                revenue_account=line.revenue_account,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                pricing="per_kg" if line.per_kg else "unit",
                weight_grams=line.weight_grams,
                tax_rate_bp=line.tax_rate_bp,
                discount=_discount(line.discount),
            )
            for line in priced
        ],
        basket_discount=_discount(content.basket_discount),
        member_discount_bp=company.member_discount_bp if content.member_card else None,
        employee_discount_bp=company.employee_discount_bp if content.employee else None,
        vouchers=content.vouchers,
        payments=content.payments,
    )


@dataclass(frozen=True, slots=True)
class SaleIdentity:
    """Who made a sale and under which number: the ticket's id, its till's number, where the till sits, its session."""

    ticket_id: UUID
    number: int
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID
    session_id: UUID


def sale_ticket(
    who: SaleIdentity,
    content: BasketContent,
    computed: ComputedBasket,
    *,
    finalized_at: datetime,
    timezone: str,
    territory: Territory,
    company: Company,
) -> TicketFinalizedV1:
    """The ticket of a computed sale: the same for a basket finalized online and for a sale synced after working
    offline, so that both book alike. `timezone` gives its local date (the business day)."""
    lines = computed.to_ticket_lines()
    return TicketFinalizedV1(
        ticket_id=who.ticket_id,
        number=who.number,
        kind=TicketKind.SALE,
        territory_id=who.territory_id,
        company_id=who.company_id,
        shop_id=who.shop_id,
        pos_id=who.pos_id,
        session_id=who.session_id,
        operator_id=content.operator_id,
        finalized_at=finalized_at,
        local_date=finalized_at.astimezone(ZoneInfo(timezone)).date(),
        currency=territory.currency,
        prices_include_tax=territory.prices_include_tax,
        lines=lines,
        taxes=computed.to_ticket_taxes(),
        payments=computed.to_ticket_payments(),
        total_excl_tax=computed.total_excl_tax,
        total_tax=computed.total_tax,
        total_incl_tax=computed.total_incl_tax,
        cash_rounding=computed.cash_rounding,
        rounding_account=company.accounts.cash_rounding if computed.cash_rounding else None,
        change_given=computed.change,
        category_weights=category_weights(lines),
        pickup_number=content.pickup_number,
    )


def category_weights(lines: tuple[TicketLineV1, ...]) -> tuple[CategoryWeightV1, ...]:
    """The weight sold per category (grams), in the order the categories first appear: what the reports weigh."""
    weights: dict[UUID, int] = defaultdict(int)
    for line in lines:
        if line.weight_grams:
            weights[line.category_id] += line.weight_grams
    return tuple(CategoryWeightV1(category_id=c, weight_grams=w) for c, w in weights.items())


def sale_content(sale: OfflineSale) -> BasketContent:
    """An offline sale as the basket it was: what the cashier chose, a category item at its free price, a product at
    none (priced from the catalogue at the versions the sale names, as online)."""
    return BasketContent(
        lines=tuple(
            BasketLine(
                line_id=line.line_id,
                product_id=line.product_id,
                category_id=None if line.product_id is not None else line.category_id,
                quantity=line.quantity,
                price=None if line.product_id is not None else line.unit_price,
                weight_grams=line.weight_grams,
                label=line.label,
                discount=line.discount,
            )
            for line in sale.lines
        ),
        basket_discount=sale.basket_discount,
        member_card=sale.member_card,
        employee=sale.employee,
        vouchers=sale.vouchers,
        payments=sale.payments,
        pickup_number=sale.pickup_number,
        operator_id=sale.operator_id,
    )


def receipt_of(ticket: TicketFinalizedV1, shop: Shop, pos: Pos, territory: Territory) -> Receipt:
    """The receipt of a finalized ticket, in the shop's local time; what the till prints."""
    codes = {t.rate_bp: t.code for t in territory.tax_rates}
    local = ticket.finalized_at.astimezone(ZoneInfo(territory.timezone))
    return Receipt(
        ticket_id=ticket.ticket_id,
        number=ticket.number,
        kind=ticket.kind.value,
        header=shop.receipt_header or shop.name,
        footer=shop.receipt_footer,
        shop=shop.name,
        pos=pos.name,
        currency=ticket.currency,
        currency_exponent=territory.currency_exponent,
        local_datetime=local.strftime("%Y-%m-%d %H:%M"),
        finalized_at=ticket.finalized_at,
        lines=tuple(
            ReceiptLine(
                label=line.label,
                quantity=line.quantity,
                unit_price=line.unit_price,
                weight_grams=line.weight_grams,
                discount=line.discount,
                total=line.total_incl_tax,
                tax_code=codes.get(line.tax_rate_bp, f"{line.tax_rate_bp // 100}.{line.tax_rate_bp % 100:02d} %"),
            )
            for line in ticket.lines
        ),
        discounts=sum(line.discount for line in ticket.lines),
        taxes=tuple(
            ReceiptTax(
                code=codes.get(t.rate_bp, ""),
                rate_bp=t.rate_bp,
                total_excl_tax=t.total_excl_tax,
                tax=t.tax,
                total_incl_tax=t.total_incl_tax,
            )
            for t in ticket.taxes
        ),
        total_incl_tax=ticket.total_incl_tax,
        cash_rounding=ticket.cash_rounding,
        total_due=ticket.total_incl_tax + ticket.cash_rounding,
        payments=tuple(
            ReceiptPayment(method=p.method, amount=p.amount, tendered=p.tendered, reference=p.reference)
            for p in ticket.payments
        ),
        change_given=ticket.change_given,
        pickup_number=ticket.pickup_number,
    )
