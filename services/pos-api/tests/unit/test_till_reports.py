"""What a till reports of itself and the release of its numbering, over HTTP on the fakes: a newer report replaces
an older one and never the other way; ops see the tills that need them first, beside pos-api's last number; a
release is only given for pos-api's last number as it stands, by someone who may change the till, once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pos_api_setting import Setting, a_shop_with_a_till

from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import ops, till
from pos_api.service_layer.config import SYSTEM, create_item
from pos_api.service_layer.ports import StoredTicket
from pos_api.service_layer.services import Services

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@dataclass
class Ops:
    client: httpx.AsyncClient
    state: MemoryState
    setting: Setting
    till: dict[str, str]
    admin: dict[str, str]
    manager: dict[str, str]
    other_manager: dict[str, str]

    def hold_tickets(self, *numbers: int) -> None:
        """pos-api holds these numbers of the till (as if its sales had been received)."""
        example = load_example(TicketFinalizedV1).data
        for n in numbers:
            ticket = example.model_copy(update={"ticket_id": uuid.uuid4(), "number": n, "pos_id": self.setting.pos_id})
            self.state.tickets[(self.setting.pos_id, n)] = StoredTicket.new(ticket, NOW)


async def _operator(services: Services, role: str, shop_id: uuid.UUID | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"name": role, "role": role}
    if shop_id is not None:
        body["shop_id"] = str(shop_id)
    created = await create_item(EntityType.OPERATOR, body, SYSTEM, services)
    assert created.secret is not None
    return {"Authorization": f"Bearer {created.secret}"}


@pytest.fixture
async def http() -> Ops:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    other_shop = await create_item(
        EntityType.SHOP, {"company_id": str(setting.company_id), "name": "Other"}, SYSTEM, services
    )
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(till.router)
    app.include_router(ops.router)
    app.state.services = services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    return Ops(
        client,
        state,
        setting,
        {"X-Device-Serial": setting.serial, "X-Device-Secret": setting.secret},
        await _operator(services, "federation_admin"),
        await _operator(services, "shop_manager", setting.shop_id),
        await _operator(services, "shop_manager", other_shop.stored.id),
    )


def report(at: datetime, **fields: Any) -> dict[str, Any]:
    return {"reported_at": at.isoformat(), "local_last_number": 0, **fields}


def clash(local: int, central: int) -> str:
    return f"pos-api already holds ticket number {central} of this till, above its own last number {local}"


async def tills(http: Ops, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    answer = await http.client.get(f"/v1/ops/tills{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def test_a_till_that_reported_a_clash_and_entries_aside_is_listed_first_as_needing_ops(http: Ops) -> None:
    http.hold_tickets(1, 2, 3, 4, 5)
    aside = {
        "seq": 7,
        "kind": "sale",
        "ref": str(uuid.uuid4()),
        "number": 3,
        "outcome": "failed",
        "reason": "operator_id: unknown operator",
        "enqueued_at": "2026-12-05T09:00:00Z",
    }
    body = report(NOW, local_last_number=2, number_clash=clash(2, 5), pending=4, aside_count=1, aside=[aside])
    put = await http.client.put("/v1/till/report", json=body, headers=http.till)
    assert put.status_code == 204, put.text

    [view] = await tills(http, http.admin)
    assert view["pos_id"] == str(http.setting.pos_id)
    assert (view["needs_ops"], view["central_last_number"], view["release"]) == (True, 5, None)
    assert view["report"]["number_clash"] == clash(2, 5)
    assert view["report"]["aside"] == [aside]
    assert (view["report"]["pending"], view["report"]["local_last_number"]) == (4, 2)
    assert await tills(http, http.admin, "?needs_ops=false") == []
    assert [v["pos_id"] for v in await tills(http, http.manager, "?needs_ops=true")] == [str(http.setting.pos_id)]
    assert len(await tills(http, http.other_manager)) == 1, "a manager reads the whole company, as everywhere"


async def test_an_older_report_arriving_late_never_replaces_a_newer_one(http: Ops) -> None:
    newer = report(NOW, local_last_number=9)
    older = report(NOW - timedelta(minutes=5), local_last_number=8, number_clash=clash(8, 9))
    assert (await http.client.put("/v1/till/report", json=newer, headers=http.till)).status_code == 204
    assert (await http.client.put("/v1/till/report", json=older, headers=http.till)).status_code == 204
    [view] = await tills(http, http.admin)
    assert (view["report"]["local_last_number"], view["report"]["number_clash"]) == (9, None)
    assert view["needs_ops"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"local_last_number": -1}, "local_last_number"),
        ({"reported_at": "2026-12-05T09:00:00"}, "reported_at"),
        (
            {"aside": [{"seq": 1, "kind": "refund", "ref": "x", "outcome": "failed", "enqueued_at": NOW.isoformat()}]},
            "aside.0.kind",
        ),
        ({"serial": "SER-2"}, "serial"),
    ],
    ids=["negative number", "time without zone", "unknown kind", "unknown field"],
)
async def test_a_bad_report_is_a_422_naming_the_field_and_nothing_is_kept(
    http: Ops, change: dict[str, Any], field: str
) -> None:
    put = await http.client.put("/v1/till/report", json={**report(NOW), **change}, headers=http.till)
    assert put.status_code == 422, put.text
    assert put.headers["content-type"] == "application/problem+json"
    assert field in [p["name"] for p in put.json()["invalid_params"]]
    assert http.state.till_reports == {}


async def test_a_report_without_the_device_secret_is_refused(http: Ops) -> None:
    wrong = {**http.till, "X-Device-Secret": "not-it"}
    assert (await http.client.put("/v1/till/report", json=report(NOW), headers=wrong)).status_code == 401
    assert http.state.till_reports == {}


async def test_a_release_for_the_central_last_number_is_given_once_and_the_till_reads_it(http: Ops) -> None:
    http.hold_tickets(1, 2, 3, 4, 5)
    url = f"/v1/ops/tills/{http.setting.pos_id}/numbering-release"
    body = {"resume_after": 5, "reason": "caisse restaurée depuis la sauvegarde du 1er décembre"}
    given = await http.client.post(url, json=body, headers=http.manager)
    assert given.status_code == 201, given.text
    assert (given.json()["resume_after"], given.json()["reason"], given.json()["pos_id"]) == (
        5,
        body["reason"],
        str(http.setting.pos_id),
    )
    again = await http.client.post(url, json={**body, "reason": "autre"}, headers=http.admin)
    assert (again.status_code, again.json()) == (200, given.json()), "asked again, the release given answers"

    numbering = await http.client.get("/v1/till/numbering", headers=http.till)
    assert numbering.status_code == 200, numbering.text
    assert numbering.json() == {"last_ticket_number": 5, "release": given.json()}

    await http.client.put(
        "/v1/till/report", json=report(NOW, local_last_number=2, number_clash=clash(2, 5)), headers=http.till
    )
    [view] = await tills(http, http.admin)
    assert view["needs_ops"] is False, "released: the till resumes at its next check"


async def test_a_release_for_another_number_than_the_central_last_is_a_409_saying_which_and_none_is_kept(
    http: Ops,
) -> None:
    http.hold_tickets(1, 2, 3, 4, 5)
    url = f"/v1/ops/tills/{http.setting.pos_id}/numbering-release"
    refused = await http.client.post(url, json={"resume_after": 4, "reason": "r"}, headers=http.admin)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["invalid_params"] == [
        {"name": "resume_after", "reason": "pos-api's last ticket number of this till is 5, not 4"}
    ]
    assert refused.json()["central_last_number"] == 5
    assert http.state.releases == {}


async def test_a_release_given_before_the_till_sold_on_no_longer_fits_and_ops_see_the_clash_again(http: Ops) -> None:
    """A second device still selling under the till's serial moves pos-api's last number past the release."""
    http.hold_tickets(1, 2, 3)
    url = f"/v1/ops/tills/{http.setting.pos_id}/numbering-release"
    assert (await http.client.post(url, json={"resume_after": 3, "reason": "r"}, headers=http.admin)).is_success
    http.hold_tickets(4)
    await http.client.put(
        "/v1/till/report", json=report(NOW, local_last_number=1, number_clash=clash(1, 4)), headers=http.till
    )
    [view] = await tills(http, http.admin)
    assert (view["needs_ops"], view["central_last_number"], view["release"]["resume_after"]) == (True, 4, 3)


@pytest.mark.parametrize(
    ("who", "status"), [("other_manager", 403), ("till", 401)], ids=["another shop's manager", "the till itself"]
)
async def test_only_someone_who_may_change_the_till_releases_it(http: Ops, who: str, status: int) -> None:
    http.hold_tickets(1)
    url = f"/v1/ops/tills/{http.setting.pos_id}/numbering-release"
    headers = http.other_manager if who == "other_manager" else http.till
    refused = await http.client.post(url, json={"resume_after": 1, "reason": "r"}, headers=headers)
    assert refused.status_code == status, refused.text
    assert http.state.releases == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"resume_after": 0, "reason": "r"}, "resume_after"), ({"resume_after": 1, "reason": ""}, "reason")],
    ids=["number zero", "no reason"],
)
async def test_a_bad_release_is_a_422_naming_the_field(http: Ops, body: dict[str, Any], field: str) -> None:
    http.hold_tickets(1)
    url = f"/v1/ops/tills/{http.setting.pos_id}/numbering-release"
    refused = await http.client.post(url, json=body, headers=http.admin)
    assert refused.status_code == 422, refused.text
    assert [p["name"] for p in refused.json()["invalid_params"]] == [field]
    assert http.state.releases == {}


async def test_a_release_of_an_unknown_till_is_a_404(http: Ops) -> None:
    url = f"/v1/ops/tills/{uuid.uuid4()}/numbering-release"
    assert (await http.client.post(url, json={"resume_after": 1, "reason": "r"}, headers=http.admin)).status_code == 404
