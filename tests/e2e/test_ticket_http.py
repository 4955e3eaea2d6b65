"""pos-api's ticket route over HTTP: bad input is a problem+json naming the field, and nothing is written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from harness import ServiceProcess, Stack


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    service = stack.service("pos-api", tag="_http", run_relay="false")
    service.start()
    return service


def example() -> dict[str, Any]:
    ticket = load_example(TicketFinalizedV1).data.model_copy(update={"ticket_id": uuid.uuid4(), "pos_id": uuid.uuid4()})
    return ticket.model_dump(mode="json")


def rows(stack: Stack, pos_id: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", "_http")))
        try:
            tickets: int = await conn.fetchval("select count(*) from tickets where pos_id = $1", uuid.UUID(pos_id))
            events: int = await conn.fetchval("select count(*) from outbox where key = $1", pos_id)
            return tickets + events
        finally:
            await conn.close()

    return asyncio.run(count())


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_malformed_json_is_a_400_problem(pos_api: ServiceProcess) -> None:
    response = httpx.post(
        f"{pos_api.url}/v1/tickets", content=b'{"ticket_id": ', headers={"content-type": "application/json"}
    )
    assert problem(response, 400)["title"] == "Malformed JSON"


def test_money_as_a_float_is_refused_naming_the_field(pos_api: ServiceProcess, stack: Stack) -> None:
    body = example()
    body["total_incl_tax"] = 10.0
    params = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body), 422)["invalid_params"]
    assert "total_incl_tax" in {p["name"] for p in params}
    assert rows(stack, body["pos_id"]) == 0


def test_totals_that_do_not_add_up_are_refused_and_nothing_is_written(pos_api: ServiceProcess, stack: Stack) -> None:
    body = example()
    body["lines"][0]["total_incl_tax"] = 900
    body["lines"][0]["tax"] = 233
    params = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body), 422)["invalid_params"]
    assert "total_incl_tax" in {p["name"] for p in params}
    assert rows(stack, body["pos_id"]) == 0


def test_a_known_number_with_other_content_is_a_409_and_the_original_is_kept(
    pos_api: ServiceProcess, stack: Stack
) -> None:
    body = example()
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=body).status_code == 201
    other = {**body, "ticket_id": str(uuid.uuid4())}
    conflict = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=other), 409)
    assert conflict["existing_ticket_id"] == body["ticket_id"]
    assert conflict["invalid_params"][0]["name"] == "number"
    assert rows(stack, body["pos_id"]) == 2  # the original ticket and its one event
    assert httpx.get(f"{pos_api.url}/v1/tickets/{body['ticket_id']}").json()["ticket_id"] == body["ticket_id"]
