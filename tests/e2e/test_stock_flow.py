"""Stock on the real stack (issue 16 "Stock"): two tills of one shop sell the last unit at the same moment, over
real HTTP into real PostgreSQL, again and again; levels and movements stay exact, a product that refuses to go
below zero lets exactly one of them sell it, and every movement reaches Kafka as `stock.moved`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import StockMovedV1
from caisse_contracts.topics import STOCK
from caisse_stack import simulator
from caisse_stack.demo_data import Demo
from harness import ServiceProcess, Stack

ROUNDS = 5
"""Each round both tills sell the shop's last unit at once."""


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    stack.service("session-service", tag="_stock").start()
    service = stack.service("pos-api", tag="_stock")
    service.start()
    return service


@pytest.fixture(scope="module")
def demo(stack: Stack, pos_api: ServiceProcess) -> Demo:
    return stack.demo(pos_api)


@pytest.fixture(scope="module")
def tills(stack: Stack, pos_api: ServiceProcess, demo: Demo) -> list[simulator.TillRun]:
    """The two tills of the first shop (Bressuire), each with an open session."""
    both = [t for t in demo.tills if t.shop_id == demo.tills[0].shop_id]
    assert len(both) == 2
    return asyncio.run(simulator.prepare(pos_api.url, stack.infra.kafka_bootstrap, both, demo.cashiers))


@pytest.fixture(scope="module")
def admin(stack: Stack, pos_api: ServiceProcess) -> httpx.Client:
    return httpx.Client(
        base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token('_stock')}"}, timeout=10
    )


def new_product(admin: httpx.Client, demo: Demo, name: str, **stock: Any) -> str:
    categories = admin.get("/v1/categories").json()
    goods = next(c for c in categories if c["name"] == "Produits neufs" and c["company_id"] == demo.companies["FR"])
    body = {"company_id": demo.companies["FR"], "category_id": goods["id"], "name": name, "price": 500, **stock}
    created = admin.post("/v1/products", json={**body, "stock_tracked": True})
    assert created.status_code == 201, created.text
    product_id: str = created.json()["item"]["id"]
    return product_id


def deliver(admin: httpx.Client, shop_id: str, product_id: str, quantity: int) -> None:
    body = {"id": str(uuid.uuid4()), "lines": [{"product_id": product_id, "quantity": quantity}]}
    response = admin.post(f"/v1/shops/{shop_id}/stock/deliveries", json=body)
    assert response.status_code == 201, response.text


async def both_sell_the_last_unit(
    pos_api: ServiceProcess, tills: list[simulator.TillRun], product_id: str
) -> list[httpx.Response]:
    """Both tills finalize a basket of one unit of the product at the same time, over two connections."""

    async def sell(client: httpx.AsyncClient, run: simulator.TillRun) -> httpx.Response:
        number = run.next_number
        content = {
            "lines": [{"line_id": str(uuid.uuid4()), "product_id": product_id}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 500}],
        }
        response = await client.post(
            f"/v1/baskets/{uuid.uuid4()}/finalize",
            json={"number": number, "version": 0, "content": content},
            headers=run.headers,
        )
        if response.status_code == 201:
            run.next_number += 1
        return response

    clients = [httpx.AsyncClient(base_url=pos_api.url, timeout=30) for _ in tills]
    try:
        return list(await asyncio.gather(*(sell(client, run) for client, run in zip(clients, tills, strict=True))))
    finally:
        for client in clients:
            await client.aclose()


def rows(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", "_stock")))
        try:
            found: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return found
        finally:
            await conn.close()

    return asyncio.run(run())


def movements_of(stack: Stack, product_id: str) -> list[asyncpg.Record]:
    return rows(
        stack,
        "select id, change, level_before, level_after, reason, document_id from stock_movements"
        " where product_id = $1 order by seq",
        uuid.UUID(product_id),
    )


def level_of(stack: Stack, shop_id: str, product_id: str) -> int:
    [row] = rows(
        stack,
        "select level from stock_levels where shop_id = $1 and product_id = $2",
        uuid.UUID(shop_id),
        uuid.UUID(product_id),
    )
    level: int = row["level"]
    return level


def chained(movements: list[asyncpg.Record]) -> bool:
    """Each movement starts where the one before it left the level, and adds exactly its change."""
    level = 0
    for m in movements:
        if m["level_before"] != level or m["level_after"] != level + m["change"]:
            return False
        level = m["level_after"]
    return True


def test_two_tills_selling_the_last_unit_of_a_product_refusing_below_zero_at_once_sell_it_exactly_once(
    stack: Stack, pos_api: ServiceProcess, demo: Demo, tills: list[simulator.TillRun], admin: httpx.Client
) -> None:
    shop_id = tills[0].till.shop_id
    lamp = new_product(admin, demo, "Lampe de bureau", stock_refuse_below_zero=True, stock_threshold=1)
    for _ in range(ROUNDS):
        deliver(admin, shop_id, lamp, 1)
        answers = asyncio.run(both_sell_the_last_unit(pos_api, tills, lamp))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409], [a.text for a in answers]
        sold = next(a for a in answers if a.status_code == 201).json()
        assert [(a["product_id"], a["kind"], a["level"]) for a in sold["alerts"]] == [(lamp, "out_of_stock", 0)]
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["product_id"] == lamp
        assert refused.json()["invalid_params"][0]["name"] == "lines[0].quantity"
        assert level_of(stack, shop_id, lamp) == 0
    movements = movements_of(stack, lamp)
    assert [m["reason"] for m in movements] == ["delivery", "sale"] * ROUNDS
    assert chained(movements)
    sold_tickets = rows(
        stack,
        "select count(*) as n from tickets where id = any($1::uuid[])",
        [m["document_id"] for m in movements if m["reason"] == "sale"],
    )
    assert sold_tickets[0]["n"] == ROUNDS  # one ticket per sale, and no ticket for a refused one


def test_two_tills_selling_the_last_unit_of_a_product_that_may_go_negative_both_sell_and_no_unit_is_lost(
    stack: Stack, pos_api: ServiceProcess, demo: Demo, tills: list[simulator.TillRun], admin: httpx.Client
) -> None:
    shop_id = tills[0].till.shop_id
    chair = new_product(admin, demo, "Chaise pliante")
    for n in range(ROUNDS):
        deliver(admin, shop_id, chair, 1 if n == 0 else 2)  # back to one unit in stock before each round
        answers = asyncio.run(both_sell_the_last_unit(pos_api, tills, chair))
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        kinds = sorted(a["kind"] for answer in answers for a in answer.json()["alerts"])
        assert kinds == ["negative", "out_of_stock"]
        assert level_of(stack, shop_id, chair) == -1
    movements = movements_of(stack, chair)
    assert [m["reason"] for m in movements].count("sale") == 2 * ROUNDS
    assert chained(movements)


def test_a_stock_movement_reaches_kafka_as_stock_moved_keyed_by_shop(
    stack: Stack, pos_api: ServiceProcess, demo: Demo, tills: list[simulator.TillRun], admin: httpx.Client
) -> None:
    shop_id = tills[0].till.shop_id
    bowl = new_product(admin, demo, "Saladier")
    deliver(admin, shop_id, bowl, 3)
    [moved] = movements_of(stack, bowl)
    event = asyncio.run(_stock_moved_on_kafka(stack, moved["id"]))
    assert event.key == shop_id.encode()
    payload = Envelope[StockMovedV1].model_validate_json(event.value)
    assert (str(payload.data.product_id), payload.data.change, payload.data.stock_after) == (bowl, 3, 3)
    assert str(payload.tenant.shop_id) == shop_id


async def _stock_moved_on_kafka(stack: Stack, movement_id: uuid.UUID, timeout_s: float = 30.0) -> Any:
    """The record of this movement on the stock topic, read from the beginning until it comes (or the deadline)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.infra.kafka_bootstrap, group_id=f"e2e-stock-{uuid.uuid4()}", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(STOCK.name, p) for p in range(STOCK.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(timeout_s):
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if json.loads(record.value)["data"]["movement_id"] == str(movement_id):
                            return record
    finally:
        await consumer.stop()
