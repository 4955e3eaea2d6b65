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
from harness import ServiceProcess, Stack, Till


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    service = stack.service("pos-api", tag="_http", run_relay="false")
    service.start()
    return service


@pytest.fixture(scope="module")
def till(stack: Stack, pos_api: ServiceProcess) -> Till:
    return Till.of(stack.demo(pos_api), 0)


def example(till: Till) -> dict[str, Any]:
    ticket = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "pos_id": uuid.UUID(till.till.pos_id),
            "shop_id": uuid.UUID(till.till.shop_id),
            "number": till.number(),
            "operator_id": None,  # the example's operator is no operator of the demo
        }
    )
    return ticket.model_dump(mode="json")


def rows(stack: Stack, pos_id: str) -> int:
    """Tickets and outbox events of the POS (its tickets' events are keyed by pos_id)."""

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


def test_malformed_json_is_a_400_problem(pos_api: ServiceProcess, till: Till) -> None:
    response = httpx.post(
        f"{pos_api.url}/v1/tickets",
        content=b'{"ticket_id": ',
        headers={"content-type": "application/json", **till.headers},
    )
    body = problem(response, 400)
    assert body["title"] == "Malformed JSON"
    assert body["invalid_params"] == [
        {"name": "body", "reason": "is not valid JSON: expecting value at line 1, column 15 (character 15)"}
    ]


def test_money_as_a_float_is_refused_naming_the_field(pos_api: ServiceProcess, stack: Stack, till: Till) -> None:
    body = example(till)
    body["total_incl_tax"] = 10.0
    params = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers), 422)["invalid_params"]
    assert "total_incl_tax" in {p["name"] for p in params}
    assert rows(stack, body["pos_id"]) == 0


def test_totals_that_do_not_add_up_are_refused_and_nothing_is_written(
    pos_api: ServiceProcess, stack: Stack, till: Till
) -> None:
    body = example(till)
    body["lines"][0]["total_incl_tax"] = 900
    body["lines"][0]["tax"] = 233
    params = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers), 422)["invalid_params"]
    assert "total_incl_tax" in {p["name"] for p in params}
    assert rows(stack, body["pos_id"]) == 0


def test_a_known_number_with_other_content_is_a_409_and_the_original_is_kept(
    pos_api: ServiceProcess, stack: Stack, till: Till
) -> None:
    body = example(till)
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers).status_code == 201
    other = {**body, "ticket_id": str(uuid.uuid4())}
    conflict = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=other, headers=till.headers), 409)
    assert conflict["existing_ticket_id"] == body["ticket_id"]
    assert conflict["invalid_params"][0]["name"] == "number"
    assert rows(stack, body["pos_id"]) == 2  # the original ticket and its one event
    original = httpx.get(f"{pos_api.url}/v1/tickets/{body['ticket_id']}", headers=till.headers)
    assert original.json()["ticket_id"] == body["ticket_id"]
    admin = {"Authorization": f"Bearer {stack.admin_token('_http')}"}
    kept = [
        c
        for c in httpx.get(f"{pos_api.url}/v1/ops/ticket-conflicts", headers=admin).json()
        if c["pos_id"] == body["pos_id"] and c["number"] == body["number"]
    ]
    assert [(c["source"], c["existing_ticket_id"], c["attempt"]["ticket_id"]) for c in kept] == [
        ("ticket", body["ticket_id"], other["ticket_id"])
    ]
    again = httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers)
    assert (again.status_code, again.headers["X-Ticket-Outcome"]) == (200, "already_exists")


def test_a_ticket_naming_a_cashier_of_another_shop_is_refused_naming_operator_id(
    pos_api: ServiceProcess, stack: Stack, till: Till
) -> None:
    demo = stack.demo(pos_api)
    other_shop = next(cashier for shop, cashier in demo.cashiers.items() if shop != till.till.shop_id)
    body = {**example(till), "operator_id": other_shop}
    before = rows(stack, body["pos_id"])
    refused = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers), 422)
    assert refused["invalid_params"] == [
        {"name": "operator_id", "reason": f"operator {other_shop} works in another shop"}
    ]
    assert rows(stack, body["pos_id"]) == before
    own = {**example(till), "operator_id": demo.cashiers[till.till.shop_id]}
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=own, headers=till.headers).status_code == 201


def test_a_wrong_or_missing_device_secret_is_a_401(pos_api: ServiceProcess, till: Till) -> None:
    body = example(till)
    wrong = {**till.headers, "X-Device-Secret": "not-the-secret"}
    assert (
        problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=wrong), 401)["title"] == "Not authenticated"
    )
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=body).status_code == 401


def test_a_till_cannot_post_another_tills_ticket(pos_api: ServiceProcess, stack: Stack, till: Till) -> None:
    other = Till.of(stack.demo(pos_api), 3)
    body = example(other)
    refused = problem(httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers), 403)
    assert refused["invalid_params"][0]["name"] == "pos_id"


def test_a_skipped_number_shows_as_a_gap_to_ops_until_its_ticket_arrives(pos_api: ServiceProcess, stack: Stack) -> None:
    till = Till.of(stack.demo(pos_api), 1)
    first, skipped, third = example(till), example(till), example(till)
    for body in (first, third):
        assert httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers).status_code == 201
    admin = {"Authorization": f"Bearer {stack.admin_token('_http')}"}

    def gaps_of_till() -> list[int]:
        gaps = httpx.get(f"{pos_api.url}/v1/ops/ticket-gaps", headers=admin).json()
        return [g["number"] for g in gaps if g["pos_id"] == till.till.pos_id]

    assert gaps_of_till() == [skipped["number"]]
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=skipped, headers=till.headers).status_code == 201
    assert gaps_of_till() == []
