"""A till sells through its own agent on the real stack: session-service, pos-api, the notifier and the till's
hw-proxy as real processes on real Kafka and PostgreSQL.

A sale finalized on the till is priced from the till's config cache, numbered and stored locally, answered at once,
and reaches pos-api online. Another, made while pos-api is stopped, is answered at once all the same and reaches
pos-api through the sync once it is back, answered `created`; each sale's `ticket.finalized` is on Kafka once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from caisse_contracts.topics import TICKETS
from harness import ServiceProcess, Stack, Till

TAG = "_sell"
PIN = "4821"
PRODUCT = "Sac cabas"


def wait_for(probe: Callable[[], Any], what: str, timeout_s: float = 60.0) -> Any:
    """Poll `probe` until it returns something truthy, within a deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def services(stack: Stack) -> Iterator[tuple[ServiceProcess, ServiceProcess, Till, httpx.Client]]:
    sessions = stack.service("session-service", tag=TAG)
    sessions.start()
    pos_api = stack.service("pos-api", tag=TAG)
    pos_api.start()
    notifier = stack.service("notifier", tag=TAG)
    notifier.start()
    till = Till.of(stack.demo(pos_api), 0)
    cashier = till.demo.cashiers[till.till.shop_id]
    admin = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token(TAG)}"})
    assert admin.put(f"/v1/operators/{cashier}/pin", json={"pin": PIN}).status_code == 204
    hw_proxy = stack.service(
        "hw-proxy",
        tag=TAG,
        pos_api_url=pos_api.url,
        device_serial=till.till.serial,
        device_secret=till.till.secret,
        store_path=str(stack.workdir / "till-sells.sqlite3"),
        forward_timeout_s="5",
        send_retry_max_s="1",
    )
    hw_proxy.start()
    http = httpx.Client(base_url=hw_proxy.url, timeout=10)
    wait_for(lambda: http.get("/v1/status").json()["status"] == "READY_OPEN", "the till's config")
    login = http.post("/v1/cashier/login", json={"operator_id": cashier, "pin": PIN})
    assert login.status_code == 200, login.text
    territory = http.get(f"/v1/config/territory/{till.territory_id}").json()["item"]
    note = territory["denominations"][0]["value"]
    opened = http.post("/v1/session/open", json={"float_counts": [{"value": note, "count": 2}]})
    assert opened.status_code == 201, opened.text
    yield pos_api, hw_proxy, till, http
    hw_proxy.stop()


def sell(http: httpx.Client, till: Till) -> tuple[str, dict[str, Any], float]:
    """Ring up two bags, pay them in cash, finalize: the basket's id, the till's answer and how long it took."""
    basket = str(uuid.uuid4())
    line = {"line_id": str(uuid.uuid4()), "product_id": till.demo.products["FR"][PRODUCT], "quantity": 2}
    saved = http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": {"lines": [line]}})
    assert saved.status_code == 200, saved.text
    due = saved.json()["computed"]["cash_due"]
    payment = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": due}
    started = time.monotonic()
    done = http.post(
        f"/v1/baskets/{basket}/finalize", json={"version": 1, "content": {"lines": [line], "payments": [payment]}}
    )
    took = time.monotonic() - started
    assert done.status_code == 201, done.text
    return basket, done.json(), took


def sent(http: httpx.Client, basket: str) -> dict[str, Any] | None:
    sale: dict[str, Any] = http.get(f"/v1/sales/{basket}").json()
    return sale if sale["sync_state"] == "sent" else None


def ticket_events(stack: Stack, pos_id: str) -> Counter[str]:
    """`ticket.finalized` records of the till on the tickets topic, from its beginning, counted by ticket id."""

    async def read() -> Counter[str]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.infra.kafka_bootstrap, group_id=f"e2e-sell-{uuid.uuid4()}", enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(TICKETS.name, p) for p in range(TICKETS.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: Counter[str] = Counter()
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        if record.key == pos_id.encode() and record.value is not None:
                            found[str(json.loads(record.value)["data"]["ticket_id"])] += 1
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_a_sale_reaches_pos_api_online_and_one_made_while_it_is_stopped_through_the_sync(
    stack: Stack, services: tuple[ServiceProcess, ServiceProcess, Till, httpx.Client]
) -> None:
    pos_api, _, till, http = services
    online, answer, _ = sell(http, till)
    assert answer["ticket"]["number"] == 1
    assert answer["receipt"]["total_due"] == answer["ticket"]["total_incl_tax"]
    synced = wait_for(lambda: sent(http, online), "the online sale sent")
    assert synced["outcome"] == "created"
    central = httpx.get(f"{pos_api.url}/v1/tickets/{online}", headers=till.headers, timeout=10)
    assert central.status_code == 200
    assert (central.json()["number"], central.json()["total_incl_tax"]) == (1, answer["ticket"]["total_incl_tax"])

    assert pos_api.stop(signal.SIGTERM) == 0
    offline, answer, took = sell(http, till)
    assert answer["ticket"]["number"] == 2
    assert took < 2.0, took  # the cashier does not wait for pos-api
    assert http.get(f"/v1/sales/{offline}").json()["sync_state"] == "pending"
    pos_api.start()
    synced = wait_for(lambda: sent(http, offline), "the offline sale synced")
    assert synced["outcome"] == "created"
    central = httpx.get(f"{pos_api.url}/v1/tickets/{offline}", headers=till.headers, timeout=10)
    assert central.status_code == 200
    assert central.json()["number"] == 2
    assert central.json()["lines"] == answer["ticket"]["lines"]

    def both_on_kafka() -> Counter[str] | None:
        found = ticket_events(stack, till.till.pos_id)
        return found if {online, offline} <= set(found) else None

    assert wait_for(both_on_kafka, "both tickets on Kafka") == Counter({online: 1, offline: 1})
