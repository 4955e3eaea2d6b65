"""The offline sync benchmark's till, on the real stack (pos-api and session-service on fresh databases, real Kafka
and PostgreSQL): what its builder makes is what the sync routes accept. The session it opens offline opens, every
sale it makes is `created` (pos-api recomputes each and finds the same totals) and `already_exists` when sent
again, its stock-tracked lamp moves once per sale that sells it, and the cash it counts at the close is exactly the
cash the session expects."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from bench.offline_sync import (
    OfflineDay,
    batches,
    boot_all,
    demo_place,
    offline_day,
    send,
    sync_sessions,
    tracked_lamp,
)
from caisse_stack import ensure_up
from caisse_stack.demo_data import Demo, add_tills
from harness import ServiceProcess, Stack

pytestmark = pytest.mark.integration

TAG = "_syncbench"
SALES = 8
"""Numbers 1 to 8: the lamp on 4 and 8, by card on 2, 5 and 8, in cash otherwise."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    created = Stack(infra=ensure_up("test"), workdir=tmp_path_factory.mktemp("stack"))
    yield created
    created.close()


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    stack.service("session-service", tag=TAG, close_wait_s="1").start()
    service = stack.service("pos-api", tag=TAG)
    service.start()
    return service


@pytest.fixture(scope="module")
def demo(stack: Stack, pos_api: ServiceProcess) -> Demo:
    return stack.demo(pos_api)


def sale_movements(stack: Stack, lamp: uuid.UUID) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", TAG)))
        try:
            found: int = await conn.fetchval(
                "select count(*) from stock_movements where product_id = $1 and reason = 'sale'", lamp
            )
            return found
        finally:
            await conn.close()

    return asyncio.run(count())


def session_of(pos_api: ServiceProcess, day: OfflineDay) -> dict[str, Any]:
    response = httpx.get(f"{pos_api.url}/v1/sessions/{day.session_id}", headers=day.headers, timeout=10)
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


def test_the_bench_s_offline_day_is_accepted_by_the_sync_routes_and_replayed_changes_nothing(
    stack: Stack, pos_api: ServiceProcess, demo: Demo
) -> None:
    place = demo_place(demo)
    token = stack.admin_token(TAG)
    lamp = tracked_lamp(pos_api.url, token, place, 100, uuid.uuid4().hex[:6])
    [till] = add_tills(pos_api.url, token, place.shop_id, "EUR", 1, f"SYNCTEST-{uuid.uuid4().hex[:6]}")
    [boot] = asyncio.run(boot_all(pos_api.url, [till]))
    day = offline_day(till, boot, place.cashier, lamp, SALES)
    day.batches = batches(day.sales, size=5)
    assert (len(day.batches), day.lamps) == (2, 2)

    [opened] = asyncio.run(sync_sessions(pos_api.url, [day], [day.open_body()]))
    assert opened["outcome"] == "created", opened

    first = asyncio.run(send(pos_api.url, [day]))
    assert (first.outcomes, first.refused) == ({"created": SALES}, [])
    again = asyncio.run(send(pos_api.url, [day]))
    assert (again.outcomes, again.refused) == ({"already_exists": SALES}, [])
    assert sale_movements(stack, lamp) == day.lamps

    deadline = time.monotonic() + 30
    while session_of(pos_api, day)["ticket_count"] < SALES:
        assert time.monotonic() < deadline, "session-service did not count the sales"
        time.sleep(0.1)
    [closed] = asyncio.run(sync_sessions(pos_api.url, [day], [day.close_body()]))
    assert closed["outcome"] == "created", closed
    session = closed["session"]
    assert (session["status"], session["closing"]["variance"]) == ("closed", 0)
