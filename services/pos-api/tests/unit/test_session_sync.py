"""`POST /v1/sync/sessions` on the fakes, session-service played by a scripted HTTP fake: the till's queued session
operations are forwarded in order with its ids and times, each answered on its own (created, already_exists,
conflict, failed), pos-api's read model follows the opens and closes, and an unreachable session-service leaves
the rest unsent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pos_api_setting import Setting, a_shop_with_a_till

from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import session_sync
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy
from pos_api.service_layer.ports import SessionState
from pos_api.service_layer.services import Services

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
OPENED_AT = "2026-11-21T09:00:00+01:00"
CLOSED_AT = "2026-11-21T18:00:00+01:00"
PROBLEM = {"content-type": "application/problem+json"}

Answer = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeSessionService:
    """Answers each request with the next scripted answer for its path's kind (open, movement, close)."""

    script: dict[str, list[Answer]] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        kind = request.url.path.rsplit("/", 1)[-1]
        return self.script[kind].pop(0)(request)

    def sent(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.url.path.rsplit("/", 1)[-1], json.loads(r.content)) for r in self.seen]


def session(session_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """A session as session-service answers it (the figures that matter here; the rest plausible)."""
    closing = {
        "last_ticket_number": 2,
        "expected_cash": 1500,
        "counted_cash": 1500,
        "variance": 0,
        "comment": None,
        "counts": [{"value": 500, "count": 3, "amount": 1500}],
        "float_kept": 0,
        "deposit": [{"value": 500, "count": 3, "amount": 1500}],
        "deposit_cash": 1500,
        "cheques": [],
        "cheque_total": 0,
        "card_total": 0,
        "card_terminal_total": None,
        "card_difference": None,
    }
    return {
        "session_id": session_id,
        "pos_id": str(uuid.uuid4()),
        "shop_id": str(uuid.uuid4()),
        "company_id": str(uuid.uuid4()),
        "territory_id": str(uuid.uuid4()),
        "currency": "EUR",
        "status": status,
        "status_text": status,
        "waiting_for": [],
        "opened_at": "2026-11-21T08:00:00Z",
        "operator_ids": [str(uuid.uuid4())],
        "denominations": [500],
        "float_counts": [{"value": 500, "count": 4, "amount": 2000}],
        "opening_float": 2000,
        "first_ticket_number": 1,
        "movements": [],
        "cash_added": 0,
        "cash_withdrawn": 500,
        "ticket_count": 0,
        "last_counted_number": None,
        "expected_cash": 1500,
        "closed_at": "2026-11-21T17:00:00Z" if status == "closed" else None,
        "closing": closing if status == "closed" else None,
        **extra,
    }


def answer(status: int, body: dict[str, Any], outcome: str | None = None, **headers: str) -> Answer:
    def respond(request: httpx.Request) -> httpx.Response:
        more = {"x-session-outcome": outcome} if outcome else {}
        return httpx.Response(status, json=body, headers={**more, **headers})

    return respond


@dataclass
class Sync:
    client: httpx.AsyncClient
    headers: dict[str, str]
    state: MemoryState
    setting: Setting
    fake: FakeSessionService

    async def post(self, *operations: dict[str, Any]) -> httpx.Response:
        return await self.client.post("/v1/sync/sessions", json={"operations": list(operations)}, headers=self.headers)


@pytest.fixture
async def sync() -> Sync:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    fake = FakeSessionService()
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(session_sync.router)
    app.state.services = services
    app.state.session_service = SessionServiceProxy(
        httpx.AsyncClient(transport=httpx.MockTransport(fake), base_url="http://session-service"), "token"
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    headers = {"X-Device-Serial": setting.serial, "X-Device-Secret": setting.secret}
    return Sync(client, headers, state, setting, fake)


def open_op(session_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "op": "open",
        "session_id": session_id,
        "operator_ids": [str(uuid.uuid4())],
        "float_counts": [{"value": 500, "count": 4}],
        "opened_at": OPENED_AT,
        **extra,
    }


def movement_op(session_id: str, movement_id: str | None = None) -> dict[str, Any]:
    return {
        "op": "movement",
        "session_id": session_id,
        "movement_id": movement_id or str(uuid.uuid4()),
        "kind": "withdrawal",
        "amount": 500,
        "reason": "au coffre",
        "operator_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-21T11:00:00+01:00",
    }


def close_op(session_id: str, last: int | None = 2) -> dict[str, Any]:
    return {
        "op": "close",
        "session_id": session_id,
        "closed_by": str(uuid.uuid4()),
        "last_ticket_number": last,
        "counts": [{"value": 500, "count": 3}],
        "closed_at": CLOSED_AT,
    }


async def test_the_queued_operations_go_to_session_service_in_order_with_the_till_s_ids_and_times(sync: Sync) -> None:
    sid = str(uuid.uuid4())
    movement = movement_op(sid)
    sync.fake.script = {
        "sessions": [answer(201, session(sid, "open"), "created")],
        "movements": [answer(201, session(sid, "open"), "created")],
        "close": [answer(202, session(sid, "closing", waiting_for=[[1, 2]]), "created")],
    }
    synced = await sync.post(open_op(sid), movement, close_op(sid))
    assert synced.status_code == 200, synced.text
    body = synced.json()
    assert [(r["index"], r["op"], r["outcome"], r["status"]) for r in body["results"]] == [
        (0, "open", "created", 201),
        (1, "movement", "created", 201),
        (2, "close", "created", 202),
    ]
    assert [r["id"] for r in body["results"]] == [sid, movement["movement_id"], sid]
    assert body["results"][2]["session"]["waiting_for"] == [[1, 2]]
    assert body["counts"] == {"created": 3, "already_exists": 0, "conflict": 0, "failed": 0}

    (kind_open, opened), (kind_move, moved), (kind_close, closed) = sync.fake.sent()
    assert (kind_open, opened["opened_at"], opened["first_ticket_number"]) == ("sessions", OPENED_AT, 1)
    assert "op" not in opened
    assert (kind_move, moved["occurred_at"], moved["movement_id"]) == (
        "movements",
        "2026-11-21T11:00:00+01:00",
        movement["movement_id"],
    )
    assert (kind_close, closed["closed_at"], closed["last_ticket_number"]) == ("close", CLOSED_AT, 2)
    assert sync.fake.seen[2].url.params["wait"] == "false", "a synced close never holds the batch"
    assert sync.fake.seen[0].headers["x-caisse-pos-id"] == str(sync.setting.pos_id)
    state = sync.state.sessions[sync.setting.pos_id]
    assert (str(state.session_id), state.closing, state.last_ticket_number) == (sid, True, 2)


async def test_the_till_s_own_first_ticket_number_goes_with_its_open(sync: Sync) -> None:
    sid = str(uuid.uuid4())
    sync.fake.script = {"sessions": [answer(201, session(sid, "open"), "created")]}
    await sync.post(open_op(sid, first_ticket_number=41))
    [(_, opened)] = sync.fake.sent()
    assert opened["first_ticket_number"] == 41


async def test_a_replay_is_already_exists_a_conflict_names_its_field_and_a_failure_does_not_stop_the_others(
    sync: Sync,
) -> None:
    sid = str(uuid.uuid4())
    conflict = {
        "type": "https://caisse.example/problems/replay-conflict",
        "title": "Recorded before with other content",
        "status": 409,
        "invalid_params": [{"name": "amount", "reason": "movement m was recorded with another amount"}],
    }
    unknown = {"type": "https://caisse.example/problems/session-not-found", "title": "Session not found", "status": 404}
    sync.fake.script = {
        "sessions": [answer(200, session(sid, "closed"), "already_exists")],
        "movements": [answer(409, conflict, **PROBLEM), answer(404, unknown, **PROBLEM)],
        "close": [answer(200, session(sid, "closed"), "already_exists")],
    }
    sync.state.sessions[sync.setting.pos_id] = SessionState(sync.setting.pos_id, uuid.UUID(sid), True, NOW)
    synced = (await sync.post(open_op(sid), movement_op(sid), movement_op(str(uuid.uuid4())), close_op(sid))).json()
    assert [r["outcome"] for r in synced["results"]] == ["already_exists", "conflict", "failed", "already_exists"]
    assert synced["results"][1]["problem"]["invalid_params"][0]["name"] == "amount"
    assert synced["results"][2]["problem"]["status"] == 404
    assert synced["counts"] == {"created": 0, "already_exists": 2, "conflict": 1, "failed": 1}
    state = sync.state.sessions[sync.setting.pos_id]
    assert (state.is_open, state.closing) == (False, False), "pos-api holds the session closed, as session-service"


async def test_once_session_service_cannot_be_reached_the_operations_left_fail_unsent(sync: Sync) -> None:
    sid = str(uuid.uuid4())

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sync.fake.script = {"sessions": [answer(201, session(sid, "open"), "created")], "movements": [down]}
    synced = (await sync.post(open_op(sid), movement_op(sid), close_op(sid))).json()
    assert [(r["outcome"], r["status"]) for r in synced["results"]] == [
        ("created", 201),
        ("failed", 503),
        ("failed", 503),
    ]
    assert [kind for kind, _ in [(r.url.path.rsplit("/", 1)[-1], r) for r in sync.fake.seen]] == [
        "sessions",
        "movements",
    ]


async def test_a_batch_beyond_the_limit_is_a_413_and_nothing_is_sent(sync: Sync) -> None:
    sid = str(uuid.uuid4())
    refused = await sync.post(*[movement_op(sid) for _ in range(501)])
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert sync.fake.seen == []


async def test_a_malformed_operation_is_a_422_naming_it_and_nothing_is_sent(sync: Sync) -> None:
    sid = str(uuid.uuid4())
    bad = {**movement_op(sid), "amount": 5.5}
    refused = await sync.post(open_op(sid), bad)
    assert refused.status_code == 422, refused.text
    assert any("operations.1" in p["name"] or "operations[1]" in p["name"] for p in refused.json()["invalid_params"])
    assert sync.fake.seen == []


async def test_a_time_without_its_offset_is_refused(sync: Sync) -> None:
    refused = await sync.post(open_op(str(uuid.uuid4()), opened_at="2026-11-21T09:00:00"))
    assert refused.status_code == 422, refused.text
    assert sync.fake.seen == []
