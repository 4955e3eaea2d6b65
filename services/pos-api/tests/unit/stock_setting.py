"""A French shop with stock-tracked products on the fakes, for the stock's tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from caisse_contracts.events import EntityType
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.till import Device
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import SessionState
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Shop:
    services: Services
    state: MemoryState
    device: Device
    shop_id: uuid.UUID
    other_shop: uuid.UUID
    products: dict[str, uuid.UUID]
    cashier: uuid.UUID
    now: list[datetime]
    secret: str
    """The till's device secret."""


async def _create(services: Services, entity_type: EntityType, body: dict[str, Any]) -> uuid.UUID:
    return (await create_item(entity_type, body, SYSTEM, services)).stored.id


async def a_stocked_shop() -> Shop:
    """A French shop with a till and its cashier; a bulb that refuses to go below zero (threshold 2), a bag that
    does not (threshold 1), a card that is not tracked; another company with its own shop and product."""
    state = MemoryState()
    now = [NOW]
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: now[0], new_id=uuid.uuid4)
    territory = await _create(
        services,
        EntityType.TERRITORY,
        {
            "name": "France",
            "currency": "EUR",
            "currency_exponent": 2,
            "tax_rates": [{"code": "TVA20", "label": "TVA 20 %", "rate_bp": 2000}],
            "denominations": [{"value": 1, "kind": "coin"}],
            "timezone": "Europe/Paris",
        },
    )
    company = await _create(services, EntityType.COMPANY, {"territory_id": str(territory), "name": "Bocage"})
    other = await _create(services, EntityType.COMPANY, {"territory_id": str(territory), "name": "Gâtine"})
    here = await _create(services, EntityType.SHOP, {"company_id": str(company), "name": "Bressuire"})
    there = await _create(services, EntityType.SHOP, {"company_id": str(other), "name": "Parthenay"})
    pos = await create_item(
        EntityType.POS,
        {"shop_id": str(here), "name": "Caisse 1", "hostname": "c1", "device_serial": "FR-1"},
        SYSTEM,
        services,
    )
    assert pos.secret is not None
    goods = await _create(
        services,
        EntityType.CATEGORY,
        {"company_id": str(company), "name": "Neuf", "revenue_account": "7070", "default_tax_code": "TVA20"},
    )
    foreign = await _create(
        services,
        EntityType.CATEGORY,
        {"company_id": str(other), "name": "Neuf", "revenue_account": "7070", "default_tax_code": "TVA20"},
    )

    def product(name: str, price: int, company_id: uuid.UUID, category: uuid.UUID, **stock: Any) -> dict[str, Any]:
        return {"company_id": str(company_id), "category_id": str(category), "name": name, "price": price, **stock}

    products = {
        "bulb": await _create(
            services,
            EntityType.PRODUCT,
            product(
                "Ampoule LED",
                350,
                company,
                goods,
                stock_tracked=True,
                stock_threshold=2,
                stock_refuse_below_zero=True,
            ),
        ),
        "bag": await _create(
            services,
            EntityType.PRODUCT,
            product("Sac cabas", 100, company, goods, stock_tracked=True, stock_threshold=1),
        ),
        "card": await _create(services, EntityType.PRODUCT, product("Carte adhérent", 1000, company, goods)),
        "foreign": await _create(
            services, EntityType.PRODUCT, product("Ampoule", 300, other, foreign, stock_tracked=True)
        ),
    }
    cashier = await _create(services, EntityType.OPERATOR, {"name": "Léa", "role": "cashier", "shop_id": str(here)})
    device = await authenticate_device("FR-1", pos.secret, services)
    state.sessions[device.pos_id] = SessionState(device.pos_id, uuid.uuid4(), True, NOW)
    return Shop(services, state, device, here, there, products, cashier, now, pos.secret)
