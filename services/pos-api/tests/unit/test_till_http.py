"""The till's basket routes over HTTP on the fakes: a body refused names only what is wrong, on the lean path
(a canonical basket id, a well-formed body) as on FastAPI's own (any other)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pos_api_setting import a_shop_with_a_till

from caisse_contracts.events import EntityType
from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import baskets
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import SessionState
from pos_api.service_layer.services import Services

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
async def till() -> tuple[httpx.AsyncClient, dict[str, str], str]:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    state.sessions[setting.pos_id] = SessionState(setting.pos_id, uuid.uuid4(), True, NOW)
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
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(baskets.router)
    app.state.services = services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    return client, {"X-Device-Serial": setting.serial, "X-Device-Secret": setting.secret}, str(category.stored.id)


def line(category: str, line_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"line_id": line_id or str(uuid.uuid4()), "category_id": category, "price": 500, **extra}


@pytest.mark.parametrize(
    "basket_id",
    [str(uuid.uuid4()), uuid.uuid4().hex],
    ids=["lean path (canonical id)", "FastAPI's path (id without hyphens)"],
)
async def test_two_lines_with_one_id_are_a_422_naming_the_second_line_and_nothing_is_saved(
    till: tuple[httpx.AsyncClient, dict[str, str], str], basket_id: str
) -> None:
    client, headers, category = till
    same = str(uuid.uuid4())
    content = {"lines": [line(category, same), line(category, same)]}
    put = await client.put(f"/v1/baskets/{basket_id}", json={"version": 0, "content": content}, headers=headers)
    assert put.status_code == 422, put.text
    assert put.json()["invalid_params"] == [
        {"name": "lines[1].line_id", "reason": "is the id of lines[0] too: each line has its own"}
    ]
    finalize = await client.post(
        f"/v1/baskets/{basket_id}/finalize", json={"number": 1, "version": 0, "content": content}, headers=headers
    )
    assert (finalize.status_code, finalize.json()["invalid_params"][0]["name"]) == (422, "lines[1].line_id")
    assert (await client.get(f"/v1/baskets/{basket_id}", headers=headers)).status_code == 404


async def test_a_finalize_refused_for_its_content_names_only_the_content(
    till: tuple[httpx.AsyncClient, dict[str, str], str],
) -> None:
    client, headers, category = till
    content = {"lines": [line(category, price=12.5)]}
    refused = await client.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize", json={"number": 1, "version": 0, "content": content}, headers=headers
    )
    assert refused.status_code == 422
    assert [p["name"] for p in refused.json()["invalid_params"]] == ["content.lines.0.price"]
    without = await client.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize", json={"number": 1, "version": 0}, headers=headers
    )
    assert [p["name"] for p in without.json()["invalid_params"]] == ["version"]


async def test_broken_json_names_the_body_and_where_it_breaks(
    till: tuple[httpx.AsyncClient, dict[str, str], str],
) -> None:
    client, headers, _ = till
    broken = await client.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize",
        content=b'{"number": 1, "version": }',
        headers={**headers, "content-type": "application/json"},
    )
    assert (broken.status_code, broken.json()["title"]) == (400, "Malformed JSON")
    assert broken.json()["invalid_params"] == [
        {"name": "body", "reason": "is not valid JSON: expecting value at line 1, column 26 (character 26)"}
    ]


async def test_a_number_or_a_version_beyond_what_is_stored_is_a_422_naming_it_not_a_500(
    till: tuple[httpx.AsyncClient, dict[str, str], str],
) -> None:
    client, headers, category = till
    basket_id = str(uuid.uuid4())
    content = {"lines": [line(category)]}
    too_far = 2_147_483_648  # one past PostgreSQL's integer, which holds ticket numbers and basket versions
    finalize = await client.post(
        f"/v1/baskets/{basket_id}/finalize", json={"number": too_far, "version": 0, "content": content}, headers=headers
    )
    assert (finalize.status_code, [p["name"] for p in finalize.json()["invalid_params"]]) == (422, ["number"])
    put = await client.put(f"/v1/baskets/{basket_id}", json={"version": too_far, "content": content}, headers=headers)
    assert (put.status_code, [p["name"] for p in put.json()["invalid_params"]]) == (422, ["version"])
    discount = {"kind": "amount", "value": 100_000_001}
    put = await client.put(
        f"/v1/baskets/{basket_id}",
        json={"version": 0, "content": {"lines": [{**line(category), "discount": discount}]}},
        headers=headers,
    )
    assert (put.status_code, [p["name"] for p in put.json()["invalid_params"]]) == (
        422,
        ["content.lines.0.discount.value"],
    )
    assert (await client.get(f"/v1/baskets/{basket_id}", headers=headers)).status_code == 404
