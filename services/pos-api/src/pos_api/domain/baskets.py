"""A basket's pure transformations: the math input from priced lines, the weights per category, the receipt."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID
from zoneinfo import ZoneInfo

from caisse_contracts.basket import BasketIn, BasketLineIn, Discount
from caisse_contracts.config import Company, Pos, Shop, Territory
from caisse_contracts.events import CategoryWeightV1, TicketFinalizedV1, TicketLineV1
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
