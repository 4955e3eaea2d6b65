"""A lean route serves a well-formed request without FastAPI's generic handling and leaves every other to it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel

from caisse_runtime.http import install_problem_handlers
from pos_api.entrypoints.http.lean import LeanRoute, is_json, served_lean

calls: dict[str, int] = {"generic dependency": 0, "lean reader": 0, "endpoint": 0}


class Body(BaseModel):
    number: int


def generic_dependency() -> str:
    calls["generic dependency"] += 1
    return "generic"


async def read_lean(request: Request) -> dict[str, Any] | None:
    calls["lean reader"] += 1
    if not is_json(request):
        return None
    try:
        body = Body.model_validate_json(await request.body())
    except ValueError:
        return None
    return {"item_id": uuid.UUID(request.path_params["item_id"]), "body": body, "how": "lean"}


router = APIRouter(route_class=LeanRoute)


@router.post("/items/{item_id}", status_code=201, response_model=None)
@served_lean(read_lean)
async def post_item(item_id: uuid.UUID, body: Body, how: Annotated[str, Depends(generic_dependency)]) -> Response:
    calls["endpoint"] += 1
    return Response(f"{item_id} {body.number} {how}", status_code=201)


def client() -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_well_formed_request_is_served_by_the_endpoint_without_fastapis_dependencies() -> None:
    before = dict(calls)
    item = uuid.uuid4()
    async with client() as c:
        answer = await c.post(f"/items/{item}", json={"number": 7})
    assert (answer.status_code, answer.text) == (201, f"{item} 7 lean")
    assert calls["generic dependency"] == before["generic dependency"]
    assert calls["endpoint"] == before["endpoint"] + 1


async def test_a_body_that_does_not_validate_gets_fastapis_own_problem_naming_the_field() -> None:
    async with client() as c:
        answer = await c.post(f"/items/{uuid.uuid4()}", json={"number": "seven"})
        malformed = await c.post(
            f"/items/{uuid.uuid4()}", content=b'{"number": ', headers={"content-type": "application/json"}
        )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [p["name"] for p in answer.json()["invalid_params"]] == ["number"]
    assert (malformed.status_code, malformed.json()["title"]) == (400, "Malformed JSON")


async def test_a_body_that_is_not_json_is_left_to_fastapi_which_reads_it_its_way() -> None:
    before = dict(calls)
    item = uuid.uuid4()
    async with client() as c:
        answer = await c.post(f"/items/{item}", content=b'{"number": 3}', headers={"content-type": "text/plain"})
    assert answer.status_code == 422
    assert calls["endpoint"] == before["endpoint"]
    assert calls["lean reader"] == before["lean reader"] + 1
