"""session-service over HTTP on the fakes: every route needs pos-api's service token and answers the till or the
operator it calls for within their scope only; every route's request and 2xx answer is typed in OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from caisse_runtime.http import install_problem_handlers
from session_service.adapters.documents import ReportDocuments
from session_service.adapters.memory import InMemoryUnitOfWork, MemoryState
from session_service.domain.totals import LateTicket
from session_service.entrypoints.http import problems
from session_service.entrypoints.http.deps import Services, token_digest
from session_service.entrypoints.http.routes import sessions, totals
from session_service.service_layer.ports import ConfigRecord
from session_service.service_layer.sessions import SessionServices

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
TOKEN = "service-token-of-the-test"


@dataclass
class Place:
    territory_id: uuid.UUID = field(default_factory=uuid.uuid4)
    company_id: uuid.UUID = field(default_factory=uuid.uuid4)
    shop_id: uuid.UUID = field(default_factory=uuid.uuid4)
    pos_id: uuid.UUID = field(default_factory=uuid.uuid4)
    cashier: uuid.UUID = field(default_factory=uuid.uuid4)


def build_app(state: MemoryState) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(sessions.router)
    app.include_router(totals.router)
    problems.install(app)
    uow = lambda: InMemoryUnitOfWork(state)  # noqa: E731
    app.state.services = Services(
        uow=uow,
        clock=lambda: NOW,
        sessions=SessionServices(uow=uow, clock=lambda: NOW, new_id=uuid.uuid4),
        documents=ReportDocuments(),
        service_token_sha256=token_digest(TOKEN),
    )
    return app


def configure(state: MemoryState, place: Place) -> None:
    def put(entity_type: str, entity_id: uuid.UUID, item: dict[str, Any]) -> None:
        state.config[entity_id] = ConfigRecord(entity_type, entity_id, 1, False, {"id": str(entity_id), **item})

    put(
        "territory",
        place.territory_id,
        {
            "name": "France",
            "currency": "EUR",
            "currency_exponent": 2,
            "timezone": "Europe/Paris",
            "denominations": [{"value": 1000, "kind": "note"}, {"value": 100, "kind": "coin"}],
        },
    )
    put("company", place.company_id, {"territory_id": str(place.territory_id), "name": "Ressourcerie"})
    put("shop", place.shop_id, {"company_id": str(place.company_id), "name": "Centre", "address": "1 rue"})
    put("pos", place.pos_id, {"shop_id": str(place.shop_id), "name": "Caisse 1"})
    put("operator", place.cashier, {"name": "Alice", "role": "cashier", "shop_id": str(place.shop_id)})


@dataclass
class World:
    state: MemoryState
    client: httpx.AsyncClient
    here: Place
    elsewhere: Place
    session_id: uuid.UUID


def service() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def till(place: Place) -> dict[str, str]:
    return {**service(), "X-Caisse-Pos-Id": str(place.pos_id), "X-Caisse-Shop-Id": str(place.shop_id)}


def operator(role: str, shop_id: uuid.UUID | None = None, company_id: uuid.UUID | None = None) -> dict[str, str]:
    headers = {**service(), "X-Caisse-Operator-Id": str(uuid.uuid4()), "X-Caisse-Operator-Role": role}
    if shop_id:
        headers["X-Caisse-Shop-Id"] = str(shop_id)
    if company_id:
        headers["X-Caisse-Company-Id"] = str(company_id)
    return headers


@pytest.fixture
async def world() -> AsyncIterator[World]:
    state = MemoryState()
    here, elsewhere = Place(), Place()
    configure(state, here)
    configure(state, elsewhere)
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://session-service") as client:
        session_id = uuid.uuid4()
        opened = await client.post(
            f"/v1/pos/{here.pos_id}/sessions",
            json={
                "session_id": str(session_id),
                "operator_ids": [str(here.cashier)],
                "float_counts": [{"value": 1000, "count": 2}],
            },
            headers=till(here),
        )
        assert opened.status_code == 201, opened.text
        yield World(state, client, here, elsewhere, session_id)


def close_body(world: World) -> dict[str, Any]:
    return {"closed_by": str(world.here.cashier), "last_ticket_number": None, "counts": [{"value": 1000, "count": 2}]}


def deposit_body(cash: int = 1500, reference: str = "BR-0457") -> dict[str, Any]:
    return {"cash": cash, "cheques": [], "reference": reference, "deposited_on": "2026-11-23"}


def routes(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One route of each class: open, read, write, documents, figures, lists."""
    s = world.session_id
    return [
        (
            "POST",
            f"/v1/pos/{world.here.pos_id}/sessions",
            {"session_id": str(s), "operator_ids": [], "float_counts": []},
        ),
        ("GET", f"/v1/pos/{world.here.pos_id}/sessions/current", None),
        ("GET", f"/v1/sessions/{s}", None),
        ("POST", f"/v1/sessions/{s}/close", close_body(world)),
        ("GET", f"/v1/sessions/{s}/report", None),
        ("GET", f"/v1/sessions/{s}/mail", None),
        ("GET", f"/v1/sessions/{s}/late-tickets", None),
        ("GET", f"/v1/sessions/{s}/totals", None),
        ("GET", f"/v1/tickets/{uuid.uuid4()}", None),
        ("GET", "/v1/late-tickets", None),
        ("POST", f"/v1/sessions/{s}/deposit", deposit_body()),
    ]


async def test_every_route_without_the_service_token_or_with_another_is_401(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"X-Caisse-Pos-Id": str(world.here.pos_id)}):
        for method, path, body in routes(world):
            answer = await world.client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
    assert world.state.sessions[world.session_id].status.value == "open"


async def test_a_till_reaches_only_its_own_pos(world: World) -> None:
    other = till(world.elsewhere)
    s = world.session_id
    assert (await world.client.get(f"/v1/pos/{world.here.pos_id}/sessions/current", headers=other)).status_code == 403
    for path in (f"/v1/sessions/{s}", f"/v1/sessions/{s}/late-tickets", f"/v1/sessions/{s}/mail"):
        assert (await world.client.get(path, headers=other)).status_code == 404, path
    closed = await world.client.post(f"/v1/sessions/{s}/close", json=close_body(world), headers=other)
    assert closed.status_code == 404
    assert world.state.sessions[s].status.value == "open"
    assert (await world.client.get("/v1/late-tickets", headers=other)).status_code == 403


async def test_an_operator_reads_only_the_shops_of_their_scope_and_never_closes(world: World) -> None:
    s = world.session_id
    outsider = operator("shop_manager", world.elsewhere.shop_id, world.elsewhere.company_id)
    cashier = operator("cashier", world.here.shop_id, world.here.company_id)
    for headers in (outsider, cashier):
        assert (await world.client.get(f"/v1/sessions/{s}", headers=headers)).status_code == 403
    manager = operator("shop_manager", world.here.shop_id, world.here.company_id)
    closed = await world.client.post(f"/v1/sessions/{s}/close", json=close_body(world), headers=manager)
    assert closed.status_code == 403
    assert world.state.sessions[s].status.value == "open"
    listed = await world.client.get(f"/v1/late-tickets?shop_id={world.elsewhere.shop_id}", headers=manager)
    assert listed.status_code == 403
    assert (await world.client.get("/v1/late-tickets", headers=manager)).status_code == 403


async def test_the_right_caller_gets_each_route_class(world: World) -> None:
    s = world.session_id
    own = till(world.here)
    manager = operator("shop_manager", world.here.shop_id, world.here.company_id)
    colleague = operator("shop_manager", uuid.uuid4(), world.here.company_id)  # another shop of the company
    admin = operator("federation_admin")
    assert (await world.client.get(f"/v1/pos/{world.here.pos_id}/sessions/current", headers=own)).status_code == 200
    for headers in (own, manager, colleague, admin, service()):
        assert (await world.client.get(f"/v1/sessions/{s}", headers=headers)).status_code == 200
    closed = await world.client.post(f"/v1/sessions/{s}/close", json=close_body(world), headers=own)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    for headers in (own, manager, admin, service()):
        report = await world.client.get(f"/v1/sessions/{s}/report", headers=headers)
        assert report.status_code == 200
        assert report.json()["session_id"] == str(s)
    assert (await world.client.get(f"/v1/sessions/{s}/report", headers=till(world.elsewhere))).status_code == 404
    for headers in (manager, admin, service()):
        listed = await world.client.get(f"/v1/late-tickets?shop_id={world.here.shop_id}", headers=headers)
        assert (listed.status_code, listed.json()) == (200, [])
    assert (await world.client.get("/v1/late-tickets", headers=admin)).status_code == 200


async def test_a_closed_session_shows_its_late_tickets_to_its_till_and_its_shop(world: World) -> None:
    s = world.session_id
    assert (
        await world.client.post(f"/v1/sessions/{s}/close", json=close_body(world), headers=till(world.here))
    ).is_success
    late = LateTicket(
        ticket_id=uuid.uuid4(),
        session_id=s,
        pos_id=world.here.pos_id,
        shop_id=world.here.shop_id,
        company_id=world.here.company_id,
        number=7,
        kind="sale",
        total_incl_tax=1250,
        currency="EUR",
        by_method={"cash": 1250},
        finalized_at=NOW,
        event_id=uuid.uuid4(),
        received_at=NOW,
    )
    world.state.late[late.ticket_id] = late
    read = (await world.client.get(f"/v1/sessions/{s}", headers=till(world.here))).json()
    assert [(t["number"], t["total_incl_tax"], t["by_method"]) for t in read["late_tickets"]] == [
        (7, 1250, {"cash": 1250})
    ]
    manager = operator("shop_manager", world.here.shop_id, world.here.company_id)
    listed = (await world.client.get(f"/v1/late-tickets?shop_id={world.here.shop_id}", headers=manager)).json()
    assert [t["ticket_id"] for t in listed] == [str(late.ticket_id)]


async def test_the_deposit_is_confirmed_by_the_till_or_a_manager_of_the_shop_once_and_the_same_again_answers_it(
    world: World,
) -> None:
    s = world.session_id
    own = till(world.here)
    too_early = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(), headers=own)
    assert too_early.status_code == 409
    assert too_early.json()["type"].endswith("session-not-closed")
    close = {**close_body(world), "float_kept": [{"value": 100, "count": 0}]}
    assert (await world.client.post(f"/v1/sessions/{s}/close", json=close, headers=own)).is_success
    outsider = operator("shop_manager", world.elsewhere.shop_id, world.elsewhere.company_id)
    cashier = operator("cashier", world.here.shop_id, world.here.company_id)
    for headers in (outsider, cashier):
        refused = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(), headers=headers)
        assert refused.status_code == 403
    other_till = await world.client.post(
        f"/v1/sessions/{s}/deposit", json=deposit_body(), headers=till(world.elsewhere)
    )
    assert other_till.status_code == 404
    too_much = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(cash=2001), headers=own)
    assert too_much.status_code == 422
    assert [p["name"] for p in too_much.json()["invalid_params"]] == ["cash"]
    assert world.state.deposits == {}
    manager = operator("shop_manager", world.here.shop_id, world.here.company_id)
    first = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(), headers=manager)
    assert first.status_code == 201, first.text
    assert (first.json()["cash"], first.json()["total"], first.json()["reference"]) == (1500, 1500, "BR-0457")
    assert first.json()["confirmed_by"] == manager["X-Caisse-Operator-Id"]
    again = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(), headers=own)
    assert (again.status_code, again.json()) == (200, first.json())
    other = await world.client.post(f"/v1/sessions/{s}/deposit", json=deposit_body(cash=1000), headers=own)
    assert other.status_code == 409
    assert other.json()["type"].endswith("deposit-already-confirmed")
    assert [d.cash for d in world.state.deposits.values()] == [1500]
    read = await world.client.get(f"/v1/sessions/{s}", headers=own)
    assert read.json()["deposit"] == first.json()


BINARY_TYPES = {"application/pdf", "application/octet-stream", "text/html"}


def test_every_route_documents_a_typed_request_and_a_typed_answer_in_openapi() -> None:
    document = build_app(MemoryState()).openapi()
    untyped: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            body = operation.get("requestBody")
            if body is not None:
                schema = body["content"]["application/json"]["schema"]
                if "$ref" not in schema:
                    untyped.append(f"{where}: request body {schema}")
            answers = {code: a for code, a in operation["responses"].items() if code.startswith("2")}
            if not answers:
                untyped.append(f"{where}: no 2xx answer")
            for code, answer in answers.items():
                for media_type, content in answer.get("content", {"none": {}}).items():
                    schema = content.get("schema", {})
                    if media_type in BINARY_TYPES:
                        if schema.get("type") != "string":
                            untyped.append(f"{where} {code} {media_type}: {schema}")
                    elif ("$ref" not in schema and schema.get("type") != "array") or (
                        schema.get("type") == "array" and "$ref" not in schema.get("items", {})
                    ):
                        untyped.append(f"{where} {code} {media_type}: {schema}")
            for code in ("401", "403", "404"):
                refusal = operation["responses"].get(code, {}).get("content", {})
                if "$ref" not in refusal.get("application/problem+json", {}).get("schema", {}):
                    untyped.append(f"{where}: {code} is not a problem document")
    assert untyped == []


# The open, a movement and the close a till made offline, sent with its own times and ids: they answer what they
# recorded when sent again (`X-Session-Outcome`), refuse the same id with other content as a 409 problem naming the
# field, and a close that does not wait answers at once (202, closing).

OPENED_AT = "2026-11-21T06:30:00+01:00"  # NOW is 08:00 UTC, 09:00 in Paris
MOVED_AT = "2026-11-21T07:15:00+01:00"
CLOSED_AT = "2026-11-21T08:45:00+01:00"


@dataclass
class Till:
    client: httpx.AsyncClient
    place: Place
    session_id: uuid.UUID

    async def open(self, **changes: Any) -> httpx.Response:
        body = {
            "session_id": str(self.session_id),
            "operator_ids": [str(self.place.cashier)],
            "float_counts": [{"value": 1000, "count": 2}],
            "opened_at": OPENED_AT,
            **changes,
        }
        return await self.client.post(f"/v1/pos/{self.place.pos_id}/sessions", json=body, headers=till(self.place))

    async def move(self, movement_id: uuid.UUID, **changes: Any) -> httpx.Response:
        body = {
            "movement_id": str(movement_id),
            "kind": "withdrawal",
            "amount": 500,
            "reason": "au coffre",
            "operator_id": str(self.place.cashier),
            "occurred_at": MOVED_AT,
            **changes,
        }
        return await self.client.post(f"/v1/sessions/{self.session_id}/movements", json=body, headers=till(self.place))

    async def close(self, *, wait: bool = False, **changes: Any) -> httpx.Response:
        body = {
            "closed_by": str(self.place.cashier),
            "last_ticket_number": None,
            "counts": [{"value": 1000, "count": 1}, {"value": 100, "count": 5}],
            "closed_at": CLOSED_AT,
            **changes,
        }
        path = f"/v1/sessions/{self.session_id}/close?wait={str(wait).lower()}"
        return await self.client.post(path, json=body, headers=till(self.place))


@pytest.fixture
async def offline() -> AsyncIterator[Till]:
    state, place = MemoryState(), Place()
    configure(state, place)
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://session-service") as client:
        yield Till(client, place, uuid.uuid4())


def outcome(response: httpx.Response, status: int, expected: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["X-Session-Outcome"] == expected
    body: dict[str, Any] = response.json()
    return body


def conflict(response: httpx.Response, field_name: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/replay-conflict")
    assert [p["name"] for p in problem["invalid_params"]] == [field_name]


async def test_an_offline_open_movement_and_close_keep_the_till_s_times_and_answer_the_same_when_sent_again(
    offline: Till,
) -> None:
    opened = outcome(await offline.open(), 201, "created")
    assert opened["opened_at"] == "2026-11-21T05:30:00Z"
    movement_id = uuid.uuid4()
    moved = outcome(await offline.move(movement_id), 201, "created")
    assert [m["at"] for m in moved["movements"]] == ["2026-11-21T06:15:00Z"]
    closed = outcome(await offline.close(), 200, "created")
    assert (closed["status"], closed["closed_at"]) == ("closed", "2026-11-21T07:45:00Z")
    assert closed["closing"]["variance"] == 0  # 20.00 float − 5.00 to the safe = 15.00 counted

    assert outcome(await offline.open(), 200, "already_exists") == closed
    assert outcome(await offline.move(movement_id), 200, "already_exists") == closed
    assert outcome(await offline.close(), 200, "already_exists") == closed
    report = (await offline.client.get(f"/v1/sessions/{offline.session_id}/report", headers=till(offline.place))).json()
    assert (report["opened_at"], report["closed_at"]) == ("2026-11-21T05:30:00Z", "2026-11-21T07:45:00Z")


async def test_the_same_ids_with_other_content_are_409_problems_naming_the_field(offline: Till) -> None:
    outcome(await offline.open(), 201, "created")
    conflict(await offline.open(float_counts=[{"value": 1000, "count": 3}]), "float_counts")
    movement_id = uuid.uuid4()
    outcome(await offline.move(movement_id), 201, "created")
    conflict(await offline.move(movement_id, amount=600), "amount")
    outcome(await offline.close(), 200, "created")
    conflict(await offline.close(closed_at="2026-11-21T08:46:00+01:00"), "closed_at")


async def test_a_close_that_does_not_wait_answers_at_once_closing_and_waiting_for_its_tickets(offline: Till) -> None:
    outcome(await offline.open(), 201, "created")
    waiting = outcome(await offline.close(last_ticket_number=2), 202, "created")
    assert (waiting["status"], waiting["waiting_for"]) == ("closing", [[1, 2]])
    again = outcome(await offline.close(last_ticket_number=2), 202, "already_exists")
    assert again["status"] == "closing"


async def test_a_time_in_the_future_or_without_its_offset_is_refused_naming_the_field(offline: Till) -> None:
    future = await offline.open(opened_at="2026-11-21T10:00:00+01:00")  # an hour ahead of the server's clock
    assert future.status_code == 422, future.text
    assert [p["name"] for p in future.json()["invalid_params"]] == ["opened_at"]
    naive = await offline.open(opened_at="2026-11-21T06:30:00")
    assert naive.status_code == 422, naive.text
    assert "opened_at" in naive.json()["invalid_params"][0]["name"]
    outcome(await offline.open(), 201, "created")
    early = await offline.move(uuid.uuid4(), occurred_at="2026-11-21T06:00:00+01:00")
    assert early.status_code == 422, early.text
    assert [p["name"] for p in early.json()["invalid_params"]] == ["occurred_at"]
    outcome(await offline.move(uuid.uuid4(), occurred_at="2026-11-21T09:04:00+01:00"), 201, "created")  # drift
