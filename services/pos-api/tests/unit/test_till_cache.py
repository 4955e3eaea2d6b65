"""The till cache: device secrets and configuration come from memory, yet a change is seen at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pos_api_setting import a_shop_with_a_till

from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import UnauthenticatedError
from pos_api.service_layer.cache import TillCache
from pos_api.service_layer.config import SYSTEM, ConfigServices, rotate_device_secret
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


async def a_till(services: ConfigServices) -> tuple[uuid.UUID, str]:
    setting = await a_shop_with_a_till(services)
    return setting.pos_id, setting.secret


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
