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
