"""The till cache: device secrets and configuration come from memory, yet a change is seen at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.errors import UnauthenticatedError
from pos_api.domain.till import Device
from pos_api.service_layer.cache import TillCache
from pos_api.service_layer.config import SYSTEM, rotate_device_secret
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


async def a_till(services: Services) -> tuple[uuid.UUID, str]:
    setting = await a_shop_with_a_till(services)
    return setting.pos_id, setting.secret


@pytest.mark.parametrize("supervised", [False, True])
async def test_a_rotated_secret_is_refused_at_once_even_from_the_cache(supervised: bool) -> None:
    state = MemoryState()
    cache = TillCache(supervised=supervised)
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4, cache=cache)
    pos_id, secret = await a_till(services)
    assert (await authenticate_device("SER-1", secret, services)).pos_id == pos_id
    assert "SER-1" in cache.devices
    fresh = await rotate_device_secret(pos_id, SYSTEM, services)
    with pytest.raises(UnauthenticatedError):
        await authenticate_device("SER-1", secret, services)
    assert (await authenticate_device("SER-1", fresh, services)).pos_id == pos_id


def test_a_new_generation_empties_the_cache() -> None:
    cache = TillCache()
    pos = StoredItem(EntityType.POS, uuid.uuid4(), 1, Hierarchy(), {})
    cache.at(3).devices["SER-1"] = ("digest", Device(pos))
    assert cache.at(3).devices
    assert not cache.at(4).devices
