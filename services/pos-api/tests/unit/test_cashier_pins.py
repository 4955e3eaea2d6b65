"""Cashier PINs: a salted slow hash, the right PIN logs in, five wrong ones in a row lock the cashier."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType
from caisse_contracts.pins import hash_pin, pin_matches
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import InvalidReferenceError, OperatorLockedError, UnauthenticatedError
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.operators import cashier_login, set_pin
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_the_same_pin_hashes_differently_each_time_and_still_matches() -> None:
    first, second = hash_pin("1234"), hash_pin("1234")
    assert first != second
    assert "1234" not in first
    assert pin_matches("1234", first)
    assert not pin_matches("1235", first)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def setting() -> tuple[Services, Clock, uuid.UUID, str, str]:
    state = MemoryState()
    clock = Clock()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=clock, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    cashier = await create_item(
        EntityType.OPERATOR, {"name": "Lou", "role": "cashier", "shop_id": str(setting.shop_id)}, SYSTEM, services
    )
    return services, clock, cashier.stored.id, setting.serial, setting.secret


async def test_the_right_pin_logs_the_cashier_in_on_a_till_of_their_shop() -> None:
    services, _, cashier, serial, secret = await setting()
    await set_pin(cashier, "4821", SYSTEM, services)
    device = await authenticate_device(serial, secret, services)
    logged = await cashier_login(device, cashier, "4821", services)
    assert (logged.operator_id, logged.name) == (cashier, "Lou")


async def test_five_wrong_pins_in_a_row_lock_the_cashier_for_five_minutes() -> None:
    services, clock, cashier, serial, secret = await setting()
    await set_pin(cashier, "4821", SYSTEM, services)
    device = await authenticate_device(serial, secret, services)
    for _ in range(4):
        with pytest.raises(UnauthenticatedError):
            await cashier_login(device, cashier, "0000", services)
    with pytest.raises(OperatorLockedError):
        await cashier_login(device, cashier, "0000", services)
    with pytest.raises(OperatorLockedError):
        await cashier_login(device, cashier, "4821", services)
    clock.now += timedelta(minutes=5, seconds=1)
    assert (await cashier_login(device, cashier, "4821", services)).operator_id == cashier


async def test_a_pin_is_four_to_eight_digits() -> None:
    services, _, cashier, _, _ = await setting()
    for bad in ("123", "123456789", "12a4"):
        with pytest.raises(InvalidReferenceError):
            await set_pin(cashier, bad, SYSTEM, services)
