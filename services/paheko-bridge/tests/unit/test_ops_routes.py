"""The ops routes of the bridge over HTTP (ASGI, fakes behind): a session's push state, the dead letters with their
reason, one of them inspected, replayed alone or all together; every route needs the ops token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.http import install_problem_handlers
from paheko_bridge.adapters.memory import FakePaheko, FakeTargets, InMemoryFecJournal, InMemoryUnitOfWork, MemoryState
from paheko_bridge.entrypoints.http.routes import ops
from paheko_bridge.service_layer.accept import accept
from paheko_bridge.service_layer.ports import UnitOfWork
from paheko_bridge.service_layer.push import push_due
from paheko_bridge.service_layer.services import BridgeServices

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMPANY = uuid.uuid4()
TOKEN = "ops-secret"


@pytest.fixture
async def bridge() -> AsyncIterator[tuple[httpx.AsyncClient, BridgeServices, FakePaheko, list[int]]]:
    state, paheko = MemoryState(), FakePaheko()

    def uow() -> UnitOfWork:
        return InMemoryUnitOfWork(state)

    services = BridgeServices(
        uow=uow, targets=FakeTargets(paheko, {COMPANY}), fec=InMemoryFecJournal(), clock=lambda: NOW, new_id=uuid.uuid4
    )
    wakes: list[int] = []
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(ops.router)
    app.state.services = services
    app.state.ops_token = TOKEN
    app.state.wake = lambda: wakes.append(1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bridge", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client, services, paheko, wakes


def ticket(pos: uuid.UUID, session: uuid.UUID, number: int) -> Envelope[TicketFinalizedV1]:
    data = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "pos_id": pos,
            "number": number,
            "company_id": COMPANY,
            "session_id": session,
        }
    )
    return Envelope[TicketFinalizedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


async def test_dead_letters_are_listed_inspected_and_replayed_one_or_all(
    bridge: tuple[httpx.AsyncClient, BridgeServices, FakePaheko, list[int]],
) -> None:
    client, services, paheko, wakes = bridge
    pos, session = uuid.uuid4(), uuid.uuid4()
    envelopes = [ticket(pos, session, n) for n in (1, 2, 3)]
    for refused in envelopes[:2]:
        paheko.refuse[refused.data.ticket_id] = "422 invalid: lines[0].category unknown"
    await accept(envelopes, services)
    await push_due(services)

    dead = (await client.get("/v1/ops/dead-letters")).json()
    assert sorted(d["number"] for d in dead) == [1, 2]
    assert {d["last_error"] for d in dead} == {"422 invalid: lines[0].category unknown"}
    first = envelopes[0].data.ticket_id
    inspected = (await client.get(f"/v1/ops/dead-letters/{first}")).json()
    assert inspected["ticket"]["ticket_id"] == str(first)
    assert inspected["push"]["status"] == "rejected"

    paheko.refuse.clear()
    assert (await client.post(f"/v1/ops/dead-letters/{first}/replay")).json() == {"replayed": 1}
    assert wakes == [1]
    await push_due(services)
    assert [n for _, n in paheko.tickets] == [3, 1]
    assert (await client.post("/v1/ops/dead-letters/replay")).json() == {"replayed": 1}
    await push_due(services)
    assert sorted(n for _, n in paheko.tickets) == [1, 2, 3]
    assert (await client.get("/v1/ops/dead-letters")).json() == []

    state = (await client.get(f"/v1/ops/sessions/{session}")).json()
    assert [(t["number"], t["status"]) for t in state["tickets"]] == [(1, "pushed"), (2, "pushed"), (3, "pushed")]


async def test_an_unknown_dead_letter_or_session_is_a_404_problem_and_the_token_is_required(
    bridge: tuple[httpx.AsyncClient, BridgeServices, FakePaheko, list[int]],
) -> None:
    client, _, _, _ = bridge
    for method, path in (
        ("GET", f"/v1/ops/dead-letters/{uuid.uuid4()}"),
        ("POST", f"/v1/ops/dead-letters/{uuid.uuid4()}/replay"),
        ("GET", f"/v1/ops/sessions/{uuid.uuid4()}"),
    ):
        answer = await client.request(method, path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        refused = await client.get("/v1/ops/dead-letters", headers=headers)
        assert refused.status_code == 401
