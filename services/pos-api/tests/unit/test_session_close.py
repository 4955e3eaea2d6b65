"""A till's close is recorded in pos-api as it is forwarded: once marked, no sale enters the session on any
process, a refused close opens it again, an acknowledged one stays closed whatever event comes late."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType, SessionOpenedV1
from caisse_contracts.tills import BasketContent, FinalizeIn
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import BasketConflictError
from pos_api.domain.till import Device
from pos_api.service_layer.baskets import finalize_basket
from pos_api.service_layer.cash_sessions import (
    begin_close,
    close_refused,
    last_ticket_to_close,
    note_session_closed,
    note_session_opened,
    session_opened,
)
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import ClosingMark
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def sale(category_id: str, number: int) -> FinalizeIn:
    content: dict[str, Any] = {
        "lines": [{"line_id": str(uuid.uuid4()), "category_id": category_id, "price": 900, "weight_grams": 800}],
        "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 900, "tendered": 1000}],
    }
    return FinalizeIn(number=number, version=0, content=BasketContent.model_validate(content))


class Till:
    """One till on two pos-api processes: one state (the database), a sale memo each."""

    def __init__(self, state: MemoryState, services: Services, device: Device, category: str) -> None:
        self.state = state
        self.one = services
        self.two = replace(services, sales=type(services.sales)())
        self.device = device
        self.category = category
        self.session_id = uuid.uuid4()

    async def sell(self, services: Services, number: int) -> None:
        await finalize_basket(self.device, uuid.uuid4(), sale(self.category, number), services)

    def numbers(self) -> list[int]:
        return sorted(n for _, n in self.state.tickets)


@pytest.fixture
async def till() -> Till:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    category = await create_item(
        EntityType.CATEGORY,
        {"company_id": str(setting.company_id), "name": "T", "revenue_account": "7071", "default_tax_code": "TVA20"},
        SYSTEM,
        services,
    )
    device = await authenticate_device(setting.serial, setting.secret, services)
    t = Till(state, services, device, str(category.stored.id))
    await note_session_opened(device, t.session_id, NOW, services)
    return t


async def test_once_the_close_is_marked_no_sale_enters_the_session_from_either_process(till: Till) -> None:
    await till.sell(till.one, 1)
    await till.sell(till.two, 2)  # both processes now remember the open session and skip finalize's read
    mark = await begin_close(till.device, till.session_id, 2, till.one)
    assert mark == ClosingMark(was_open=True, last_number=2)
    for services, number in ((till.one, 3), (till.two, 3)):
        with pytest.raises(BasketConflictError) as refused:
            await till.sell(services, number)
        assert refused.value.field == "session"
    assert till.numbers() == [1, 2]


async def test_the_close_waits_for_the_highest_ticket_pos_api_holds_in_the_session(till: Till) -> None:
    await till.sell(till.one, 1)
    await till.sell(till.one, 2)
    mark = await begin_close(till.device, till.session_id, 1, till.one)
    assert mark == ClosingMark(was_open=True, last_number=2)
    assert last_ticket_to_close(1, mark) == 2  # sale 2 was sent as the till closed: the Z report must count it
    assert last_ticket_to_close(None, mark) == 2
    assert last_ticket_to_close("x", mark) == "x"  # session-service names the bad field
    assert last_ticket_to_close(1, None) == 1
    higher = await begin_close(till.device, till.session_id, 5, till.one)
    assert higher == ClosingMark(was_open=False, last_number=5)


async def test_while_closing_the_tickets_the_close_waits_for_still_enter_and_no_later_one(till: Till) -> None:
    await till.sell(till.one, 1)
    await begin_close(till.device, till.session_id, 3, till.one)  # 2 and 3 were sold offline, on their way
    await till.sell(till.two, 3)
    await till.sell(till.one, 2)
    with pytest.raises(BasketConflictError) as refused:
        await till.sell(till.two, 4)
    assert refused.value.field == "session"
    assert till.numbers() == [1, 2, 3]


async def test_a_close_session_service_refuses_opens_the_session_again(till: Till) -> None:
    mark = await begin_close(till.device, till.session_id, None, till.one)
    await close_refused(till.device, till.session_id, mark, till.one)
    await till.sell(till.two, 1)
    assert till.numbers() == [1]


async def test_a_close_retried_while_closing_is_not_reopened_by_its_refusal(till: Till) -> None:
    await begin_close(till.device, till.session_id, None, till.one)
    retry = await begin_close(till.device, till.session_id, None, till.one)
    assert retry == ClosingMark(was_open=False, last_number=None)
    await close_refused(till.device, till.session_id, retry, till.one)
    with pytest.raises(BasketConflictError):
        await till.sell(till.one, 1)


async def test_an_acknowledged_close_stays_closed_when_the_open_event_comes_late(till: Till) -> None:
    await begin_close(till.device, till.session_id, None, till.one)
    await note_session_closed(till.device, till.session_id, NOW, None, till.one)
    opened = SessionOpenedV1.model_validate(
        {
            "session_id": str(till.session_id),
            "territory_id": str(till.device.pos.hierarchy.territory_id),
            "company_id": str(till.device.pos.hierarchy.company_id),
            "shop_id": str(till.device.shop_id),
            "pos_id": str(till.device.pos_id),
            "opened_at": NOW.isoformat(),
            "operator_ids": [str(uuid.uuid4())],
            "currency": "EUR",
            "opening_float": 0,
            "float_counts": [],
        }
    )
    assert await session_opened(opened, event_id=uuid.uuid4(), uow=till.one.uow)
    await note_session_opened(till.device, till.session_id, NOW, till.one, status="closed")
    with pytest.raises(BasketConflictError):
        await till.sell(till.two, 1)
    assert till.numbers() == []


async def test_a_close_that_never_reached_session_service_is_undone_by_the_tills_continue(till: Till) -> None:
    await begin_close(till.device, till.session_id, None, till.one)
    await note_session_opened(till.device, till.session_id, NOW, till.one, status="open")
    await till.sell(till.one, 1)
    assert till.numbers() == [1]
