"""A till's offline sales synced in a batch on the real stack (pos-api, PostgreSQL, Kafka): every outcome in one
batch, a price changed while the till was offline, then the batch replayed: nothing new anywhere."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from caisse_contracts.topics import TICKETS
from harness import ServiceProcess, Stack, Till

TAG = "_sync"


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    service = stack.service("pos-api", tag=TAG)
    service.start()
    return service


@pytest.fixture(scope="module")
def till(stack: Stack, pos_api: ServiceProcess) -> Till:
    return Till.of(stack.demo(pos_api), 0)


def wait_until(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pending_and_queued(stack: Stack, pos_id: str) -> tuple[int, int]:
    """Outbox rows of the till's tickets: all of them, and those the relay has not published yet."""

    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", TAG)))
        try:
            rows = await conn.fetchrow(
                "select count(*) as queued, count(*) filter (where sent_at is null) as pending"
                " from outbox where key = $1 and type = 'ticket.finalized'",
                pos_id,
            )
            return int(rows["queued"]), int(rows["pending"])
        finally:
            await conn.close()

    return asyncio.run(count())


def events_on_kafka(stack: Stack, pos_id: str) -> int:
    """`ticket.finalized` records keyed by the till on the tickets topic, from its beginning."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.infra.kafka_bootstrap, group_id=f"e2e-sync-{uuid.uuid4()}", enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(TICKETS.name, p) for p in range(TICKETS.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found = 0
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    found += sum(1 for r in records if r.key == pos_id.encode())
            return found
        finally:
            await consumer.stop()

    return asyncio.run(count())


class OfflineTill:
    """The demo till as it was when it went offline: its configuration versions and its bag's price."""

    def __init__(self, pos_api: ServiceProcess, till: Till) -> None:
        self.pos_api = pos_api
        self.till = till
        boot = httpx.get(f"{pos_api.url}/v1/pos-data", headers=till.headers).json()
        self.boot = boot
        self.bag = next(p for p in boot["catalogue"]["products"] if p["name"] == "Sac cabas")
        self.category = next(c for c in boot["catalogue"]["categories"] if c["id"] == self.bag["category_id"])
        self.session_id = str(uuid.uuid4())

    def sale(self, *, unit_price: int | None = None) -> dict[str, Any]:
        """Two bags at the price the till held, paid in cash with a 5 € note."""
        price = self.bag["price"] if unit_price is None else unit_price
        total = 2 * price
        tax = (total * 2000 * 2 + 12000) // (2 * 12000)  # 20 % included, half up
        return {
            "ticket_id": str(uuid.uuid4()),
            "number": self.till.number(),
            "shop_id": self.boot["shop"]["id"],
            "pos_id": self.boot["pos"]["id"],
            "session_id": self.session_id,
            "finalized_at": "2026-11-22T15:32:06+01:00",
            "timezone": "Europe/Paris",
            "territory_version": self.boot["territory"]["version"],
            "company_version": self.boot["company"]["version"],
            "lines": [
                {
                    "line_id": str(uuid.uuid4()),
                    "category_id": self.category["id"],
                    "category_version": self.category["version"],
                    "product_id": self.bag["id"],
                    "product_version": self.bag["version"],
                    "quantity": 2,
                    "unit_price": price,
                }
            ],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": total, "tendered": 500}],
            "total_excl_tax": total - tax,
            "total_tax": tax,
            "total_incl_tax": total,
            "change_given": 500 - total,
        }

    def sync(self, sales: list[dict[str, Any]]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.pos_api.url}/v1/sync/sales", json={"sales": sales}, headers=self.till.headers, timeout=30
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def test_a_batch_with_every_outcome_replayed_writes_nothing_and_publishes_nothing_new(
    pos_api: ServiceProcess, stack: Stack, till: Till
) -> None:
    offline = OfflineTill(pos_api, till)
    pos_id = offline.boot["pos"]["id"]
    # While the till is offline, the back office raises the bag's price: yesterday's sales still hold.
    admin = {"Authorization": f"Bearer {stack.admin_token(TAG)}", "If-Match": f'"{offline.bag["version"]}"'}
    fields = {k: offline.bag[k] for k in ("company_id", "category_id", "name")}
    raised = httpx.put(
        f"{pos_api.url}/v1/products/{offline.bag['id']}",
        json={**fields, "price": offline.bag["price"] + 50},
        headers=admin,
    )
    assert raised.status_code == 200, raised.text

    earlier = offline.sale()
    assert [r["outcome"] for r in offline.sync([earlier])["results"]] == ["created"]
    fresh, twice = offline.sale(), offline.sale()
    taken = {**offline.sale(), "number": earlier["number"]}  # another sale under a number already used
    offline.till.next_number -= 1
    wrong_price = offline.sale(unit_price=offline.bag["price"] - 10)
    batch = [fresh, earlier, twice, twice, taken, wrong_price]
    answer = offline.sync(batch)
    assert [r["outcome"] for r in answer["results"]] == [
        "created",
        "already_exists",
        "created",
        "already_exists",
        "conflict",
        "failed",
    ]
    assert (answer["created"], answer["already_exists"], answer["conflicts"], answer["failed"]) == (2, 2, 1, 1)
    assert answer["results"][1]["ticket"]["ticket_id"] == earlier["ticket_id"]
    assert answer["results"][4]["existing_ticket_id"] == earlier["ticket_id"]
    assert [p["name"] for p in answer["results"][5]["problem"]["invalid_params"]] == ["lines[0].unit_price"]

    wait_until(lambda: pending_and_queued(stack, pos_id) == (3, 0), what="the three tickets' events published")
    wait_until(lambda: events_on_kafka(stack, pos_id) == 3, what="three ticket.finalized on Kafka")

    replay = offline.sync(batch)
    assert [r["outcome"] for r in replay["results"]] == [
        "already_exists",
        "already_exists",
        "already_exists",
        "already_exists",
        "conflict",
        "failed",
    ]
    assert [r["ticket"]["ticket_id"] for r in replay["results"][:4]] == [
        s["ticket_id"] for s in (fresh, earlier, twice, twice)
    ]
    assert pending_and_queued(stack, pos_id) == (3, 0)
    assert events_on_kafka(stack, pos_id) == 3

    ops = {"Authorization": f"Bearer {stack.admin_token(TAG)}"}
    kept = [
        c
        for c in httpx.get(f"{pos_api.url}/v1/ops/ticket-conflicts", headers=ops).json()
        if c["pos_id"] == pos_id and c["number"] == earlier["number"]
    ]
    assert [(c["source"], c["attempt"]["ticket_id"]) for c in kept] == [("ticket", taken["ticket_id"])]
    original = httpx.get(f"{pos_api.url}/v1/tickets/{earlier['ticket_id']}", headers=till.headers).json()
    assert original["total_incl_tax"] == earlier["total_incl_tax"]


def test_an_oversized_batch_is_a_413_and_nothing_is_written(pos_api: ServiceProcess, stack: Stack) -> None:
    offline = OfflineTill(pos_api, Till.of(stack.demo(pos_api), 1))
    sales = [offline.sale() for _ in range(501)]  # POS_API_SYNC_BATCH_MAX's default is 500
    response = httpx.post(
        f"{pos_api.url}/v1/sync/sales", json={"sales": sales}, headers=offline.till.headers, timeout=30
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert [p["name"] for p in response.json()["invalid_params"]] == ["sales"]
    assert pending_and_queued(stack, offline.boot["pos"]["id"]) == (0, 0)
