"""Stock on the fakes (PRODUCT.md §7, issue 16 "Stock"): a sale takes units out and a credit note puts them back in
the ticket's own transaction, every change a movement and a `stock.moved`; online a product may refuse to go below
zero, offline never; alerts; the back office's deliveries, adjustments and inventories, refused whole when wrong."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from stock_setting import NOW, Shop, a_stocked_shop

from caisse_contracts.config import Role
from caisse_contracts.events import EntityType, StockMovedV1, StockReason, TicketFinalizedV1
from caisse_contracts.tills import BasketContent, CreditNoteIn, FinalizeIn
from caisse_contracts.topics import STOCK, TICKETS
from pos_api.domain.config import Actor
from pos_api.domain.errors import (
    ForbiddenError,
    InvalidReferenceError,
    NotFoundError,
    StockDocumentConflictError,
    StockRefusedError,
)
from pos_api.domain.stock import DocumentType
from pos_api.service_layer.baskets import credit_ticket, finalize_basket
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import MovementFilter
from pos_api.service_layer.stock import (
    DocumentIn,
    StockLine,
    record_stock_document,
    stock_levels,
    stock_movements,
)
from pos_api.service_layer.tickets import Outcome, record_ticket


@pytest.fixture
async def shop() -> Shop:
    return await a_stocked_shop()


def line(shop: Shop, name: str, quantity: int = 1) -> dict[str, Any]:
    return {"line_id": str(uuid.uuid4()), "product_id": str(shop.products[name]), "quantity": quantity}


PRICES = {"bulb": 350, "bag": 100, "card": 1000}


async def sell(shop: Shop, number: int, *sold: tuple[str, int]) -> tuple[uuid.UUID, Any]:
    """Finalize a basket of these (product, quantity), paid in cash; the basket's id and the receipt."""
    basket = uuid.uuid4()
    total = sum(PRICES[name] * quantity for name, quantity in sold)
    content = BasketContent.model_validate(
        {
            "lines": [line(shop, name, quantity) for name, quantity in sold],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": total}],
            "operator_id": str(shop.cashier),
        }
    )
    done = await finalize_basket(
        shop.device, basket, FinalizeIn(number=number, version=0, content=content), shop.services
    )
    return basket, done.receipt


async def deliver(shop: Shop, *received: tuple[str, int], document_id: uuid.UUID | None = None) -> None:
    lines = tuple(StockLine(shop.products[name], quantity) for name, quantity in received)
    document = DocumentIn(document_id or uuid.uuid4(), DocumentType.DELIVERY, StockReason.DELIVERY, lines, "BL-1")
    await record_stock_document(shop.shop_id, document, SYSTEM, shop.services)


def level(shop: Shop, name: str) -> int | None:
    found = shop.state.stock_levels.get((shop.shop_id, shop.products[name]))
    return found.level if found else None


def stock_events(shop: Shop) -> list[StockMovedV1]:
    return [e.envelope.data for e in shop.state.events if e.topic == STOCK.name]


# Sales and credit notes


async def test_a_sale_takes_its_units_out_with_a_movement_and_its_event_in_the_tickets_commit(shop: Shop) -> None:
    await deliver(shop, ("bulb", 5))
    basket, receipt = await sell(shop, 1, ("bulb", 2), ("card", 1))
    assert level(shop, "bulb") == 3
    sale = shop.state.stock_movements[-1]
    assert (sale.change, sale.level_before, sale.level_after) == (-2, 5, 3)
    assert (sale.reason, sale.document_type, sale.document_id) == (StockReason.SALE, DocumentType.TICKET, basket)
    assert sale.document_ref == "Caisse 1/000001"
    assert (sale.pos_id, sale.moved_by, sale.moved_at) == (shop.device.pos_id, shop.cashier, NOW)
    assert len(shop.state.stock_movements) == 2  # the delivery, the sale: the untracked card moves nothing
    event = stock_events(shop)[-1]
    assert (event.product_id, event.change, event.stock_before, event.stock_after) == (shop.products["bulb"], -2, 5, 3)
    assert (event.threshold, event.document_ref, event.movement_id) == (2, "Caisse 1/000001", sale.id)
    [queued] = [e for e in shop.state.events if e.topic == STOCK.name and e.envelope.data == event]
    assert queued.key == str(shop.shop_id)
    assert receipt.alerts == ()


async def test_two_lines_of_one_product_make_one_movement_of_their_sum(shop: Shop) -> None:
    await deliver(shop, ("bag", 10))
    await sell(shop, 1, ("bag", 2), ("bag", 3))
    assert level(shop, "bag") == 5
    assert [m.change for m in shop.state.stock_movements] == [10, -5]


async def test_an_online_sale_below_zero_of_a_product_that_refuses_it_is_refused_naming_it_and_writes_nothing(
    shop: Shop,
) -> None:
    await deliver(shop, ("bulb", 1), ("bag", 1))
    events = len(shop.state.events)
    with pytest.raises(StockRefusedError) as caught:
        await sell(shop, 1, ("bag", 1), ("bulb", 2))
    assert (caught.value.field, caught.value.product_id) == ("lines[1].quantity", shop.products["bulb"])
    assert (caught.value.product_name, caught.value.level, caught.value.asked) == ("Ampoule LED", 1, 2)
    assert (level(shop, "bulb"), level(shop, "bag")) == (1, 1)
    assert not shop.state.tickets
    assert len(shop.state.events) == events
    assert len(shop.state.stock_movements) == 2


async def test_a_sale_refused_for_its_stock_is_finalized_when_sent_again_once_the_units_arrived(shop: Shop) -> None:
    """Nothing of a refused sale stays behind: its basket is still open, its number still free."""
    basket = uuid.uuid4()
    content = BasketContent.model_validate(
        {
            "lines": [line(shop, "bulb")],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 350}],
        }
    )
    request = FinalizeIn(number=1, version=0, content=content)
    with pytest.raises(StockRefusedError):
        await finalize_basket(shop.device, basket, request, shop.services)
    assert basket not in shop.state.baskets
    await deliver(shop, ("bulb", 1))
    done = await finalize_basket(shop.device, basket, request, shop.services)
    assert not done.replayed
    assert level(shop, "bulb") == 0
    assert shop.state.baskets[basket].finalized


async def test_an_online_sale_below_zero_of_a_product_that_does_not_refuse_goes_negative_with_an_alert(
    shop: Shop,
) -> None:
    _, receipt = await sell(shop, 1, ("bag", 2))
    assert level(shop, "bag") == -2
    [alert] = receipt.alerts
    assert (alert.product_id, alert.kind, alert.level, alert.threshold) == (shop.products["bag"], "negative", -2, 1)


async def test_alerts_say_low_stock_at_the_threshold_and_out_of_stock_at_zero(shop: Shop) -> None:
    await deliver(shop, ("bulb", 4), ("bag", 5))
    _, first = await sell(shop, 1, ("bulb", 1), ("bag", 1))
    assert first.alerts == ()  # 3 bulbs (threshold 2), 4 bags (threshold 1)
    _, second = await sell(shop, 2, ("bulb", 1))
    assert [(a.product_name, a.kind, a.level) for a in second.alerts] == [("Ampoule LED", "low_stock", 2)]
    _, third = await sell(shop, 3, ("bulb", 2), ("bag", 3))
    kinds = {(a.product_name, a.kind, a.level) for a in third.alerts}
    assert kinds == {("Ampoule LED", "out_of_stock", 0), ("Sac cabas", "low_stock", 1)}


async def test_a_ticket_sent_as_made_offline_is_never_refused_and_its_negative_level_is_alerted(
    shop: Shop,
) -> None:
    await sell(shop, 1, ("card", 1))
    sold = shop.state.tickets[(shop.device.pos_id, 1)].ticket
    bulb = sold.lines[0].model_copy(update={"product_id": shop.products["bulb"], "label": "Ampoule LED"})
    offline = sold.model_copy(update={"ticket_id": uuid.uuid4(), "number": 2, "lines": (bulb,)})
    ticket = TicketFinalizedV1.model_validate(offline.model_dump())
    with pytest.raises(StockRefusedError):  # online, the bulb refuses
        await record_ticket(ticket, uow=shop.services.uow, clock=shop.services.clock, new_id=uuid.uuid4)
    assert (shop.device.pos_id, 2) not in shop.state.tickets
    recorded = await record_ticket(
        ticket, uow=shop.services.uow, clock=shop.services.clock, new_id=uuid.uuid4, offline=True
    )
    assert recorded.outcome is Outcome.CREATED
    assert level(shop, "bulb") == -1
    [alert] = recorded.alerts
    assert (alert.kind, alert.level) == ("negative", -1)
    again = await record_ticket(
        ticket, uow=shop.services.uow, clock=shop.services.clock, new_id=uuid.uuid4, offline=True
    )
    assert (again.outcome, again.alerts, level(shop, "bulb")) == (Outcome.ALREADY_EXISTS, (), -1)
    assert len(shop.state.stock_movements) == 1
    assert [e.topic for e in shop.state.events].count(TICKETS.name) == 2


async def test_a_finalize_replayed_moves_nothing_more(shop: Shop) -> None:
    await deliver(shop, ("bag", 3))
    basket = uuid.uuid4()
    content = BasketContent.model_validate(
        {"lines": [line(shop, "bag")], "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 100}]}
    )
    request = FinalizeIn(number=1, version=0, content=content)
    await finalize_basket(shop.device, basket, request, shop.services)
    again = await finalize_basket(shop.device, basket, request, shop.services)
    assert again.replayed
    assert again.receipt.alerts == ()
    assert level(shop, "bag") == 2
    assert len(shop.state.stock_movements) == 2


async def test_a_credit_note_puts_the_units_back_as_a_refund(shop: Shop) -> None:
    await deliver(shop, ("bulb", 3))
    basket, _ = await sell(shop, 1, ("bulb", 3))
    assert level(shop, "bulb") == 0
    sale = shop.state.tickets[(shop.device.pos_id, 1)].ticket
    note = CreditNoteIn.model_validate(
        {
            "credit_note_id": str(uuid.uuid4()),
            "number": 2,
            "lines": [{"line_id": str(sale.lines[0].line_id), "quantity": 2}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 700}],
        }
    )
    done = await credit_ticket(shop.device, basket, note, shop.services)
    assert level(shop, "bulb") == 2
    back = shop.state.stock_movements[-1]
    assert (back.change, back.level_before, back.level_after, back.reason) == (2, 0, 2, StockReason.REFUND)
    assert (back.document_id, back.document_ref) == (note.credit_note_id, "Caisse 1/000002")
    assert [(a.kind, a.level) for a in done.receipt.alerts] == [("low_stock", 2)]


# The back office


async def test_a_delivery_adds_and_the_same_delivery_sent_again_answers_it_and_writes_nothing(shop: Shop) -> None:
    delivery = uuid.uuid4()
    lines = (StockLine(shop.products["bulb"], 6), StockLine(shop.products["bag"], 2))
    document = DocumentIn(delivery, DocumentType.DELIVERY, StockReason.DELIVERY, lines, "BL-2026-11")
    first = await record_stock_document(shop.shop_id, document, SYSTEM, shop.services)
    assert not first.replayed
    assert {(m.product_id, m.change, m.level_after, m.document_ref) for m in first.movements} == {
        (shop.products["bulb"], 6, 6, "BL-2026-11"),
        (shop.products["bag"], 2, 2, "BL-2026-11"),
    }
    again = await record_stock_document(shop.shop_id, document, SYSTEM, shop.services)
    assert again.replayed
    assert {m.id for m in again.movements} == {m.id for m in first.movements}
    assert (level(shop, "bulb"), level(shop, "bag")) == (6, 2)
    assert len(stock_events(shop)) == 2
    other = DocumentIn(delivery, DocumentType.DELIVERY, StockReason.DELIVERY, lines[:1], "BL-2026-11")
    with pytest.raises(StockDocumentConflictError):
        await record_stock_document(shop.shop_id, other, SYSTEM, shop.services)
    assert (level(shop, "bulb"), level(shop, "bag")) == (6, 2)


async def test_an_inventory_sets_the_levels_counted_and_records_the_differences_under_one_document(
    shop: Shop,
) -> None:
    await deliver(shop, ("bulb", 5), ("bag", 3))
    await sell(shop, 1, ("bulb", 1))
    count = uuid.uuid4()
    lines = (StockLine(shop.products["bulb"], 2), StockLine(shop.products["bag"], 3))
    done = await record_stock_document(
        shop.shop_id, DocumentIn(count, DocumentType.INVENTORY, StockReason.INVENTORY, lines), SYSTEM, shop.services
    )
    [diff] = done.movements  # the bags were as counted: nothing to record for them
    assert (diff.product_id, diff.change, diff.level_before, diff.level_after) == (shop.products["bulb"], -2, 4, 2)
    assert (diff.reason, diff.document_id) == (StockReason.INVENTORY, count)
    assert (level(shop, "bulb"), level(shop, "bag")) == (2, 3)
    assert [(a.product_name, a.kind) for a in done.alerts] == [("Ampoule LED", "low_stock")]


async def test_a_loss_never_takes_a_level_below_zero_and_writes_nothing_when_refused(shop: Shop) -> None:
    await deliver(shop, ("bag", 1), ("bulb", 3))
    lines = (StockLine(shop.products["bulb"], -1), StockLine(shop.products["bag"], -2))
    loss = DocumentIn(uuid.uuid4(), DocumentType.ADJUSTMENT, StockReason.LOSS, lines, note="casse")
    with pytest.raises(StockRefusedError) as caught:
        await record_stock_document(shop.shop_id, loss, SYSTEM, shop.services)
    assert caught.value.field == "lines[1].change"
    assert (level(shop, "bulb"), level(shop, "bag")) == (3, 1)
    assert not shop.state.stock_documents.get(loss.id)


@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        ("card", "lines[0].product_id", "is not stock-tracked"),
        ("foreign", "lines[0].product_id", "another company"),
        ("nothing", "lines[0].product_id", "no such product"),
    ],
)
async def test_a_document_naming_a_product_it_cannot_move_is_refused_whole(
    shop: Shop, name: str, field: str, reason: str
) -> None:
    product = shop.products.get(name, uuid.uuid4())
    lines = (StockLine(product, 1), StockLine(shop.products["bag"], 1))
    document = DocumentIn(uuid.uuid4(), DocumentType.DELIVERY, StockReason.DELIVERY, lines)
    with pytest.raises(InvalidReferenceError) as caught:
        await record_stock_document(shop.shop_id, document, SYSTEM, shop.services)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert level(shop, "bag") is None
    assert not shop.state.stock_movements


async def test_a_document_naming_one_product_twice_is_refused(shop: Shop) -> None:
    lines = (StockLine(shop.products["bag"], 1), StockLine(shop.products["bag"], 2))
    document = DocumentIn(uuid.uuid4(), DocumentType.DELIVERY, StockReason.DELIVERY, lines)
    with pytest.raises(InvalidReferenceError) as caught:
        await record_stock_document(shop.shop_id, document, SYSTEM, shop.services)
    assert caught.value.field == "lines[1].product_id"


async def test_a_shop_manager_moves_and_reads_only_the_stock_of_their_own_shop(shop: Shop) -> None:
    manager = Actor(uuid.uuid4(), Role.SHOP_MANAGER, shop.shop_id, shop.state.items[shop.shop_id].hierarchy.company_id)
    lines = (StockLine(shop.products["bag"], 4),)
    await record_stock_document(
        shop.shop_id,
        DocumentIn(uuid.uuid4(), DocumentType.DELIVERY, StockReason.DELIVERY, lines),
        manager,
        shop.services,
    )
    assert shop.state.stock_movements[-1].moved_by == manager.operator_id
    with pytest.raises(ForbiddenError):
        await record_stock_document(
            shop.other_shop,
            DocumentIn(uuid.uuid4(), DocumentType.DELIVERY, StockReason.DELIVERY, lines),
            manager,
            shop.services,
        )
    with pytest.raises(ForbiddenError):
        await stock_levels(shop.other_shop, manager, shop.services)
    with pytest.raises(NotFoundError):
        await stock_levels(uuid.uuid4(), manager, shop.services)
    cashier = Actor(shop.cashier, Role.CASHIER, shop.shop_id, manager.company_id)
    with pytest.raises(ForbiddenError):
        await stock_movements(shop.shop_id, cashier, shop.services, MovementFilter())


async def test_levels_list_every_tracked_product_and_filter_the_low_and_the_out_of_stock(shop: Shop) -> None:
    await deliver(shop, ("bag", 1))
    levels = await stock_levels(shop.shop_id, SYSTEM, shop.services)
    assert [(v.product_name, v.level, v.state) for v in levels] == [
        ("Ampoule LED", 0, "out_of_stock"),  # never moved: none in stock
        ("Sac cabas", 1, "low_stock"),
    ]
    await deliver(shop, ("bag", 5), ("bulb", 1))
    low = await stock_levels(shop.shop_id, SYSTEM, shop.services, alert="low_stock")
    assert [(v.product_name, v.level, v.state) for v in low] == [("Ampoule LED", 1, "low_stock")]
    assert await stock_levels(shop.shop_id, SYSTEM, shop.services, alert="out_of_stock") == []
    [bag] = await stock_levels(shop.shop_id, SYSTEM, shop.services, product_id=shop.products["bag"])
    assert (bag.level, bag.state, bag.threshold) == (6, "ok", 1)


async def test_movements_are_listed_newest_first_a_page_at_a_time_with_their_filters(shop: Shop) -> None:
    delivery = uuid.uuid4()
    await deliver(shop, ("bag", 9), ("bulb", 9), document_id=delivery)
    for number in range(1, 4):
        shop.now[0] = NOW + timedelta(minutes=number)
        await sell(shop, number, ("bag", 1))
    first = await stock_movements(shop.shop_id, SYSTEM, shop.services, MovementFilter(), limit=2)
    assert [m.document_ref for m in first.movements] == ["Caisse 1/000003", "Caisse 1/000002"]
    assert first.next_cursor is not None
    rest = await stock_movements(shop.shop_id, SYSTEM, shop.services, MovementFilter(), before=first.next_cursor)
    assert [m.level_after for m in rest.movements][:1] == [8]
    assert len(rest.movements) == 3
    assert rest.next_cursor is None
    sales = await stock_movements(shop.shop_id, SYSTEM, shop.services, MovementFilter(reason="sale"))
    assert len(sales.movements) == 3
    bulbs = await stock_movements(shop.shop_id, SYSTEM, shop.services, MovementFilter(product_id=shop.products["bulb"]))
    assert [m.change for m in bulbs.movements] == [9]
    of_delivery = await stock_movements(shop.shop_id, SYSTEM, shop.services, MovementFilter(document_id=delivery))
    assert len(of_delivery.movements) == 2
    window = MovementFilter(since=NOW + timedelta(minutes=2), until=NOW + timedelta(minutes=3))
    [second] = (await stock_movements(shop.shop_id, SYSTEM, shop.services, window)).movements
    assert second.document_ref == "Caisse 1/000002"
    assert (await stock_movements(shop.other_shop, SYSTEM, shop.services, MovementFilter())).movements == []


async def test_a_product_refusing_to_go_below_zero_must_be_stock_tracked(shop: Shop) -> None:
    company = shop.state.items[shop.shop_id].hierarchy.company_id
    category = shop.state.items[shop.products["bag"]].item["category_id"]
    body = {
        "company_id": str(company),
        "category_id": category,
        "name": "Vis",
        "price": 10,
        "stock_refuse_below_zero": True,
    }
    with pytest.raises(ValidationError, match="stock_refuse_below_zero needs stock_tracked"):
        await create_item(EntityType.PRODUCT, body, SYSTEM, shop.services)
