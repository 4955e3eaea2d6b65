"""The HTTP runtime: readiness reports each dependency, and every error leaves as problem+json."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel, StrictInt

from caisse_runtime.http import (
    InvalidParam,
    ProblemError,
    bearer_only,
    install_health_routes,
    install_problem_handlers,
)


async def answers() -> bool:
    return True


async def refuses() -> bool:
    raise ConnectionRefusedError


class Body(BaseModel):
    amount: StrictInt


def app_with(checks: dict[str, object]) -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    install_health_routes(app, checks)  # type: ignore[arg-type]

    @app.post("/amounts")
    async def post_amount(body: Body) -> dict[str, int]:
        if body.amount < 0:
            raise ProblemError(422, "Negative amount", invalid_params=[InvalidParam("amount", "must not be negative")])
        return {"amount": body.amount}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


async def test_ready_when_every_dependency_answers() -> None:
    response = await app_with({"database": answers, "kafka": answers}).get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "kafka": "ok"}


async def test_not_ready_names_the_dependency_that_does_not_answer() -> None:
    response = await app_with({"database": answers, "kafka": refuses}).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"database": "ok", "kafka": "failing: ConnectionRefusedError"}


async def test_alive_does_not_depend_on_anything() -> None:
    assert (await app_with({"kafka": refuses}).get("/healthz")).status_code == 200


async def test_a_float_where_money_is_expected_is_a_422_naming_the_field() -> None:
    response = await app_with({}).post("/amounts", json={"amount": 12.5})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["invalid_params"][0]["name"] == "amount"


async def test_a_rule_error_keeps_its_status_title_and_fields() -> None:
    response = await app_with({}).post("/amounts", json={"amount": -1})
    body = response.json()
    assert (response.status_code, body["title"]) == (422, "Negative amount")
    assert body["invalid_params"] == [{"name": "amount", "reason": "must not be negative"}]
    assert body["instance"] == "/amounts"


async def test_malformed_json_names_the_body_and_says_in_words_where_it_breaks() -> None:
    response = await app_with({}).post(
        "/amounts", content=b'{\n  "amount": 12,\n  "note": \n}', headers={"content-type": "application/json"}
    )
    body = response.json()
    assert (response.status_code, body["title"]) == (400, "Malformed JSON")
    assert body["invalid_params"] == [
        {"name": "body", "reason": "is not valid JSON: expecting value at line 4, column 1 (character 30)"}
    ]


async def test_a_bearer_only_route_lets_through_its_token_only_and_says_whose_is_required() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token = "s3cret"

    @app.get("/ops", dependencies=[Depends(bearer_only(lambda r: r.app.state.token, whose="the ops"))])
    async def ops() -> dict[str, bool]:
        return {"ok": True}

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")
    assert (await client.get("/ops", headers={"Authorization": "Bearer s3cret"})).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}):
        refused = await client.get("/ops", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "the ops bearer token is required"
    app.state.token = None  # no token configured: nobody gets in
    assert (await client.get("/ops", headers={"Authorization": "Bearer s3cret"})).status_code == 401
