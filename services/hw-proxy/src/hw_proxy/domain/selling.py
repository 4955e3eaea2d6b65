"""Selling on the till: a basket priced from the config cache with the contracts' pricing (the very code pos-api
prices with), and a finalized sale built so that pos-api books the same ticket whichever way it reaches it.

`Selling.of` reads the catalogue the till's shop sells from out of the cached items (its company's categories and
products, its shop's overrides), keeping each item's version. `make_sale` prices a basket, names on each line the
versions it was priced with (`OfflineSale`, what `POST /v1/sync/sales` sends) and computes the ticket from that
sale read back as a basket (`caisse_contracts.pricing.sale_content`), exactly as pos-api's sync does: the ticket
posted online (`POST /v1/tickets`) and the one pos-api makes from the synced sale have the same content hash, so a
sale whose online answer was lost and which is then synced is answered `already_exists`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from caisse_contracts.basket import BasketError, ComputedBasket, compute_basket
from caisse_contracts.config import CatalogueOverride, Category, Product
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.events.config import EntityType
from caisse_contracts.pricing import (
    Catalogue,
    PricingProblem,
    PricingRefusedError,
    SaleIdentity,
    basket_input,
    price_lines,
    sale_content,
    sale_ticket,
    shop_catalogue,
)
from caisse_contracts.sync import OfflineLine, OfflineSale
from caisse_contracts.tills import BasketContent, CreditLineIn, RefundIn
from hw_proxy.domain.config_cache import CachedItem
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.domain.till_status import Place

Model = TypeVar("Model", bound=BaseModel)


def _valid(model: type[Model], item: dict[str, Any] | None) -> Model | None:
    if item is None:
        return None
    try:
        return model.model_validate(item)
    except ValidationError:  # an item this till cannot read is not sold from: pos-api would refuse it too
        return None


@dataclass(frozen=True, slots=True)
class Selling:
    """What the till sells from now: its place, its shop's catalogue, and the version of every item priced with."""

    place: Place
    catalogue: Catalogue
    categories: dict[UUID, Category]
    products: dict[UUID, Product]
    overrides: dict[UUID, CatalogueOverride]
    """The shop's override of a product, by product id."""

    @classmethod
    def of(cls, place: Place, items: Sequence[CachedItem]) -> Selling:
        """The till's catalogue from its config cache: the company's categories and products, the shop's overrides."""
        categories: dict[UUID, Category] = {}
        products: dict[UUID, Product] = {}
        overrides: dict[UUID, CatalogueOverride] = {}
        company_id, shop_id = place.company.id, place.shop.id
        for cached in items:
            if not cached.live:
                continue
            kind = cached.key.entity_type
            if kind is EntityType.CATEGORY:
                category = _valid(Category, cached.item)
                if category is not None and category.company_id == company_id:
                    categories[category.id] = category
            elif kind is EntityType.PRODUCT:
                product = _valid(Product, cached.item)
                if product is not None and product.company_id == company_id:
                    products[product.id] = product
            elif kind is EntityType.CATALOGUE_OVERRIDE:
                override = _valid(CatalogueOverride, cached.item)
                if override is not None and override.shop_id == shop_id:
                    overrides[override.product_id] = override
        sold = shop_catalogue(categories.values(), products.values(), overrides.values())
        return cls(place, Catalogue.of(sold, place.territory), categories, products, overrides)


def compute(content: BasketContent, selling: Selling) -> ComputedBasket:
    """The basket's totals, as pos-api computes them; `PricingRefusedError` naming every field refused."""
    priced = price_lines(content, selling.catalogue)
    try:
        return compute_basket(basket_input(content, priced, selling.place.territory, selling.place.company))
    except BasketError as refused:
        raise PricingRefusedError([PricingProblem(refused.field, refused.reason)]) from None


def make_sale(
    content: BasketContent,
    selling: Selling,
    *,
    ticket_id: UUID,
    session_id: UUID,
    finalized_at: datetime,
    number: int = 1,
    basket_id: UUID | None = None,
) -> FinalizedSale:
    """The sale of a paid basket: the offline sale naming the versions it was priced with, and its ticket, made from
    that sale as pos-api makes it. `PricingRefusedError` names what is wrong (a line, an unpaid rest).

    The number is the ticket's identity, not its content: `numbered` gives the same sale another number."""
    place = selling.place
    priced = price_lines(content, selling.catalogue)
    lines: list[OfflineLine] = []
    for basket_line, line in zip(content.lines, priced, strict=True):
        product = selling.products.get(line.product_id) if line.product_id is not None else None
        override = selling.overrides.get(line.product_id) if line.product_id is not None else None
        lines.append(
            OfflineLine(
                line_id=line.line_id,
                category_id=line.category_id,
                category_version=selling.categories[line.category_id].version,
                product_id=line.product_id,
                product_version=product.version if product is not None else None,
                override_id=override.id if override is not None else None,
                override_version=override.version if override is not None else None,
                quantity=line.quantity,
                unit_price=line.unit_price,
                weight_grams=line.weight_grams,
                label=basket_line.label,
                discount=line.discount,
            )
        )
    if not lines:
        raise PricingRefusedError([PricingProblem("lines", "a sale sells at least one line")])
    try:
        draft = OfflineSale(
            ticket_id=ticket_id,
            number=number,
            shop_id=place.shop.id,
            pos_id=place.pos.id,
            session_id=session_id,
            operator_id=content.operator_id,
            finalized_at=finalized_at,
            timezone=place.territory.timezone,
            territory_version=place.territory.version,
            company_version=place.company.version,
            lines=tuple(lines),
            basket_discount=content.basket_discount,
            member_card=content.member_card,
            employee=content.employee,
            vouchers=content.vouchers,
            payments=content.payments,
            pickup_number=content.pickup_number,
            total_excl_tax=0,
            total_tax=0,
            total_incl_tax=0,
        )
    except ValidationError as invalid:
        error = invalid.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "content"
        raise PricingRefusedError([PricingProblem(field, error["msg"])]) from None
    again = sale_content(draft)  # what pos-api reads back from the synced sale: the ticket is made from it
    computed = compute(again, selling)
    if computed.remaining > 0:
        raise PricingRefusedError([PricingProblem("payments", f"{computed.remaining} still to pay")])
    sale = draft.model_copy(
        update={
            "total_excl_tax": computed.total_excl_tax,
            "total_tax": computed.total_tax,
            "total_incl_tax": computed.total_incl_tax,
            "cash_rounding": computed.cash_rounding,
            "change_given": computed.change,
        }
    )
    who = SaleIdentity(ticket_id, number, place.territory.id, place.company.id, place.shop.id, place.pos.id, session_id)
    ticket = sale_ticket(
        who,
        again,
        computed,
        finalized_at=finalized_at,
        timezone=place.territory.timezone,
        territory=place.territory,
        company=place.company,
    )
    return FinalizedSale(sale, ticket, basket_id)


def numbered(done: FinalizedSale, number: int) -> FinalizedSale:
    """The same sale under the till's number (given in the transaction that stores it)."""
    return FinalizedSale(
        done.sale.model_copy(update={"number": number}),
        done.ticket.model_copy(update={"number": number}),
        done.basket_id,
    )


def credit_note_differences(
    made: TicketFinalizedV1,
    lines: Sequence[CreditLineIn],
    payments: Sequence[RefundIn],
    operator_id: UUID | None,
) -> list[tuple[str, str]]:
    """What a credit note asked again under the id of one made (`made`) asks otherwise, field by field: the lines
    and units given back, the refunds (id, method, amount, reference), and the operator when one is named. None: the
    same credit note, answered again; otherwise it is another credit note under a taken id, a conflict."""
    problems: list[tuple[str, str]] = []
    given = [(line.line_id, -line.quantity) for line in made.lines]
    if len(lines) != len(given):
        problems.append(("lines", f"gives back {len(lines)} line(s); the credit note made gave back {len(given)}"))
    else:
        for i, (line, (line_id, quantity)) in enumerate(zip(lines, given, strict=True)):
            if line.line_id != line_id:
                problems.append((f"lines[{i}].line_id", f"is {line.line_id}; the credit note made gave back {line_id}"))
            if line.quantity != quantity:
                problems.append(
                    (f"lines[{i}].quantity", f"is {line.quantity}; the credit note made gave back {quantity}")
                )
    refunds = [(p.payment_id, p.method, -p.amount, p.reference) for p in made.payments]
    if len(payments) != len(refunds):
        problems.append(("payments", f"has {len(payments)} refund(s); the credit note made had {len(refunds)}"))
    else:
        for i, (payment, refund) in enumerate(zip(payments, refunds, strict=True)):
            asked = (payment.payment_id, payment.method, payment.amount, payment.reference)
            for name, mine, theirs in zip(("payment_id", "method", "amount", "reference"), asked, refund, strict=True):
                if mine != theirs:
                    problems.append((f"payments[{i}].{name}", f"is {mine}; the credit note made had {theirs}"))
    if operator_id is not None and operator_id != made.operator_id:
        problems.append(("operator_id", f"is {operator_id}; the credit note made was by {made.operator_id}"))
    return problems
