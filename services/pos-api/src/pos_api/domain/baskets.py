"""A basket's pure transformations: the math input from priced lines, the ticket it makes, the weights per category,
the receipt."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from caisse_contracts.basket import BasketIn, BasketLineIn, ComputedBasket, Discount
from caisse_contracts.config import Company, Pos, Shop, Territory
from caisse_contracts.events import CategoryWeightV1, TicketFinalizedV1, TicketKind, TicketLineV1
from caisse_contracts.tills import BasketContent, DiscountIn, Receipt, ReceiptLine, ReceiptPayment, ReceiptTax
from pos_api.domain.pricing import PricedLine


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
    weights: dict[UUID, int] = defaultdict(int)
    for line in lines:
        if line.weight_grams:
            weights[line.category_id] += line.weight_grams
    return tuple(CategoryWeightV1(category_id=c, weight_grams=w) for c, w in weights.items())


def receipt_of(ticket: TicketFinalizedV1, shop: Shop, pos: Pos, territory: Territory) -> Receipt:
    """The receipt of a finalized ticket, in the shop's local time; what hw-proxy prints."""
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
