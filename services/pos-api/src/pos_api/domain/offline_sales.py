"""A sale made offline, priced again with the configuration the till held: the ticket it makes, or why it cannot.

The till names every item it priced a sale with, at the version its cache held (`caisse_contracts.sync`). The
history keeps every version; `HeldConfig` is the part of it a batch names, read once. `offline_ticket` prices the
sale's lines with those versions (`pricing.price_lines`, as online), checks the till's unit prices against them,
recomputes the sale with the contracts' basket math and checks the totals the till declares, then makes the ticket
as a basket finalized online makes it (`caisse_contracts.pricing.sale_ticket`). Every input of the ticket is the sale itself or an
immutable version, so the same sale always makes the same ticket: a replay is recognised by its content hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar
from uuid import UUID

from pydantic import ValidationError

from caisse_contracts.basket import BasketError, compute_basket
from caisse_contracts.config import CatalogueOverride, Category, Company, Product, Territory
from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.pricing import Catalogue, SaleIdentity, basket_input, sale_content, sale_ticket, shop_catalogue
from caisse_contracts.sync import OfflineLine, OfflineSale
from pos_api.domain.config import StoredItem
from pos_api.domain.errors import FieldProblem, TicketInconsistentError
from pos_api.domain.pricing import price_lines


@dataclass(frozen=True, slots=True)
class TillPlace:
    """Where the till that syncs sits: its sales are priced in its company's catalogue and its shop."""

    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID


def versions_named(sales: Iterable[OfflineSale], place: TillPlace) -> list[tuple[UUID, int]]:
    """Every (item, version) the sales were priced with: what a batch reads from the history, in one go."""
    named: set[tuple[UUID, int]] = set()
    for sale in sales:
        named.add((place.territory_id, sale.territory_version))
        named.add((place.company_id, sale.company_version))
        for line in sale.lines:
            named.add((line.category_id, line.category_version))
            if line.product_id is not None and line.product_version is not None:
                named.add((line.product_id, line.product_version))
            if line.override_id is not None and line.override_version is not None:
                named.add((line.override_id, line.override_version))
    return sorted(named)


@dataclass(frozen=True, slots=True)
class HeldConfig:
    """The versions of the configuration a batch's sales name, as the history keeps them, by (id, version)."""

    items: dict[tuple[UUID, int], StoredItem]

    @classmethod
    def of(cls, versions: Iterable[StoredItem]) -> HeldConfig:
        return cls({(v.id, v.version): v for v in versions})

    def item(self, entity_type: EntityType, entity_id: UUID, version: int) -> dict[str, Any] | None:
        """The item at that version, if the history has it and it is of that type (deleted is not: it was sold)."""
        found = self.items.get((entity_id, version))
        if found is None or found.entity_type is not entity_type or found.deleted:
            return None
        return found.item


class _LineRefusedError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = FieldProblem(field, reason)


def offline_ticket(sale: OfflineSale, place: TillPlace, held: HeldConfig) -> TicketFinalizedV1:
    """The ticket of a sale made offline, priced with the versions it names; `TicketInconsistentError` listing
    every field that is wrong otherwise (a version unknown, a price that is not the one of its version, totals
    that do not add up, a sale not fully paid)."""
    territory, company, catalogue = _priced_with(sale, place, held)
    content = sale_content(sale)
    priced = price_lines(content, catalogue)
    problems = [
        FieldProblem(f"lines[{i}].unit_price", _price_reason(line, unit_price))
        for i, (line, unit_price) in enumerate(zip(sale.lines, (p.unit_price for p in priced), strict=True))
        if line.product_id is not None and line.unit_price != unit_price
    ]
    if problems:
        raise TicketInconsistentError(problems)
    try:
        computed = compute_basket(basket_input(content, priced, territory, company))
    except BasketError as refused:
        raise TicketInconsistentError([FieldProblem(refused.field, refused.reason)]) from None
    if computed.remaining > 0:
        raise TicketInconsistentError([FieldProblem("payments", f"{computed.remaining} still to pay")])
    declared = {
        "total_excl_tax": (sale.total_excl_tax, computed.total_excl_tax),
        "total_tax": (sale.total_tax, computed.total_tax),
        "total_incl_tax": (sale.total_incl_tax, computed.total_incl_tax),
        "cash_rounding": (sale.cash_rounding, computed.cash_rounding),
        "change_given": (sale.change_given, computed.change),
    }
    problems = [
        FieldProblem(name, f"is {till}, the sale's lines, discounts and payments make {ours}")
        for name, (till, ours) in declared.items()
        if till != ours
    ]
    if problems:
        raise TicketInconsistentError(problems)
    who = SaleIdentity(
        sale.ticket_id, sale.number, place.territory_id, place.company_id, place.shop_id, place.pos_id, sale.session_id
    )
    return sale_ticket(
        who,
        content,
        computed,
        finalized_at=sale.finalized_at.astimezone(UTC),  # the till's offset only gives the local day
        timezone=sale.timezone,
        territory=territory,
        company=company,
    )


def _price_reason(line: OfflineLine, unit_price: int) -> str:
    override = f" and override version {line.override_version}" if line.override_id is not None else ""
    return (
        f"is {line.unit_price}; at product version {line.product_version}{override} this shop sells it at {unit_price}"
    )


def _priced_with(sale: OfflineSale, place: TillPlace, held: HeldConfig) -> tuple[Territory, Company, Catalogue]:
    """The territory, company and catalogue at the versions the sale names, each checked to be the till's."""
    problems: list[FieldProblem] = []
    territory_item = held.item(EntityType.TERRITORY, place.territory_id, sale.territory_version)
    company_item = held.item(EntityType.COMPANY, place.company_id, sale.company_version)
    if territory_item is None:
        problems.append(FieldProblem("territory_version", "is not a version of the till's territory"))
    if company_item is None:
        problems.append(FieldProblem("company_version", "is not a version of the till's company"))
    categories: dict[UUID, Category] = {}
    products: dict[UUID, Product] = {}
    overrides: dict[UUID, CatalogueOverride] = {}
    for i, line in enumerate(sale.lines):
        try:
            _take_line(line, f"lines[{i}]", place, held, categories, products, overrides)
        except _LineRefusedError as refused:
            problems.append(refused.problem)
    try:
        territory = _model(Territory, territory_item, "territory_version") if territory_item else None
        company = _model(Company, company_item, "company_version") if company_item else None
    except _LineRefusedError as refused:
        problems.append(refused.problem)
        territory = company = None
    if problems or territory is None or company is None:
        raise TicketInconsistentError(problems)
    catalogue = shop_catalogue(categories.values(), products.values(), overrides.values())
    return territory, company, Catalogue.of(catalogue, territory)


def _take_line(
    line: OfflineLine,
    where: str,
    place: TillPlace,
    held: HeldConfig,
    categories: dict[UUID, Category],
    products: dict[UUID, Product],
    overrides: dict[UUID, CatalogueOverride],
) -> None:
    """Add the versions a line names to the sale's catalogue, refusing one unknown, another company's or shop's,
    or another version of an item another line of the sale names (a sale is priced at one moment)."""
    category_item = held.item(EntityType.CATEGORY, line.category_id, line.category_version)
    if category_item is None or str(category_item.get("company_id")) != str(place.company_id):
        raise _LineRefusedError(f"{where}.category_version", "is not a version of a category of the till's company")
    category = _model(Category, category_item, f"{where}.category_version")
    _one_version(categories, category, f"{where}.category_version")
    if line.product_id is None or line.product_version is None:
        return
    product_item = held.item(EntityType.PRODUCT, line.product_id, line.product_version)
    if product_item is None or str(product_item.get("company_id")) != str(place.company_id):
        raise _LineRefusedError(f"{where}.product_version", "is not a version of a product of the till's company")
    product = _model(Product, product_item, f"{where}.product_version")
    if product.category_id != line.category_id:
        raise _LineRefusedError(
            f"{where}.category_id", f"at version {product.version} the product is of another category"
        )
    _one_version(products, product, f"{where}.product_version")
    if line.override_id is None or line.override_version is None:
        return
    override_item = held.item(EntityType.CATALOGUE_OVERRIDE, line.override_id, line.override_version)
    if override_item is None:
        raise _LineRefusedError(f"{where}.override_version", "is not a version of a catalogue override")
    override = _model(CatalogueOverride, override_item, f"{where}.override_version")
    if override.shop_id != place.shop_id or override.product_id != line.product_id:
        raise _LineRefusedError(f"{where}.override_id", "is not this shop's override of the product")
    _one_version(overrides, override, f"{where}.override_version")


Held = TypeVar("Held", Category, Product, CatalogueOverride)
Versioned = TypeVar("Versioned", Territory, Company, Category, Product, CatalogueOverride)


def _one_version(taken: dict[UUID, Held], item: Held, field: str) -> None:
    known = taken.setdefault(item.id, item)
    if known.version != item.version:
        raise _LineRefusedError(
            field, f"another line names version {known.version} of this item: a sale is priced with one"
        )


def _model(model: type[Versioned], item: dict[str, Any], field: str) -> Versioned:
    try:
        return model.model_validate(item)
    except ValidationError:  # a version stored before a rule it breaks: it cannot price a sale now
        raise _LineRefusedError(field, "names a version that no longer reads as valid") from None
