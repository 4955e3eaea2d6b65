"""A federation's smallest configuration on the fakes, for the unit tests of the till's use cases: a France
territory, a company, a shop and one till whose device secret is returned once, as the back office does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from caisse_contracts.events import EntityType
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.services import Services

SERIAL = "SER-1"


@dataclass(frozen=True, slots=True)
class Setting:
    territory_id: uuid.UUID
    company_id: uuid.UUID
    shop_id: uuid.UUID
    pos_id: uuid.UUID
    serial: str
    secret: str


async def a_shop_with_a_till(services: Services) -> Setting:
    territory = await create_item(
        EntityType.TERRITORY,
        {
            "name": "France",
            "currency": "EUR",
            "currency_exponent": 2,
            "tax_rates": [{"code": "TVA20", "label": "TVA 20 %", "rate_bp": 2000}],
            "denominations": [{"value": 500, "kind": "note"}],
        },
        SYSTEM,
        services,
    )
    company = await create_item(
        EntityType.COMPANY, {"territory_id": str(territory.stored.id), "name": "R"}, SYSTEM, services
    )
    shop = await create_item(EntityType.SHOP, {"company_id": str(company.stored.id), "name": "S"}, SYSTEM, services)
    pos = await create_item(
        EntityType.POS,
        {"shop_id": str(shop.stored.id), "name": "Caisse 1", "hostname": "c1", "device_serial": SERIAL},
        SYSTEM,
        services,
    )
    assert pos.secret is not None
    return Setting(territory.stored.id, company.stored.id, shop.stored.id, pos.stored.id, SERIAL, pos.secret)
