"""Drives a till's hw-proxy as its web app would, over real HTTP: log the cashier in, open or continue the session,
ring up and finalize sales; and reads back what the central side holds of the till (pos-api's tickets in
PostgreSQL, its `ticket.finalized` records on Kafka)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from caisse_contracts.topics import TICKETS
from harness import ServiceProcess, Stack, Till

PIN = "4821"
PRODUCT = "Sac cabas"


def wait_for(probe: Callable[[], Any], what: str, timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    """Poll `probe` until it returns something truthy, within a deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def tag_of(till: Till) -> str:
    return "NC" if till.till.currency == "XPF" else "FR"


@dataclass
class TillApp:
    """The till's web app: one HTTP client to its hw-proxy, and the sales it was answered."""

    till: Till
    hw_proxy: ServiceProcess

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.hw_proxy.url, timeout=30)

    @property
    def cashier(self) -> str:
        return self.till.demo.cashiers[self.till.till.shop_id]

    def status(self) -> dict[str, Any]:
        with self.http as http:
            body: dict[str, Any] = http.get("/v1/status").raise_for_status().json()
            return body

    def log_in(self) -> None:
        with self.http as http:
            login = http.post("/v1/cashier/login", json={"operator_id": self.cashier, "pin": PIN})
            assert login.status_code == 200, login.text

    def open_session(self, float_counts: list[dict[str, int]]) -> dict[str, Any]:
        with self.http as http:
            opened = http.post("/v1/session/open", json={"float_counts": float_counts})
            assert opened.status_code == 201, opened.text
            body: dict[str, Any] = opened.json()
            return body

    def continue_session(self) -> None:
        with self.http as http:
            taken = http.post("/v1/session/continue")
            assert taken.status_code == 200, taken.text

    def line(self) -> dict[str, Any]:
        product = self.till.demo.products[tag_of(self.till)][PRODUCT]
        return {"line_id": str(uuid.uuid4()), "product_id": product, "quantity": 2}

    def price(self) -> int:
        """What a sale of `line()` costs (two bags), as the till prices it."""
        with self.http as http:
            basket = str(uuid.uuid4())
            saved = http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": {"lines": [self.line()]}})
            assert saved.status_code == 200, saved.text
            due: int = saved.json()["computed"]["cash_due"]
            return due


def sale_body(app: TillApp, due: int) -> dict[str, Any]:
    """The finalize of a basket paid in cash at once (version 0: never saved, its content given)."""
    payment = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": due}
    return {"version": 0, "content": {"lines": [app.line()], "payments": [payment]}}


def finalize(http: httpx.Client, basket: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"/v1/baskets/{basket}/finalize", json=body)


def local_sales(store_path: Path) -> list[tuple[str, int]]:
    """The sales in the till's SQLite store (read-only, beside the running agent): (ticket id, number)."""
    conn = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        return [(str(r[0]), int(r[1])) for r in conn.execute("select ticket_id, number from sale order by number")]
    finally:
        conn.close()


def local_tickets(store_path: Path) -> list[tuple[str, int]]:
    """The sales and credit notes in the till's SQLite store (read-only): (ticket id, number), by number."""
    conn = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "select ticket_id, number from sale union all select ticket_id, number from credit_note order by number"
        ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]
    finally:
        conn.close()


def local_outcomes(store_path: Path, kind: str = "sale") -> Counter[tuple[str, str | None]]:
    """The till's queue of sales (or credit notes, `kind="credit_note"`) by (state, outcome)."""
    conn = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("select state, outcome from outbox where kind = ?", (kind,)).fetchall()
        return Counter((str(r[0]), r[1]) for r in rows)
    finally:
        conn.close()


def central_tickets(stack: Stack, pos_api: ServiceProcess, pos_id: str) -> list[tuple[str, int]]:
    """pos-api's tickets of the POS, in its database: (ticket id, number), by number."""

    async def run() -> list[tuple[str, int]]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", pos_api.tag)))
        try:
            rows = await conn.fetch(
                "select id, number from tickets where pos_id = $1 and kind = 'sale' order by number", uuid.UUID(pos_id)
            )
            return [(str(r["id"]), int(r["number"])) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(run())


def central_kinds(stack: Stack, pos_api: ServiceProcess, pos_id: str) -> list[tuple[str, int, str, str | None]]:
    """Every ticket of the POS in pos-api's database, sales and credit notes: (ticket id, number, kind, the sale a
    credit note corrects), by number."""

    async def run() -> list[tuple[str, int, str, str | None]]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", pos_api.tag)))
        try:
            rows = await conn.fetch(
                "select id, number, kind, body->>'original_ticket_id' as original from tickets where pos_id = $1"
                " order by number",
                uuid.UUID(pos_id),
            )
            return [(str(r["id"]), int(r["number"]), str(r["kind"]), r["original"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(run())


def ticket_events(stack: Stack, pos_id: str) -> list[tuple[str, int]]:
    """The till's `ticket.finalized` records on the tickets topic from its beginning, in the topic's order (one
    partition per POS): (ticket id, number)."""

    async def read() -> list[tuple[str, int]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.infra.kafka_bootstrap,
            group_id=f"e2e-faults-{uuid.uuid4()}",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(TICKETS.name, p) for p in range(TICKETS.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[tuple[str, int]] = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        if record.key == pos_id.encode() and record.value is not None:
                            envelope = json.loads(record.value)
                            if envelope.get("type") == "ticket.finalized":
                                found.append((str(envelope["data"]["ticket_id"]), int(envelope["data"]["number"])))
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def counts_of(amount: int, values: list[int]) -> list[dict[str, int]]:
    """`amount` counted in the fewest notes and coins of `values`."""
    counts = []
    for value in sorted(values, reverse=True):
        if amount >= value:
            counts.append({"value": value, "count": amount // value})
            amount %= value
    assert amount == 0
    return counts


def till_agent(stack: Stack, till: Till, tag: str, name: str, **settings: str) -> ServiceProcess:
    """An hw-proxy process of its own for `till` (its store `<name>.sqlite3` in the stack's work folder), kept by
    the stack under the test's tag and the name so that several tills of one test each keep theirs."""
    hw_proxy = stack.service(
        "hw-proxy",
        tag=tag,
        device_serial=till.till.serial,
        device_secret=till.till.secret,
        store_path=str(stack.workdir / f"{name}.sqlite3"),
        send_retry_max_s="1",
        **settings,
    )
    stack.services[f"hw-proxy{tag}-{name}"] = hw_proxy
    return hw_proxy


def store_of(hw_proxy: ServiceProcess) -> Path:
    return Path(hw_proxy.env["HW_PROXY_STORE_PATH"])


def ready(app: TillApp, status: str) -> None:
    wait_for(lambda: app.status()["status"] == status, f"the till {status}")


def queue_empty(app: TillApp) -> bool:
    queue = app.status()["queue"]
    return bool(queue["pending_sales"] == 0 and queue["pending_sessions"] == 0)
