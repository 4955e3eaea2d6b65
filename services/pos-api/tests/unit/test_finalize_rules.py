"""Finalize's rules on the fakes: a number holds one sale, a line id one line, a ticket names a real operator of
its shop, a full event says how many seats are left, and cash in XPF settles what it rounds to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from caisse_contracts.events import EntityType, PaymentMethod
from caisse_contracts.tills import BasketContent, BasketPut, CreditNoteIn, FinalizeIn
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.errors import (
    InvalidReferenceError,
    SeatsFullError,
    TicketInconsistentError,
    TicketNumberConflictError,
)
from pos_api.domain.till import Device
from pos_api.service_layer.baskets import check_ticket_operator, credit_ticket, finalize_basket, save_basket
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import SessionState
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Shop:
    services: Services
    state: MemoryState
    device: Device
    category: str
    workshop: str
    operators: dict[str, uuid.UUID]


async def _create(services: Services, entity_type: EntityType, body: dict[str, Any]) -> uuid.UUID:
    return (await create_item(entity_type, body, SYSTEM, services)).stored.id


@pytest.fixture
async def shop() -> Shop:
    """A New Caledonian shop (XPF, cash rounded to 5, TGC 22 %) with a till, a workshop of 8 seats, its cashier;
    a second shop with its own cashier; a federation admin; a cashier who left."""
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    territory = await _create(
        services,
        EntityType.TERRITORY,
        {
            "name": "Nouvelle-Calédonie",
            "currency": "XPF",
            "currency_exponent": 0,
            "cash_rounding": "nearest_5",
            "tax_rates": [{"code": "TGC22", "label": "TGC 22 %", "rate_bp": 2200}],
            "denominations": [{"value": 5, "kind": "coin"}],
            "timezone": "Pacific/Noumea",
        },
    )
    company = await _create(services, EntityType.COMPANY, {"territory_id": str(territory), "name": "R"})
    here = await _create(services, EntityType.SHOP, {"company_id": str(company), "name": "Nouméa"})
    there = await _create(services, EntityType.SHOP, {"company_id": str(company), "name": "Koné"})
    pos = await create_item(
        EntityType.POS,
        {"shop_id": str(here), "name": "Caisse 1", "hostname": "c1", "device_serial": "NC-1"},
        SYSTEM,
        services,
    )
    assert pos.secret is not None
    category = await _create(
        services,
        EntityType.CATEGORY,
        {"company_id": str(company), "name": "Livres", "revenue_account": "7072", "default_tax_code": "TGC22"},
    )
    workshop = await _create(
        services,
        EntityType.PRODUCT,
        {
            "company_id": str(company),
            "category_id": str(category),
            "name": "Atelier vélo",
            "kind": "event_seat",
            "price": 1000,
            "capacity": 8,
        },
    )
    operators = {
        "cashier": await _create(
            services, EntityType.OPERATOR, {"name": "Léa", "role": "cashier", "shop_id": str(here)}
        ),
        "other shop": await _create(
            services, EntityType.OPERATOR, {"name": "Tom", "role": "cashier", "shop_id": str(there)}
        ),
        "admin": await _create(services, EntityType.OPERATOR, {"name": "Ops", "role": "federation_admin"}),
        "left": await _create(
            services, EntityType.OPERATOR, {"name": "Max", "role": "cashier", "shop_id": str(here), "active": False}
        ),
    }
    device = await authenticate_device("NC-1", pos.secret, services)
    state.sessions[device.pos_id] = SessionState(device.pos_id, uuid.uuid4(), True, NOW)
    return Shop(services, state, device, str(category), str(workshop), operators)


def book(shop: Shop, price: int = 1233, *, quantity: int = 1) -> dict[str, Any]:
    return {"line_id": str(uuid.uuid4()), "category_id": shop.category, "price": price, "quantity": quantity}


def pay(method: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {"payment_id": str(uuid.uuid4()), "method": method, "amount": amount, **extra}


def content(lines: list[dict[str, Any]], payments: list[dict[str, Any]], **extra: Any) -> BasketContent:
    return BasketContent.model_validate({"lines": lines, "payments": payments, **extra})


async def sell(shop: Shop, basket: uuid.UUID, number: int, sold: BasketContent) -> bool:
    done = await finalize_basket(shop.device, basket, FinalizeIn(number=number, version=0, content=sold), shop.services)
    return done.replayed


# A number holds one sale (ARCHITECTURE.md "Ticket numbers", PRODUCT.md §7)


async def test_a_basket_finalized_again_with_other_content_is_a_conflict_kept_aside_and_never_the_old_receipt(
    shop: Shop,
) -> None:
    basket = uuid.uuid4()
    line = book(shop, 1235)
    one = content([line], [pay("cash", 1235)])
    assert await sell(shop, basket, 1, one) is False
    two = content([{**line, "quantity": 2}], [pay("cash", 2470)])
    with pytest.raises(TicketNumberConflictError) as caught:
        await sell(shop, basket, 1, two)
    assert caught.value.existing_ticket_id == basket
    [kept] = shop.state.conflicts.values()
    assert (kept.pos_id, kept.number, kept.source, kept.attempted_ticket_id) == (
        shop.device.pos_id,
        1,
        "finalize",
        basket,
    )
    assert kept.attempt["lines"][0]["quantity"] == 2
    with pytest.raises(TicketNumberConflictError):
        await sell(shop, basket, 1, two)
    assert len(shop.state.conflicts) == 1, "the same attempt twice is kept once"
    assert await sell(shop, basket, 1, one) is True, "the identical replay still answers the original"
    assert shop.state.tickets[(shop.device.pos_id, 1)].ticket.lines[0].quantity == 1
    assert [e.envelope.type for e in shop.state.events].count("ticket.finalized") == 1


async def test_a_basket_finalized_again_with_the_same_sale_written_otherwise_answers_the_original(shop: Shop) -> None:
    basket = uuid.uuid4()
    line, cash = book(shop, 1235), pay("cash", 1235)
    await sell(shop, basket, 1, content([line], [cash]))
    # the same sale, its label written out: the lines, payments and totals it makes are the same
    same = content([{**line, "label": "Livres"}], [cash])
    assert await sell(shop, basket, 1, same) is True
    assert not shop.state.conflicts


# A line id names one line


async def test_two_lines_with_one_id_are_refused_naming_the_second_at_save_and_at_finalize(shop: Shop) -> None:
    line = book(shop)
    twice = content([line, book(shop), {**line, "price": 500}], [])
    with pytest.raises(TicketInconsistentError) as saved:
        await save_basket(shop.device, uuid.uuid4(), BasketPut(version=0, content=twice), shop.services)
    assert [(p.field, p.reason) for p in saved.value.problems] == [
        ("lines[2].line_id", "is the id of lines[0] too: each line has its own")
    ]
    with pytest.raises(TicketInconsistentError) as finalized:
        await sell(shop, uuid.uuid4(), 1, twice)
    assert finalized.value.problems[0].field == "lines[2].line_id"
    assert not shop.state.baskets
    assert not shop.state.tickets


# The operator recorded on a ticket (as session-service requires at open, movement and close)


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("unknown", "unknown operator"),
        ("left", "unknown operator"),
        ("other shop", "works in another shop"),
    ],
)
async def test_a_ticket_naming_an_operator_who_cannot_work_at_this_till_is_refused_naming_operator_id(
    shop: Shop, who: str, reason: str
) -> None:
    operator = shop.operators.get(who, uuid.uuid4())
    sold = content([book(shop, 1235)], [pay("cash", 1235)], operator_id=str(operator))
    with pytest.raises(InvalidReferenceError) as caught:
        await sell(shop, uuid.uuid4(), 1, sold)
    assert caught.value.field == "operator_id"
    assert reason in caught.value.reason
    assert not shop.state.tickets
    with pytest.raises(InvalidReferenceError):
        await check_ticket_operator(shop.device, operator, shop.services)


async def test_a_cashier_of_the_shop_and_a_federation_admin_are_recorded_on_their_tickets(shop: Shop) -> None:
    for number, who in ((1, "cashier"), (2, "admin")):
        operator = shop.operators[who]
        await sell(
            shop, uuid.uuid4(), number, content([book(shop, 1235)], [pay("cash", 1235)], operator_id=str(operator))
        )
        assert shop.state.tickets[(shop.device.pos_id, number)].ticket.operator_id == operator
        await check_ticket_operator(shop.device, operator, shop.services)


# Seats of an event


async def test_a_full_event_says_how_many_seats_are_left(shop: Shop) -> None:
    def seats(quantity: int) -> BasketContent:
        line = {"line_id": str(uuid.uuid4()), "product_id": shop.workshop, "quantity": quantity}
        return content([line], [pay("card", 1000 * quantity, reference="A1")])

    await sell(shop, uuid.uuid4(), 1, seats(5))
    with pytest.raises(SeatsFullError) as caught:
        await sell(shop, uuid.uuid4(), 2, seats(4))
    assert (caught.value.field, caught.value.left, caught.value.asked) == ("lines[0].quantity", 3, 4)
    assert str(caught.value) == "lines[0].quantity: only 3 seat(s) left, 4 asked"


# Cash rounding in XPF (PRODUCT.md §4: last digit 2 → −2)


async def test_after_a_card_of_1231_on_1233_xpf_the_2_paid_in_cash_settle_a_balanced_ticket(shop: Shop) -> None:
    basket = uuid.uuid4()
    shown = await save_basket(
        shop.device,
        basket,
        BasketPut(version=0, content=content([book(shop)], [pay("card", 1231, reference="A")])),
        shop.services,
    )
    assert (shown.computed.remaining, shown.computed.cash_due) == (2, 0)
    paid = content([book(shop)], [pay("card", 1231, reference="A"), pay("cash", 2)])
    receipt = (
        await finalize_basket(shop.device, basket, FinalizeIn(number=1, version=1, content=paid), shop.services)
    ).receipt
    assert (receipt.total_incl_tax, receipt.cash_rounding, receipt.total_due) == (1233, -2, 1231)
    ticket = shop.state.tickets[(shop.device.pos_id, 1)].ticket
    assert [(p.method, p.amount) for p in ticket.payments] == [(PaymentMethod.CARD, 1231)]
    assert sum(p.amount for p in ticket.payments) == ticket.total_incl_tax + ticket.cash_rounding


async def test_an_underpaid_finalize_says_what_remains_and_what_cash_must_bring(shop: Shop) -> None:
    with pytest.raises(TicketInconsistentError) as caught:
        await sell(shop, uuid.uuid4(), 1, content([book(shop)], [pay("card", 1000, reference="A")]))
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("payments", "233 still to pay (235 in cash, rounded)")
    ]


async def test_a_credit_note_sent_again_giving_back_more_is_a_conflict_kept_aside_and_never_the_old_receipt(
    shop: Shop,
) -> None:
    sale = uuid.uuid4()
    line = book(shop, 1000, quantity=3)
    await sell(shop, sale, 1, content([line], [pay("cash", 3000)]))

    def credit_note(quantity: int, refund: int) -> CreditNoteIn:
        return CreditNoteIn.model_validate(
            {
                "credit_note_id": str(note_id),
                "number": 2,
                "lines": [{"line_id": line["line_id"], "quantity": quantity}],
                "payments": [{"payment_id": str(refund_id), "method": "cash", "amount": refund}],
            }
        )

    note_id, refund_id = uuid.uuid4(), uuid.uuid4()
    first = await credit_ticket(shop.device, sale, credit_note(1, 1000), shop.services)
    again = await credit_ticket(shop.device, sale, credit_note(1, 1000), shop.services)
    assert (again.replayed, again.receipt) == (True, first.receipt)
    assert again.receipt.original_number == 1
    with pytest.raises(TicketNumberConflictError) as caught:
        await credit_ticket(shop.device, sale, credit_note(2, 2000), shop.services)
    assert caught.value.existing_ticket_id == note_id
    [kept] = shop.state.conflicts.values()
    assert (kept.source, kept.number, kept.attempt["lines"][0]["quantity"]) == ("credit_note", 2, 2)
    assert shop.state.tickets[(shop.device.pos_id, 2)].ticket.lines[0].quantity == -1
