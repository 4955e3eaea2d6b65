"""Rules of the configuration: which entity hangs under which, who may change what, versions and patches.

An item is the JSON of a `caisse_contracts.config` model. Every change bumps its version and yields the
RFC 6902 patch from the previous version, which `config.changed` carries beside the full item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import jsonpatch  # RFC 6902, pure
from pydantic import BaseModel

from caisse_contracts.config import (
    CatalogueOverride,
    CatalogueOverrideFields,
    Category,
    CategoryFields,
    Company,
    CompanyFields,
    ItemBase,
    Operator,
    OperatorFields,
    Pos,
    PosFields,
    Product,
    ProductFields,
    Role,
    Shop,
    ShopFields,
    Territory,
    TerritoryFields,
)
from caisse_contracts.events import EntityType
from pos_api.domain.errors import ForbiddenError, InUseError, InvalidReferenceError, StaleVersionError


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """How one entity type is edited: its input fields, its item model and the field naming its parent."""

    entity_type: EntityType
    fields: type[BaseModel]
    item: type[ItemBase]
    parent: tuple[str, EntityType] | None
    path: str


SPECS: Final[dict[EntityType, EntitySpec]] = {
    spec.entity_type: spec
    for spec in (
        EntitySpec(EntityType.TERRITORY, TerritoryFields, Territory, None, "territories"),
        EntitySpec(EntityType.COMPANY, CompanyFields, Company, ("territory_id", EntityType.TERRITORY), "companies"),
        EntitySpec(EntityType.SHOP, ShopFields, Shop, ("company_id", EntityType.COMPANY), "shops"),
        EntitySpec(EntityType.POS, PosFields, Pos, ("shop_id", EntityType.SHOP), "pos"),
        EntitySpec(EntityType.CATEGORY, CategoryFields, Category, ("company_id", EntityType.COMPANY), "categories"),
        EntitySpec(EntityType.PRODUCT, ProductFields, Product, ("category_id", EntityType.CATEGORY), "products"),
        EntitySpec(
            EntityType.CATALOGUE_OVERRIDE,
            CatalogueOverrideFields,
            CatalogueOverride,
            ("product_id", EntityType.PRODUCT),
            "catalogue-overrides",
        ),
        EntitySpec(EntityType.OPERATOR, OperatorFields, Operator, None, "operators"),
    )
}


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where an item sits: the keys events carry so a till receives only its own hierarchy's changes."""

    territory_id: UUID | None = None
    company_id: UUID | None = None
    shop_id: UUID | None = None
    pos_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class StoredItem:
    entity_type: EntityType
    id: UUID
    version: int
    hierarchy: Hierarchy
    item: dict[str, Any]
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated back-office operator."""

    operator_id: UUID
    role: Role
    shop_id: UUID | None = None
    company_id: UUID | None = None


def hierarchy_of(
    entity_type: EntityType, entity_id: UUID, parent: StoredItem | None, fields: dict[str, Any]
) -> Hierarchy:
    """The hierarchy keys of an item from its parent's: a shop is in its company's territory, and so on."""
    up = parent.hierarchy if parent is not None else Hierarchy()
    match entity_type:
        case EntityType.TERRITORY:
            return Hierarchy(territory_id=entity_id)
        case EntityType.COMPANY:
            return Hierarchy(territory_id=up.territory_id, company_id=entity_id)
        case EntityType.SHOP:
            return Hierarchy(territory_id=up.territory_id, company_id=up.company_id, shop_id=entity_id)
        case EntityType.POS:
            return Hierarchy(up.territory_id, up.company_id, up.shop_id, entity_id)
        case EntityType.CATEGORY | EntityType.PRODUCT:
            return Hierarchy(territory_id=up.territory_id, company_id=up.company_id)
        case EntityType.CATALOGUE_OVERRIDE:
            return Hierarchy(
                territory_id=up.territory_id, company_id=up.company_id, shop_id=UUID(str(fields["shop_id"]))
            )
        case EntityType.OPERATOR:
            return up
    raise ValueError(entity_type)


def authorize(actor: Actor, entity_type: EntityType, where: Hierarchy, *, write: bool) -> None:
    """Federation admins do everything; a shop manager reads their company and writes their own shop only."""
    if actor.role is Role.FEDERATION_ADMIN:
        return
    if actor.role is Role.CASHIER:
        raise ForbiddenError("a cashier has no access to the back office")
    own_company = where.company_id is not None and where.company_id == actor.company_id
    own_shop = where.shop_id is not None and where.shop_id == actor.shop_id
    if not write:
        if own_company or own_shop:
            return
        raise ForbiddenError("outside your company")
    writable = {EntityType.SHOP, EntityType.POS, EntityType.CATALOGUE_OVERRIDE, EntityType.OPERATOR}
    if entity_type in writable and own_shop:
        return
    raise ForbiddenError(f"a shop manager cannot change this {entity_type.value}")


def next_item(
    spec: EntitySpec,
    entity_id: UUID,
    fields: BaseModel,
    *,
    current: StoredItem | None,
    expected_version: int | None,
    now: datetime,
    by: UUID | None,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """The new item (as JSON) and its version; refuses a write based on a stale version."""
    if current is not None:
        if expected_version is not None and expected_version != current.version:
            raise StaleVersionError(spec.entity_type.value, entity_id, current.version)
        version = current.version + 1
    else:
        version = 1
    data = {**fields.model_dump(mode="json"), **(extra or {})}
    item = spec.item.model_validate({**data, "id": entity_id, "version": version, "updated_at": now, "updated_by": by})
    return item.model_dump(mode="json"), version


def patch_from(previous: dict[str, Any] | None, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The RFC 6902 operations that turn the previous version into this one."""
    operations: list[dict[str, Any]] = jsonpatch.make_patch(previous or {}, item).patch
    return operations


TAX_CODE_FIELDS: Final[dict[EntityType, str]] = {
    EntityType.CATEGORY: "default_tax_code",
    EntityType.PRODUCT: "tax_code",
}
"""The items that name a tax rate of their territory, and the field that names it."""

SHOWN_USERS: Final = 5
"""How many of the items still using something a refusal names; the rest are counted."""


def tax_codes(territory: dict[str, Any]) -> list[str]:
    return [str(rate["code"]) for rate in territory.get("tax_rates", ())]


def refuse_unknown_tax_code(entity_type: EntityType, fields: dict[str, Any], territory: dict[str, Any]) -> None:
    """A category's default tax and a product's tax are rates of their territory: any other fails every sale."""
    field = TAX_CODE_FIELDS.get(entity_type)
    code = fields.get(field) if field else None
    if field is None or code is None:
        return
    codes = tax_codes(territory)
    if code not in codes:
        raise InvalidReferenceError(
            field, f"{code} is not a tax rate of the territory {territory.get('name')}; it has {', '.join(codes)}"
        )


def _named(users: list[StoredItem]) -> str:
    shown = ", ".join(f"{u.entity_type.value} {u.item.get('name')!r} ({u.id})" for u in users[:SHOWN_USERS])
    more = len(users) - SHOWN_USERS
    return shown + (f" and {more} more" if more > 0 else "")


def refuse_removed_tax_codes(previous: dict[str, Any], territory: dict[str, Any], items: Iterable[StoredItem]) -> None:
    """A territory keeps every tax rate that a category or a product of its companies still names."""
    removed = set(tax_codes(previous)) - set(tax_codes(territory))
    if not removed:
        return
    users: dict[str, list[StoredItem]] = {}
    for item in items:
        field = TAX_CODE_FIELDS.get(item.entity_type)
        code = item.item.get(field) if field else None
        if code in removed:
            users.setdefault(str(code), []).append(item)
    if users:
        reasons = "; ".join(f"{code} is still the tax of {_named(found)}" for code, found in sorted(users.items()))
        raise InvalidReferenceError("tax_rates", reasons)


def refuse_while_used(entity_type: EntityType, field: str, children: list[StoredItem], doing: str) -> None:
    """An item that others name (a category its products, a shop its tills) is not deleted or moved under them."""
    if children:
        raise InUseError(field, f"cannot {doing} this {entity_type.value}: {_named(children)} still name it")
