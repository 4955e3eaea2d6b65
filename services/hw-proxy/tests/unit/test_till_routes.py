"""The till's local API over a real SQLite file and a fake pos-api: the boot status (PRODUCT.md §1: BOOTING →
READY_OPEN / READY_CONTINUE → WORKING), the cashier's PIN login online and offline, and the cash session opened,
moved and closed locally, each operation queued for `POST /v1/sync/sessions` in the order it happened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from till_examples import AT, CASHIER, OTHER_SHOP_CASHIER, SERIAL, FakeCentral, place_items

from hw_proxy.adapters.store import TillRecords
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.domain.config_cache import CachedItem, EntityKey

PIN = "4821"


@dataclass
class Till:
    http: httpx.AsyncClient
    central: FakeCentral
    app: FastAPI

    @property
    def store(self) -> TillRecords:
        store: TillRecords = self.app.state.store
        return store

    async def status(self) -> str:
        return str((await self.http.get("/v1/status")).json()["status"])


async def seed(path: str, *, synced: bool = True) -> None:
    store = TillRecords(path)
    await store.open()
    if synced:
        for position, (entity_type, ident, item) in enumerate(place_items(), start=1):
            await store.record(
                CachedItem(EntityKey(entity_type, ident), int(item["version"]), item, position=position),
                position=position,
                at=AT,
                seen_in_reset=False,
            )
    await store.close()


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    central = FakeCentral(pins={CASHIER: PIN})
    app = build_app(
        Settings(store_path=path, device_serial=SERIAL, device_secret="s3cret", notifier_url="ws://127.0.0.1:9"),
        central=central,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hw-proxy") as http:
            yield Till(http, central, app)


async def test_a_till_not_enrolled_stays_booting_and_says_why(tmp_path: Path) -> None:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    app = build_app(Settings(store_path=path), central=FakeCentral())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        body = (await http.get("/v1/status")).json()
        assert body["status"] == "BOOTING"
        assert "not enrolled" in body["reason"]
        refused = await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"


async def test_a_till_without_its_place_in_the_config_is_booting(tmp_path: Path) -> None:
    path = str(tmp_path / "till.sqlite3")
    await seed(path, synced=False)
    app = build_app(Settings(store_path=path, device_serial=SERIAL, device_secret="s"), central=FakeCentral())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        body = (await http.get("/v1/status")).json()
        assert (body["status"], body["pos_id"]) == ("BOOTING", None)
        assert "config" in body["reason"]


async def test_a_synced_till_without_a_session_is_ready_to_open(till: Till) -> None:
    body = (await till.http.get("/v1/status")).json()
    assert body["status"] == "READY_OPEN"
    assert body["serial"] == SERIAL
    assert body["last_ticket_number"] == 0


async def test_a_number_already_used_centrally_keeps_the_till_booting(tmp_path: Path) -> None:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    central = FakeCentral(last_number=41)
    app = build_app(Settings(store_path=path, device_serial=SERIAL, device_secret="s"), central=central)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        await app.state.boot_checked.wait()  # the check runs in the background at start
        body = (await http.get("/v1/status")).json()
        assert body["status"] == "BOOTING"
        assert "41" in body["reason"]


async def test_a_cashier_logs_in_online_then_offline_with_the_pin_the_till_learned(till: Till) -> None:
    online = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
    assert online.status_code == 200
    assert online.json()["name"] == "Alice"
    till.central.reachable = False
    offline = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
    assert offline.status_code == 200
    wrong = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": "0000"})
    assert wrong.status_code == 401


async def test_offline_five_wrong_pins_lock_the_cashier_as_pos_api_would(till: Till) -> None:
    assert (await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success
    till.central.reachable = False
    answers = [
        (await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": "0000"})).status_code
        for _ in range(5)
    ]
    assert answers == [401, 401, 401, 401, 429]
    locked = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
    assert locked.status_code == 429
    assert "locked_until" in locked.json()


async def test_offline_a_cashier_never_seen_online_cannot_log_in(till: Till) -> None:
    till.central.reachable = False
    refused = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
    assert refused.status_code == 401
    assert "never logged in" in refused.json()["detail"]


async def test_a_cashier_of_another_shop_is_refused_even_with_a_right_pin(till: Till) -> None:
    till.central.pins[OTHER_SHOP_CASHIER] = PIN
    refused = await till.http.post("/v1/cashier/login", json={"operator_id": str(OTHER_SHOP_CASHIER), "pin": PIN})
    assert refused.status_code == 401


async def test_a_malformed_pin_is_a_422_naming_the_field(till: Till) -> None:
    refused = await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": "12a4"})
    assert refused.status_code == 422
    assert refused.json()["invalid_params"][0]["name"] == "pin"


async def login(till: Till) -> None:
    assert (await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success


async def test_a_session_opened_moved_and_closed_offline_is_queued_in_order(till: Till) -> None:
    till.central.reachable = False
    await login_offline_after_online(till)
    opened = await till.http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})
    assert opened.status_code == 201, opened.text
    assert opened.json()["opening_float"] == 5000
    assert opened.json()["first_ticket_number"] == 1
    assert await till.status() == "WORKING"
    moved = await till.http.post(
        "/v1/session/movements", json={"kind": "withdrawal", "amount": 2000, "reason": "to the safe"}
    )
    assert moved.status_code == 201
    closed = await till.http.post(
        "/v1/session/close",
        json={"counts": [{"value": 1000, "count": 3}], "float_kept": [{"value": 1000, "count": 1}]},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["counted_cash"] == 3000
    assert closed.json()["last_ticket_number"] is None
    assert await till.status() == "READY_OPEN"
    queued = [json.loads(e.payload) for e in await till.store.pending(10)]
    assert [q["op"] for q in queued] == ["open", "movement", "close"]
    assert queued[0]["first_ticket_number"] == 1
    assert queued[2]["closed_by"] == str(CASHIER)


async def login_offline_after_online(till: Till) -> None:
    till.central.reachable = True
    await login(till)
    till.central.reachable = False


async def test_a_count_of_a_value_that_is_no_note_or_coin_is_a_422_naming_it(till: Till) -> None:
    await login(till)
    refused = await till.http.post("/v1/session/open", json={"float_counts": [{"value": 300, "count": 1}]})
    assert refused.status_code == 422
    assert refused.json()["invalid_params"] == [
        {"name": "float_counts[0].value", "reason": "300 is not a note or coin of the territory"}
    ]
    assert await till.store.pending(10) == []


async def test_money_as_a_float_is_refused(till: Till) -> None:
    await login(till)
    refused = await till.http.post("/v1/session/open", json={"float_counts": [{"value": 10.5, "count": 1}]})
    assert refused.status_code == 422


async def test_a_session_left_open_is_continued_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    settings = Settings(store_path=path, device_serial=SERIAL, device_secret="s")
    for run in range(2):
        app = build_app(settings, central=FakeCentral(pins={CASHIER: PIN}))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
        ):
            await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
            if run == 0:
                assert (await http.post("/v1/session/open", json={"float_counts": []})).status_code == 201
                assert (await http.get("/v1/status")).json()["status"] == "WORKING"
                continue
            assert (await http.get("/v1/status")).json()["status"] == "READY_CONTINUE"
            assert (await http.post("/v1/session/open", json={"float_counts": []})).status_code == 409
            assert (await http.post("/v1/session/continue")).status_code == 200
            assert (await http.get("/v1/status")).json()["status"] == "WORKING"


async def test_the_till_routes_are_in_the_openapi(till: Till) -> None:
    paths = (await till.http.get("/openapi.json")).json()["paths"]
    for path in ("/v1/status", "/v1/cashier/login", "/v1/session/open", "/v1/session/close"):
        assert path in paths


async def test_a_session_opened_online_reaches_the_session_sync_at_once(till: Till) -> None:
    await login(till)
    opened = await till.http.post("/v1/session/open", json={"float_counts": [{"value": 5000, "count": 1}]})
    assert opened.status_code == 201
    sender = till.app.state.sender
    await asyncio.wait_for(sender.idle.wait(), timeout=5)  # the open's nudge cleared it: set again once drained
    assert [o["session_id"] for o in till.central.operations] == [opened.json()["session_id"]]
    assert (await till.http.get("/v1/status")).json()["queue"]["pending_sessions"] == 0
