"""The till cache: device secrets and configuration come from memory, yet a change is seen at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from caisse_contracts.events import EntityType
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import UnauthenticatedError
from pos_api.service_layer.cache import TillCache
from pos_api.service_layer.config import SYSTEM, ConfigServices, create_item, rotate_device_secret
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


async def a_till(services: ConfigServices) -> tuple[uuid.UUID, str]:
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
        {"shop_id": str(shop.stored.id), "name": "Caisse 1", "hostname": "c1", "device_serial": "SER-1"},
        SYSTEM,
        services,
    )
    assert pos.secret is not None
    return pos.stored.id, pos.secret


@pytest.mark.parametrize("supervised", [False, True])
async def test_a_rotated_secret_is_refused_at_once_even_from_the_cache(supervised: bool) -> None:
    state = MemoryState()
    cache = TillCache(supervised=supervised)
    services = ConfigServices(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4, cache=cache)
    pos_id, secret = await a_till(services)
    assert (await authenticate_device("SER-1", secret, services)).pos_id == pos_id
    assert "SER-1" in cache.devices
    fresh = await rotate_device_secret(pos_id, SYSTEM, services)
    with pytest.raises(UnauthenticatedError):
        await authenticate_device("SER-1", secret, services)
    assert (await authenticate_device("SER-1", fresh, services)).pos_id == pos_id


def test_a_new_generation_empties_the_cache() -> None:
    cache = TillCache()
    cache.at(3).devices["SER-1"] = ("digest", object())
    assert cache.at(3).devices
    assert not cache.at(4).devices
