"""A till simulator: N tills ring up M tickets each through pos-api's HTTP API, as real tills would.

Each till boots (`pos-data`), then for every ticket saves a basket of three lines (two second-hand items by
weight and a catalogue product), pays it in cash (or by card every third ticket) and finalizes it with its
next gap-free number. Used by the demo and by the benchmarks; every request goes over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import SessionOpenedV1
from caisse_contracts.ids import new_id
from caisse_contracts.topics import SESSIONS
from caisse_stack.demo_data import DemoTill


@dataclass
class TillRun:
    till: DemoTill
    boot: dict[str, Any] = field(default_factory=dict)
    next_number: int = 1
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Device-Serial": self.till.serial, "X-Device-Secret": self.till.secret}


def basket_body(run: TillRun, n: int) -> dict[str, Any]:
    """A ressourcerie ticket of three lines: two weighed items of two categories and one catalogue product."""
    catalogue = run.boot["catalogue"]
    weighed = [c for c in catalogue["categories"] if c.get("sold_by_weight")]
    products = [
        p
        for p in catalogue["products"]
        if p.get("kind", "product") == "product" and p.get("weight_mode", "none") == "none"
    ]
    scale = 1  # the same figures read as cents in EUR and francs in XPF: both are realistic second-hand prices
    lines = [
        {
            "line_id": str(new_id()),
            "category_id": weighed[n % len(weighed)]["id"],
            "price": 350 * scale,
            "weight_grams": 1250,
        },
        {
            "line_id": str(new_id()),
            "category_id": weighed[(n + 1) % len(weighed)]["id"],
            "price": 200 * scale,
            "weight_grams": 180,
        },
        {"line_id": str(new_id()), "product_id": products[n % len(products)]["id"], "quantity": 1},
    ]
    prices = {p["id"]: p["price"] for p in products}
    total = 350 * scale + 200 * scale + prices[lines[2]["product_id"]]
    if n % 3 == 2:
        payment = {"payment_id": str(new_id()), "method": "card", "amount": total, "reference": f"AUTH{n:06d}"}
    else:
        rounded = total
        if run.boot["territory"]["cash_rounding"] == "nearest_5":
            rounded = total - total % 5 if total % 5 < 3 else total + 5 - total % 5
        payment = {
            "payment_id": str(new_id()),
            "method": "cash",
            "amount": rounded,
            "tendered": rounded + (1000 - rounded % 1000),
        }
    return {"version": 0, "content": {"lines": lines, "payments": [payment], "pickup_number": "12"}}


def opening_float(boot: dict[str, Any]) -> list[dict[str, int]]:
    """A float of the till's own territory: ten of each coin and five of the smallest note."""
    denominations = boot["territory"]["denominations"]
    coins = [{"value": d["value"], "count": 10} for d in denominations if d["kind"] == "coin"]
    notes = sorted(d["value"] for d in denominations if d["kind"] == "note")
    return coins + ([{"value": notes[0], "count": 5}] if notes else [])


async def open_through_pos_api(client: httpx.AsyncClient, runs: list[TillRun], cashiers: Mapping[str, str]) -> None:
    """Each till without a session opens one as a till does: through pos-api, which forwards to session-service."""
    for run in runs:
        if run.boot["status"] == "READY_CONTINUE":
            continue
        body = {
            "session_id": str(new_id()),
            "operator_ids": [cashiers[run.till.shop_id]],
            "float_counts": opening_float(run.boot),
        }
        opened = await client.post("/v1/sessions", json=body, headers=run.headers)
        if opened.status_code not in (200, 201):
            raise RuntimeError(f"{run.till.serial}: open refused: {opened.status_code} {opened.text[:300]}")


async def open_sessions(bootstrap: str, runs: list[TillRun]) -> None:
    """Announce an open cash session on Kafka for each till that has none, for tills with no known cashier
    (load-test tills registered apart): pos-api's read model lets them sell; session-service is not asked."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for run in runs:
            if run.boot["status"] == "READY_CONTINUE":
                continue
            payload = SessionOpenedV1(
                session_id=new_id(),
                territory_id=run.boot["territory"]["id"],
                company_id=run.boot["company"]["id"],
                shop_id=run.boot["shop"]["id"],
                pos_id=run.boot["pos"]["id"],
                opened_at=datetime.now(UTC),
                operator_ids=(new_id(),),
                currency=run.boot["territory"]["currency"],
                opening_float=15000,
            )
            envelope = Envelope[SessionOpenedV1].wrap(
                payload,
                event_id=new_id(),
                occurred_at=payload.opened_at,
                source="session-service",
                tenant=TenantKeys(
                    territory_id=payload.territory_id,
                    company_id=payload.company_id,
                    shop_id=payload.shop_id,
                    pos_id=payload.pos_id,
                ),
            )
            headers = [(k, v.encode()) for k, v in envelope.kafka_headers().items()]
            await producer.send_and_wait(
                SESSIONS.name, envelope.model_dump_json().encode(), key=str(payload.pos_id).encode(), headers=headers
            )
    finally:
        await producer.stop()


async def boot(client: httpx.AsyncClient, run: TillRun) -> None:
    response = await client.get("/v1/pos-data", headers=run.headers)
    response.raise_for_status()
    run.boot = response.json()
    run.next_number = (run.boot["last_ticket_number"] or 0) + 1


async def wait_sessions_open(client: httpx.AsyncClient, runs: list[TillRun], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    for run in runs:
        while run.boot["status"] != "READY_CONTINUE":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{run.till.serial}: no open session after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)
            await boot(client, run)


async def sell(client: httpx.AsyncClient, run: TillRun, n: int, *, finalize_only_timing: bool = True) -> None:
    basket_id = str(new_id())
    saved = await client.put(f"/v1/baskets/{basket_id}", json=basket_body(run, n), headers=run.headers)
    if saved.status_code != 200:
        run.failures.append(f"PUT {saved.status_code} {saved.text[:200]}")
        return
    number = run.next_number
    started = time.perf_counter()
    done = await client.post(
        f"/v1/baskets/{basket_id}/finalize",
        json={"number": number, "version": saved.json()["version"]},
        headers=run.headers,
    )
    run.latencies_ms.append((time.perf_counter() - started) * 1000)
    if done.status_code != 201:
        run.failures.append(f"finalize {done.status_code} {done.text[:200]}")
        return
    run.next_number += 1


async def prepare(
    pos_api: str, kafka_bootstrap: str, tills: list[DemoTill], cashiers: Mapping[str, str] | None = None
) -> list[TillRun]:
    """Boot the tills and open a session on those without one: through pos-api and session-service with the
    shop's cashier (`cashiers`: shop id → operator id), or announced on Kafka for a shop without one."""
    runs = [TillRun(t) for t in tills]
    known = cashiers or {}
    async with httpx.AsyncClient(base_url=pos_api, timeout=30) as client:
        await asyncio.gather(*(boot(client, r) for r in runs))
        await open_through_pos_api(client, [r for r in runs if r.till.shop_id in known], known)
        await open_sessions(kafka_bootstrap, [r for r in runs if r.till.shop_id not in known])
        await wait_sessions_open(client, runs)
    return runs


async def simulate(
    pos_api: str,
    kafka_bootstrap: str,
    tills: list[DemoTill],
    tickets: int,
    cashiers: Mapping[str, str] | None = None,
) -> list[TillRun]:
    """Every till sells `tickets` tickets, the tills concurrently, each till one ticket after the other."""
    runs = await prepare(pos_api, kafka_bootstrap, tills, cashiers)
    limits = httpx.Limits(max_connections=len(runs) * 2, max_keepalive_connections=len(runs) * 2)
    async with httpx.AsyncClient(base_url=pos_api, timeout=30, limits=limits) as client:

        async def till_loop(run: TillRun) -> None:
            for n in range(tickets):
                await sell(client, run, n)

        await asyncio.gather(*(till_loop(r) for r in runs))
    return runs


async def sustain(pos_api: str, runs: list[TillRun], duration_s: float) -> int:
    """Every till sells back to back for `duration_s`; the number of tickets finalized."""
    limits = httpx.Limits(max_connections=len(runs) * 2, max_keepalive_connections=len(runs) * 2)
    deadline = time.monotonic() + duration_s
    sold = 0
    async with httpx.AsyncClient(base_url=pos_api, timeout=30, limits=limits) as client:

        async def till_loop(run: TillRun) -> None:
            nonlocal sold
            n = 0
            while time.monotonic() < deadline:
                before = run.next_number
                await sell(client, run, n)
                sold += run.next_number - before
                n += 1

        await asyncio.gather(*(till_loop(r) for r in runs))
    return sold


async def paced(pos_api: str, runs: list[TillRun], rate_per_s: float, duration_s: float) -> list[float]:
    """Open loop: a ticket starts every 1/rate seconds, on the tills in turn; the finalize latencies (ms)."""
    limits = httpx.Limits(max_connections=len(runs) * 2, max_keepalive_connections=len(runs) * 2)
    for run in runs:
        run.latencies_ms.clear()
    busy = {r.till.serial: asyncio.Lock() for r in runs}
    async with httpx.AsyncClient(base_url=pos_api, timeout=30, limits=limits) as client:

        async def one(run: TillRun, n: int) -> None:
            async with busy[run.till.serial]:  # a till rings one ticket at a time
                await sell(client, run, n)

        tasks = []
        started = time.monotonic()
        total = int(rate_per_s * duration_s)
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / rate_per_s - time.monotonic()))
            tasks.append(asyncio.create_task(one(runs[n % len(runs)], n)))
        await asyncio.gather(*tasks)
    return [ms for r in runs for ms in r.latencies_ms]
