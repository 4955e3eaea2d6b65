"""What a back-office write names must exist where it sits, and what others name must stay: a tax code of the
territory, a category with its products (PRODUCT.md, "What every part must do with bad input")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import InUseError, InvalidReferenceError
from pos_api.service_layer.config import SYSTEM, create_item, delete_item, read_item, update_item
from pos_api.service_layer.services import Services

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
TVA20 = {"code": "TVA20", "label": "TVA 20 %", "rate_bp": 2000}
TVA55 = {"code": "TVA5.5", "label": "TVA 5,5 %", "rate_bp": 550}


@dataclass
class World:
    services: Services
    state: MemoryState
    territory_id: uuid.UUID
    company_id: uuid.UUID
    shop_id: uuid.UUID


async def a_world() -> World:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    company = await read_item(EntityType.COMPANY, setting.company_id, SYSTEM, services)
    territory_id = company.hierarchy.territory_id
    assert territory_id is not None
    return World(services, state, territory_id, setting.company_id, setting.shop_id)


def category(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "company_id": str(world.company_id),
        "name": "Vêtements",
        "revenue_account": "7071",
        "default_tax_code": "TVA20",
        **changes,
    }


def product(world: World, category_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "company_id": str(world.company_id),
        "category_id": str(category_id),
        "name": "Lampe",
        "price": 1500,
        **changes,
    }


async def territory_fields(world: World, **changes: Any) -> dict[str, Any]:
    current = await read_item(EntityType.TERRITORY, world.territory_id, SYSTEM, world.services)
    kept = {k: v for k, v in current.item.items() if k not in {"id", "version", "updated_at", "updated_by"}}
    return {**kept, **changes}


async def test_a_category_whose_default_tax_is_not_a_rate_of_its_territory_is_refused_and_nothing_is_written() -> None:
    world = await a_world()
    written = len(world.state.history), len(world.state.events)
    with pytest.raises(InvalidReferenceError) as refused:
        await create_item(EntityType.CATEGORY, category(world, default_tax_code="TVA10"), SYSTEM, world.services)
    assert refused.value.field == "default_tax_code"
    assert refused.value.reason == "TVA10 is not a tax rate of the territory France; it has TVA20"
    assert (len(world.state.history), len(world.state.events)) == written


async def test_a_product_whose_tax_is_not_a_rate_of_its_territory_is_refused_and_nothing_is_written() -> None:
    world = await a_world()
    shelf = await create_item(EntityType.CATEGORY, category(world), SYSTEM, world.services)
    written = len(world.state.history), len(world.state.events)
    with pytest.raises(InvalidReferenceError) as refused:
        await create_item(
            EntityType.PRODUCT, product(world, shelf.stored.id, tax_code="TVA5.5"), SYSTEM, world.services
        )
    assert refused.value.field == "tax_code"
    assert "TVA5.5 is not a tax rate of the territory France" in refused.value.reason
    assert (len(world.state.history), len(world.state.events)) == written
    without_own_tax = await create_item(EntityType.PRODUCT, product(world, shelf.stored.id), SYSTEM, world.services)
    assert without_own_tax.stored.item["tax_code"] is None


async def test_a_category_or_a_product_changed_to_a_tax_its_territory_lacks_is_refused_and_keeps_its_version() -> None:
    world = await a_world()
    shelf = await create_item(EntityType.CATEGORY, category(world), SYSTEM, world.services)
    lamp = await create_item(EntityType.PRODUCT, product(world, shelf.stored.id), SYSTEM, world.services)
    with pytest.raises(InvalidReferenceError) as refused:
        await update_item(
            EntityType.CATEGORY, shelf.stored.id, 1, category(world, default_tax_code="EXO"), SYSTEM, world.services
        )
    assert refused.value.field == "default_tax_code"
    with pytest.raises(InvalidReferenceError) as refused:
        await update_item(
            EntityType.PRODUCT,
            lamp.stored.id,
            1,
            product(world, shelf.stored.id, tax_code="EXO"),
            SYSTEM,
            world.services,
        )
    assert refused.value.field == "tax_code"
    assert (await read_item(EntityType.CATEGORY, shelf.stored.id, SYSTEM, world.services)).version == 1
    assert (await read_item(EntityType.PRODUCT, lamp.stored.id, SYSTEM, world.services)).version == 1


async def test_a_territory_keeps_every_tax_rate_its_catalogue_still_names_and_says_who_names_it() -> None:
    world = await a_world()
    grown = await update_item(
        EntityType.TERRITORY,
        world.territory_id,
        1,
        await territory_fields(world, tax_rates=[TVA20, TVA55]),
        SYSTEM,
        world.services,
    )
    books = await create_item(
        EntityType.CATEGORY, category(world, name="Livres", default_tax_code="TVA5.5"), SYSTEM, world.services
    )
    shelf = await create_item(EntityType.CATEGORY, category(world), SYSTEM, world.services)
    food = await create_item(
        EntityType.PRODUCT, product(world, shelf.stored.id, name="Confiture", tax_code="TVA5.5"), SYSTEM, world.services
    )
    written = len(world.state.history), len(world.state.events)
    with pytest.raises(InvalidReferenceError) as refused:
        await update_item(
            EntityType.TERRITORY,
            world.territory_id,
            grown.stored.version,
            await territory_fields(world, tax_rates=[TVA20]),
            SYSTEM,
            world.services,
        )
    assert refused.value.field == "tax_rates"
    assert refused.value.reason == (
        f"TVA5.5 is still the tax of category 'Livres' ({books.stored.id}), product 'Confiture' ({food.stored.id})"
    )
    assert (len(world.state.history), len(world.state.events)) == written


async def test_a_territory_drops_a_tax_rate_that_nothing_of_its_own_names() -> None:
    world = await a_world()
    elsewhere = await create_item(
        EntityType.TERRITORY,
        {
            "name": "Belgique",
            "currency": "EUR",
            "currency_exponent": 2,
            "tax_rates": [TVA20, TVA55],
            "denominations": [{"value": 500, "kind": "note"}],
        },
        SYSTEM,
        world.services,
    )
    other_company = await create_item(
        EntityType.COMPANY, {"territory_id": str(elsewhere.stored.id), "name": "B"}, SYSTEM, world.services
    )
    await create_item(
        EntityType.CATEGORY,
        category(world, company_id=str(other_company.stored.id), default_tax_code="TVA5.5"),
        SYSTEM,
        world.services,
    )
    await update_item(
        EntityType.TERRITORY,
        world.territory_id,
        1,
        await territory_fields(world, tax_rates=[TVA20, TVA55]),
        SYSTEM,
        world.services,
    )
    dropped = await update_item(
        EntityType.TERRITORY,
        world.territory_id,
        2,
        await territory_fields(world, tax_rates=[TVA20]),
        SYSTEM,
        world.services,
    )
    assert [r["code"] for r in dropped.stored.item["tax_rates"]] == ["TVA20"]


async def test_a_category_with_products_is_neither_deleted_nor_moved_to_another_company() -> None:
    world = await a_world()
    other_company = await create_item(
        EntityType.COMPANY, {"territory_id": str(world.territory_id), "name": "Autre"}, SYSTEM, world.services
    )
    shelf = await create_item(EntityType.CATEGORY, category(world), SYSTEM, world.services)
    lamp = await create_item(EntityType.PRODUCT, product(world, shelf.stored.id), SYSTEM, world.services)
    with pytest.raises(InUseError) as refused:
        await delete_item(EntityType.CATEGORY, shelf.stored.id, 1, SYSTEM, world.services)
    assert refused.value.field == "id"
    assert f"product 'Lampe' ({lamp.stored.id})" in refused.value.reason
    with pytest.raises(InUseError) as refused:
        await update_item(
            EntityType.CATEGORY,
            shelf.stored.id,
            1,
            category(world, company_id=str(other_company.stored.id)),
            SYSTEM,
            world.services,
        )
    assert refused.value.field == "company_id"
    assert (await read_item(EntityType.CATEGORY, shelf.stored.id, SYSTEM, world.services)).version == 1

    await delete_item(EntityType.PRODUCT, lamp.stored.id, 1, SYSTEM, world.services)
    assert (await delete_item(EntityType.CATEGORY, shelf.stored.id, 1, SYSTEM, world.services)).deleted


async def test_a_product_moves_to_another_category_of_its_company_with_its_shop_overrides() -> None:
    world = await a_world()
    shelf = await create_item(EntityType.CATEGORY, category(world), SYSTEM, world.services)
    other_shelf = await create_item(EntityType.CATEGORY, category(world, name="Maison"), SYSTEM, world.services)
    lamp = await create_item(EntityType.PRODUCT, product(world, shelf.stored.id), SYSTEM, world.services)
    await create_item(
        EntityType.CATALOGUE_OVERRIDE,
        {"shop_id": str(world.shop_id), "product_id": str(lamp.stored.id), "price": 1200},
        SYSTEM,
        world.services,
    )
    moved = await update_item(
        EntityType.PRODUCT, lamp.stored.id, 1, product(world, other_shelf.stored.id), SYSTEM, world.services
    )
    assert moved.stored.item["category_id"] == str(other_shelf.stored.id)


async def test_a_shop_with_a_till_is_not_deleted() -> None:
    world = await a_world()
    with pytest.raises(InUseError) as refused:
        await delete_item(EntityType.SHOP, world.shop_id, 1, SYSTEM, world.services)
    assert "pos 'Caisse 1'" in refused.value.reason
