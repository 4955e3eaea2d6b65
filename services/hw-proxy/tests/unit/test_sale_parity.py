"""The till prices and tickets a sale exactly as pos-api does, checked with pos-api's own functions on its fakes.

The till's cache is filled with the very items pos-api keeps (same versions); for several baskets (products,
quantities, a product priced per kilogram, a weighed second-hand item at a free price, line, basket, member and
staff discounts, a shop's price override, cash with change and card) the till's totals equal pos-api's online
computation, and the sale it queues, synced through pos-api's `sync_sales`, is booked with the ticket the till
made (same content hash). A sale first posted online (`record_ticket`, what `POST /v1/tickets` runs) whose answer
was lost, then sent again through the sync, is answered `already_exists`, nothing written twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pos_api_setting import SERIAL, a_shop_with_a_till

from caisse_contracts.basket import PaymentIn, VoucherIn
from caisse_contracts.events import EntityType, PaymentMethod
from caisse_contracts.pricing import PricingRefusedError
from caisse_contracts.tills import BasketContent, BasketLine, DiscountIn
from caisse_contracts.topics import TICKETS
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.domain.selling import Selling, compute, make_sale, numbered
from hw_proxy.domain.till_status import place_of
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.tickets import content_hash
from pos_api.domain.till import Device
from pos_api.service_layer import baskets as pos_api_baskets
from pos_api.service_layer.config import SYSTEM, create_item, update_item
from pos_api.service_layer.services import Services
from pos_api.service_layer.sync import SyncOutcome, sync_sales
from pos_api.service_layer.tickets import Outcome, record_ticket

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Central:
    """pos-api on its in-memory fakes, with a catalogue, and the till's view of the same configuration."""

    state: MemoryState
    services: Services
    device: Device
    selling: Selling
    ids: dict[str, uuid.UUID]

    def written(self) -> tuple[int, int]:
        return len(self.state.tickets), len([e for e in self.state.events if e.topic == TICKETS.name])


async def _create(services: Services, entity_type: EntityType, body: dict[str, Any]) -> uuid.UUID:
    return (await create_item(entity_type, body, SYSTEM, services)).stored.id


@pytest.fixture
async def central() -> Central:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    s = await a_shop_with_a_till(services)
    company = {"territory_id": str(s.territory_id), "name": "R", "member_discount_bp": 1000}
    await update_item(EntityType.COMPANY, s.company_id, 1, {**company, "employee_discount_bp": 2500}, SYSTEM, services)
    company_id = str(s.company_id)
    goods = await _create(
        services,
        EntityType.CATEGORY,
        {"company_id": company_id, "name": "Maison", "revenue_account": "7071", "default_tax_code": "TVA20"},
    )
    textile = await _create(
        services,
        EntityType.CATEGORY,
        {
            "company_id": company_id,
            "name": "Textile",
            "revenue_account": "7072",
            "default_tax_code": "TVA20",
            "sold_by_weight": True,
        },
    )
    bag = await _create(
        services, EntityType.PRODUCT, {"company_id": company_id, "category_id": str(goods), "name": "Sac", "price": 500}
    )
    rice = await _create(
        services,
        EntityType.PRODUCT,
        {"company_id": company_id, "category_id": str(goods), "name": "Vrac", "price": 1290, "weight_mode": "per_kg"},
    )
    lamp = await _create(
        services,
        EntityType.PRODUCT,
        {"company_id": company_id, "category_id": str(goods), "name": "Lampe", "price": 2000},
    )
    await _create(
        services, EntityType.CATALOGUE_OVERRIDE, {"shop_id": str(s.shop_id), "product_id": str(lamp), "price": 1750}
    )
    cached: list[CachedItem] = []
    async with services.uow() as work:
        for entity_type in EntityType:
            for stored in await work.config.list(entity_type):
                cached.append(CachedItem(EntityKey(entity_type, stored.id), stored.version, stored.item))
        pos = await work.config.get(s.pos_id)
    assert pos is not None
    place = place_of(cached, SERIAL)
    assert place is not None
    ids = {"goods": goods, "textile": textile, "bag": bag, "rice": rice, "lamp": lamp}
    return Central(state, services, Device(pos), Selling.of(place, cached), ids)


def _cash(amount: int, tendered: int | None = None) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=amount, tendered=tendered)


def _card(amount: int) -> PaymentIn:
    return PaymentIn(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=amount, reference="A1")


def baskets(ids: dict[str, uuid.UUID]) -> list[tuple[str, BasketContent]]:
    def product(name: str, **more: Any) -> BasketLine:
        return BasketLine(line_id=uuid.uuid4(), product_id=ids[name], **more)

    def item(price: int, weight: int, **more: Any) -> BasketLine:
        return BasketLine(line_id=uuid.uuid4(), category_id=ids["textile"], price=price, weight_grams=weight, **more)

    return [
        ("two bags, cash with change", BasketContent(lines=(product("bag", quantity=2),))),
        (
            "rice per kg with a 10 % line discount",
            BasketContent(lines=(product("rice", weight_grams=1234, discount=DiscountIn(kind="percent", value=1000)),)),
        ),
        (
            "weighed coat and a lamp at the shop's price, an amount off, the member card",
            BasketContent(
                lines=(item(800, 950, discount=DiscountIn(kind="amount", value=150)), product("lamp", label="Lampe")),
                basket_discount=DiscountIn(kind="percent", value=500),
                member_card="M-42",
                pickup_number="12",
            ),
        ),
        (
            "staff discount, a voucher, several weighed items",
            BasketContent(
                lines=(item(300, 400), item(450, 1200), product("bag", quantity=3)),
                employee=True,
                vouchers=(VoucherIn(code="BON-1", amount=200),),
            ),
        ),
    ]


def _paid(content: BasketContent, central: Central, *, card: bool = False) -> BasketContent:
    """The basket paid in full: by card, or in cash with a round note and the change."""
    due = compute(content, central.selling).cash_due if not card else compute(content, central.selling).remaining
    payment = _card(due) if card else _cash(due, tendered=(due // 1000 + 1) * 1000)
    return content.model_copy(update={"payments": (payment,)})


async def test_the_tills_totals_are_pos_apis_for_the_same_basket(central: Central) -> None:
    async with central.services.uow() as work:
        context = await pos_api_baskets.till_context(work, central.device, central.services.cache)
    for name, content in baskets(central.ids):
        for paid in (content, _paid(content, central), _paid(content, central, card=True)):
            ours = compute(paid, central.selling).as_dict()
            theirs = pos_api_baskets.compute(paid, context).as_dict()
            assert ours == theirs, name


async def test_a_sale_synced_is_booked_with_the_ticket_the_till_made(central: Central) -> None:
    sales = []
    for number, (name, content) in enumerate(baskets(central.ids), start=1):
        draft = make_sale(
            _paid(content, central), central.selling, ticket_id=uuid.uuid4(), session_id=uuid.uuid4(), finalized_at=NOW
        )
        sales.append((name, numbered(draft, number)))
    answered = await sync_sales(central.device, [s.sale for _, s in sales], central.services)
    for (name, done), synced in zip(sales, answered, strict=True):
        assert synced.outcome is SyncOutcome.CREATED, (name, synced)
        assert synced.stored is not None
        assert synced.stored.content_hash == content_hash(done.ticket), name
        assert synced.stored.ticket.model_dump(exclude={"finalized_at"}) == done.ticket.model_dump(
            exclude={"finalized_at"}
        ), name
    assert central.written() == (4, 4)


async def test_a_sale_posted_online_whose_answer_was_lost_is_answered_already_exists_by_the_sync(
    central: Central,
) -> None:
    _, content = baskets(central.ids)[2]
    done = numbered(
        make_sale(
            _paid(content, central), central.selling, ticket_id=uuid.uuid4(), session_id=uuid.uuid4(), finalized_at=NOW
        ),
        1,
    )
    services = central.services
    online = await record_ticket(done.ticket, uow=services.uow, clock=services.clock, new_id=services.new_id)
    assert online.outcome is Outcome.CREATED
    [again] = await sync_sales(central.device, [done.sale], services)
    assert again.outcome is SyncOutcome.ALREADY_EXISTS
    assert central.written() == (1, 1)


def test_a_basket_not_fully_paid_is_not_a_sale(central: Central) -> None:
    _, content = baskets(central.ids)[0]
    with pytest.raises(PricingRefusedError) as refused:
        make_sale(content, central.selling, ticket_id=uuid.uuid4(), session_id=uuid.uuid4(), finalized_at=NOW)
    assert [p.field for p in refused.value.problems] == ["payments"]
