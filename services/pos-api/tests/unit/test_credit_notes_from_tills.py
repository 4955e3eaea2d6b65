"""A credit note the till made itself, reaching pos-api as a finished ticket (`POST /v1/tickets`, online or from its
queue), over HTTP on the fakes: held to the rules of the online credit-note route. Its sale must be a sale of the
till's shop that pos-api holds, the units given back within what was sold less what earlier credit notes gave back,
every amount, tax and refund what the shared builder makes; otherwise a 422 problem naming the field, with nothing
written. The same credit note sent again answers `already_exists`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.credit_notes import credit_note_ticket
from caisse_contracts.events import EntityType, TicketFinalizedV1, TicketKind
from caisse_contracts.tills import CreditNoteIn
from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.domain.till import Device, TillContext
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import baskets, tickets
from pos_api.service_layer.baskets import till_context
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import SessionState, StoredTicket
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)


@dataclass
class Till:
    http: httpx.AsyncClient
    headers: dict[str, str]
    state: MemoryState
    device: Device
    context: TillContext
    category: str
    session_id: uuid.UUID

    def events(self) -> int:
        return [e.envelope.type for e in self.state.events].count("ticket.finalized")


@pytest.fixture
async def till() -> Till:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    session_id = uuid.uuid4()
    state.sessions[setting.pos_id] = SessionState(setting.pos_id, session_id, True, NOW)
    category = await create_item(
        EntityType.CATEGORY,
        {
            "company_id": str(setting.company_id),
            "name": "Textile",
            "revenue_account": "7071",
            "default_tax_code": "TVA20",
        },
        SYSTEM,
        services,
    )
    device = await authenticate_device(setting.serial, setting.secret, services)
    async with services.uow() as work:
        context = await till_context(work, device, services.cache)
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(baskets.router)
    app.include_router(tickets.router)
    app.state.services = services
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    headers = {"X-Device-Serial": setting.serial, "X-Device-Secret": setting.secret}
    return Till(http, headers, state, device, context, str(category.stored.id), session_id)


async def sold(till: Till, number: int = 1, quantity: int = 3) -> TicketFinalizedV1:
    """Coats at 10.00 € sold in cash online: the sale's ticket as pos-api stored it."""
    basket = str(uuid.uuid4())
    line = {"line_id": str(uuid.uuid4()), "category_id": till.category, "price": 1000, "quantity": quantity}
    cash = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 1000 * quantity}
    body = {"number": number, "version": 0, "content": {"lines": [line], "payments": [cash]}}
    done = await till.http.post(f"/v1/baskets/{basket}/finalize", json=body, headers=till.headers)
    assert done.status_code == 201, done.text
    return till.state.tickets[(till.device.pos_id, number)].ticket


def made_on_the_till(
    till: Till,
    sale: TicketFinalizedV1,
    number: int,
    quantity: int,
    refund: int,
    earlier: list[TicketFinalizedV1] | None = None,
) -> TicketFinalizedV1:
    """The credit note the till makes of `quantity` units of the sale's line, with the shared builder."""
    request = CreditNoteIn.model_validate(
        {
            "credit_note_id": str(uuid.uuid4()),
            "number": number,
            "lines": [{"line_id": str(sale.lines[0].line_id), "quantity": quantity}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": refund}],
        }
    )
    return credit_note_ticket(
        sale,
        earlier or [],
        request,
        pos_id=till.device.pos_id,
        session_id=till.session_id,
        now=LATER,
        territory=till.context.territory,
        company=till.context.company,
    )


async def post(till: Till, ticket: TicketFinalizedV1) -> httpx.Response:
    return await till.http.post("/v1/tickets", json=ticket.model_dump(mode="json"), headers=till.headers)


def refused(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return [p["name"] for p in answer.json()["invalid_params"]]


def changed(ticket: TicketFinalizedV1, **lines: Any) -> TicketFinalizedV1:
    return ticket.model_copy(update={"lines": (ticket.lines[0].model_copy(update=lines),)})


async def test_a_credit_note_made_on_the_till_is_recorded_once_and_its_replay_answers_already_exists(
    till: Till,
) -> None:
    sale = await sold(till)
    note = made_on_the_till(till, sale, 2, 1, 1000)
    created = await post(till, note)
    assert (created.status_code, created.headers["X-Ticket-Outcome"]) == (201, "created"), created.text
    stored = till.state.tickets[(till.device.pos_id, 2)].ticket
    assert (stored.kind, stored.original_ticket_id, stored.total_incl_tax) == (
        TicketKind.CREDIT_NOTE,
        sale.ticket_id,
        -1000,
    )
    again = await post(till, note)
    assert (again.status_code, again.headers["X-Ticket-Outcome"]) == (200, "already_exists")
    assert till.events() == 2  # the sale and its credit note, once each


async def test_units_given_back_beyond_what_earlier_credit_notes_left_are_refused_naming_the_line(till: Till) -> None:
    sale = await sold(till)
    first = made_on_the_till(till, sale, 2, 2, 2000)
    assert (await post(till, first)).status_code == 201
    # the till believes nothing was given back yet: two more units of the three, of which one is left
    beyond = made_on_the_till(till, sale, 3, 2, 2000)
    assert refused(await post(till, beyond)) == ["lines[0].quantity"]
    assert (till.device.pos_id, 3) not in till.state.tickets
    assert till.events() == 2
    last = made_on_the_till(till, sale, 3, 1, 1000, [first])
    assert (await post(till, last)).status_code == 201


async def test_amounts_or_lines_that_are_not_what_the_builder_makes_are_refused_naming_the_field(
    till: Till,
) -> None:
    sale = await sold(till)
    note = made_on_the_till(till, sale, 2, 1, 1000)
    # a unit given back for 11.00 €, every sum of the ticket adding up: not what a third of the line is
    line = note.lines[0]
    dearer = changed(note, total_incl_tax=-1100, total_excl_tax=-917, tax=-183)
    dearer = dearer.model_copy(
        update={
            "taxes": (note.taxes[0].model_copy(update={"total_incl_tax": -1100, "total_excl_tax": -917, "tax": -183}),),
            "payments": (note.payments[0].model_copy(update={"amount": -1100}),),
            "total_incl_tax": -1100,
            "total_excl_tax": -917,
            "total_tax": -183,
        }
    )
    assert refused(await post(till, dearer)) == ["payments"]
    relabelled = changed(note, label=f"{line.label} (neuf)")
    assert refused(await post(till, relabelled)) == ["lines[0].label"]
    booked_elsewhere = changed(note, revenue_account="7070")
    assert refused(await post(till, booked_elsewhere)) == ["lines[0].revenue_account"]
    assert till.events() == 1
    assert len(till.state.tickets) == 1


async def test_a_credit_note_on_a_sale_pos_api_does_not_hold_is_refused_saying_so(till: Till) -> None:
    sale = await sold(till)
    missing = made_on_the_till(till, sale.model_copy(update={"ticket_id": uuid.uuid4()}), 2, 1, 1000)
    answer = await post(till, missing)
    assert refused(answer) == ["original_ticket_id"]
    assert "a sale is recorded before its credit notes" in answer.json()["invalid_params"][0]["reason"]
    assert len(till.state.tickets) == 1


async def test_a_credit_note_on_another_shops_sale_or_on_a_credit_note_is_refused_naming_the_original(
    till: Till,
) -> None:
    sale = await sold(till)
    theirs = sale.model_copy(update={"ticket_id": uuid.uuid4(), "shop_id": uuid.uuid4(), "pos_id": uuid.uuid4()})
    till.state.tickets[(theirs.pos_id, 1)] = StoredTicket.new(theirs, NOW)
    answer = await post(till, made_on_the_till(till, theirs, 2, 1, 1000).model_copy(update={"shop_id": sale.shop_id}))
    assert refused(answer) == ["original_ticket_id"]
    assert "another shop" in answer.json()["invalid_params"][0]["reason"]
    note = made_on_the_till(till, sale, 2, 1, 1000)
    assert (await post(till, note)).status_code == 201
    on_a_note = made_on_the_till(till, sale, 3, 1, 1000).model_copy(update={"original_ticket_id": note.ticket_id})
    assert refused(await post(till, on_a_note)) == ["original_ticket_id"]
    assert len(till.state.tickets) == 3  # ours, theirs, the one credit note


async def test_a_credit_note_under_the_id_of_a_ticket_already_recorded_is_refused_naming_ticket_id(
    till: Till,
) -> None:
    sale = await sold(till)
    note = made_on_the_till(till, sale, 2, 1, 1000)
    assert (await post(till, note)).status_code == 201
    renumbered = made_on_the_till(till, sale, 3, 1, 1000, [note]).model_copy(update={"ticket_id": note.ticket_id})
    answer = await post(till, renumbered)
    assert refused(answer) == ["ticket_id"]
    assert "ticket number 2 of this till" in answer.json()["invalid_params"][0]["reason"]
