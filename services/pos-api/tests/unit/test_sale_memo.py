"""A till's next sale skips finalize's read: it writes at once on what its last sale showed, and whatever moved
since (a closed session, a replay, a stale basket, a broken counter) ends in the answer a read would give."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType
from caisse_contracts.tills import BasketContent, FinalizeIn
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import BasketConflictError, StaleVersionError, TicketInconsistentError
from pos_api.domain.tickets import MAX_NUMBER_JUMP
from pos_api.domain.till import Device
from pos_api.entrypoints.http.deps import get_services
from pos_api.service_layer.baskets import finalize_basket
from pos_api.service_layer.cache import TILLS_REMEMBERED, SaleMemo
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import CheckoutView, SessionState
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class CountedWork(InMemoryUnitOfWork):
    """The fakes' unit of work, counting finalize's reads."""

    reads = 0

    async def __aenter__(self) -> CountedWork:
        await super().__aenter__()
        read = self.checkout.read

        async def counted(basket_id: uuid.UUID, pos_id: uuid.UUID, number: int) -> CheckoutView:
            CountedWork.reads += 1
            return await read(basket_id, pos_id, number)

        self.checkout.read = counted  # type: ignore[method-assign]
        return self


async def a_till(services: Services) -> tuple[Device, str]:
    setting = await a_shop_with_a_till(services)
    category = await create_item(
        EntityType.CATEGORY,
        {
            "company_id": str(setting.company_id),
            "name": "Textile",
            "revenue_account": "7071",
            "default_tax_code": "TVA20",
            "sold_by_weight": True,
        },
        SYSTEM,
        services,
    )
    return await authenticate_device(setting.serial, setting.secret, services), str(category.stored.id)


def sale(category_id: str, number: int, *, version: int = 0, price: int = 900) -> FinalizeIn:
    content: dict[str, Any] = {
        "lines": [{"line_id": str(uuid.uuid4()), "category_id": category_id, "price": price, "weight_grams": 800}],
        "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": price, "tendered": 1000}],
    }
    return FinalizeIn(number=number, version=version, content=BasketContent.model_validate(content))


@pytest.fixture
async def till() -> tuple[Services, MemoryState, Device, str]:
    state = MemoryState()
    services = Services(uow=lambda: CountedWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    device, category_id = await a_till(services)
    state.sessions[device.pos_id] = SessionState(device.pos_id, uuid.uuid4(), True, NOW)
    CountedWork.reads = 0
    return services, state, device, category_id


async def test_a_tills_next_sale_is_written_without_a_read(
    till: tuple[Services, MemoryState, Device, str],
) -> None:
    services, state, device, category = till
    for number in (1, 2, 3):
        assert not (await finalize_basket(device, uuid.uuid4(), sale(category, number), services)).replayed
    assert CountedWork.reads == 1
    assert sorted(n for _, n in state.tickets) == [1, 2, 3]
    assert services.sales.of(device.pos_id) == (state.sessions[device.pos_id], 3)


async def test_a_session_closed_and_reopened_since_the_last_sale_takes_the_new_one(
    till: tuple[Services, MemoryState, Device, str],
) -> None:
    services, state, device, category = till
    await finalize_basket(device, uuid.uuid4(), sale(category, 1), services)
    state.sessions[device.pos_id] = SessionState(device.pos_id, uuid.uuid4(), False, NOW)
    with pytest.raises(BasketConflictError):
        await finalize_basket(device, uuid.uuid4(), sale(category, 2), services)
    assert [n for _, n in state.tickets] == [1]
    reopened = SessionState(device.pos_id, uuid.uuid4(), True, NOW)
    state.sessions[device.pos_id] = reopened
    await finalize_basket(device, uuid.uuid4(), sale(category, 2), services)
    assert state.tickets[(device.pos_id, 2)].ticket.session_id == reopened.session_id


async def test_a_replay_after_the_memo_answers_the_original(
    till: tuple[Services, MemoryState, Device, str],
) -> None:
    services, state, device, category = till
    basket = uuid.uuid4()
    request = sale(category, 1)
    first = await finalize_basket(device, basket, request, services)
    again = await finalize_basket(device, basket, request, services)
    assert (again.replayed, again.receipt) == (True, first.receipt)
    assert len(state.tickets) == 1


async def test_a_basket_named_at_a_version_it_never_had_is_stale_not_created(
    till: tuple[Services, MemoryState, Device, str],
) -> None:
    services, state, device, category = till
    await finalize_basket(device, uuid.uuid4(), sale(category, 1), services)
    basket = uuid.uuid4()
    with pytest.raises(StaleVersionError) as refused:
        await finalize_basket(device, basket, sale(category, 2, version=2), services)
    assert refused.value.current_version == 0
    assert basket not in state.baskets
    assert len(state.tickets) == 1


async def test_a_jump_the_memo_cannot_vouch_for_is_decided_on_the_database(
    till: tuple[Services, MemoryState, Device, str],
) -> None:
    """The memo's highest number is never above the database's; another process's sales leave it behind, so a
    jump it finds too far is read again before it is refused."""
    services, state, device, category = till
    await finalize_basket(device, uuid.uuid4(), sale(category, 1), services)
    other_process = Services(uow=services.uow, clock=services.clock, new_id=uuid.uuid4)
    beyond_memo = 1 + MAX_NUMBER_JUMP + 5
    await finalize_basket(device, uuid.uuid4(), sale(category, beyond_memo - 10), other_process)
    reads = CountedWork.reads
    assert not (await finalize_basket(device, uuid.uuid4(), sale(category, beyond_memo), services)).replayed
    assert CountedWork.reads == reads + 1
    assert services.sales.of(device.pos_id) == (state.sessions[device.pos_id], beyond_memo)
    with pytest.raises(TicketInconsistentError):
        await finalize_basket(device, uuid.uuid4(), sale(category, beyond_memo + MAX_NUMBER_JUMP + 1), services)
    assert sorted(n for _, n in state.tickets) == [1, beyond_memo - 10, beyond_memo]


def test_the_memo_keeps_open_sessions_only_and_a_bounded_number_of_tills() -> None:
    memo = SaleMemo()
    pos = uuid.uuid4()
    memo.saw(pos, SessionState(pos, uuid.uuid4(), False, NOW), 3)
    assert memo.of(pos) is None
    session = SessionState(pos, uuid.uuid4(), True, NOW)
    memo.saw(pos, session, None)
    memo.sold(pos, 4)
    memo.sold(pos, 2)
    assert memo.of(pos) == (session, 4)
    for _ in range(TILLS_REMEMBERED):
        other = uuid.uuid4()
        memo.saw(other, SessionState(other, uuid.uuid4(), True, NOW), 1)
    assert memo.of(pos) is None
    assert len(memo.tills) == TILLS_REMEMBERED


async def test_every_request_of_a_process_shares_its_memo() -> None:
    services = Services(uow=lambda: InMemoryUnitOfWork(MemoryState()), clock=lambda: NOW, new_id=uuid.uuid4)
    app = FastAPI()
    app.state.services = services
    first, second = [await get_services(Request({"type": "http", "app": app})) for _ in range(2)]
    assert first is second is services
    assert first.sales is second.sales
    assert first.cache is second.cache
