"""A close races the till's sales on the real stack (two pos-api processes on one database, session-service, Kafka,
PostgreSQL): once the close is acknowledged no sale enters the session, every ticket pos-api holds in it is in
its Z report, and session-service has none to keep aside as late.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.tills import BasketContent
from caisse_contracts.topics import TICKETS
from caisse_stack.demo_data import Demo
from harness import ServiceProcess, Stack, free_port
from pos_api.adapters.sql import SqlPool
from pos_api.service_layer.ports import CheckoutView, SessionState, StoredBasket, StoredTicket

SELLERS = 8
"""Concurrent connections selling from the till, half to each pos-api process."""

EUR_FLOAT = [{"value": 1000, "count": 5}]


@pytest.fixture(scope="module")
def services(stack: Stack) -> tuple[ServiceProcess, ServiceProcess]:
    sessions = stack.service("session-service", tag="_cr", close_wait_s="10")
    sessions.start()
    pos_api = stack.service("pos-api", tag="_cr")
    pos_api.start()
    return pos_api, sessions


@pytest.fixture(scope="module")
def second_pos_api(stack: Stack, services: tuple[ServiceProcess, ServiceProcess]) -> ServiceProcess:
    """Another pos-api process on the same database, as a second worker: its own memory of each till's sales."""
    first = services[0]
    port = free_port()
    second = ServiceProcess(
        name="pos-api", env={**first.env, "POS_API_PORT": str(port)}, port=port, workdir=first.workdir, tag="_cr2"
    )
    stack.services["pos-api_cr2"] = second
    second.start()
    return second


@pytest.fixture(scope="module")
def demo(stack: Stack, services: tuple[ServiceProcess, ServiceProcess]) -> Demo:
    return stack.demo(services[0])


@dataclass
class Sale:
    number: int
    sent_at: float
    status: int
    body: dict[str, Any]


@dataclass
class Till:
    url: str
    headers: dict[str, str]
    textile: str
    numbers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    sales: list[Sale] = field(default_factory=list)

    def next_number(self) -> int:
        with self.lock:
            self.numbers += 1
            return self.numbers

    def sell(self, client: httpx.Client) -> Sale:
        number = self.next_number()
        content = {
            "lines": [{"line_id": str(uuid.uuid4()), "category_id": self.textile, "price": 900, "weight_grams": 500}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "card", "amount": 900, "reference": "A1"}],
        }
        sent_at = time.monotonic()
        answer = client.post(
            f"/v1/baskets/{uuid.uuid4()}/finalize", json={"number": number, "version": 0, "content": content}
        )
        sale = Sale(number, sent_at, answer.status_code, answer.json())
        with self.lock:
            self.sales.append(sale)
        return sale


def rows(stack: Stack, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database(service, "_cr")))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_no_sale_enters_a_session_once_its_close_is_acknowledged_whatever_process_takes_it(
    services: tuple[ServiceProcess, ServiceProcess], second_pos_api: ServiceProcess, demo: Demo, stack: Stack
) -> None:
    pos_api, sessions = services
    demo_till = demo.tills[0]
    headers = {"X-Device-Serial": demo_till.serial, "X-Device-Secret": demo_till.secret}
    with httpx.Client(base_url=pos_api.url, headers=headers, timeout=30) as client:
        boot = client.get("/v1/pos-data").raise_for_status().json()
        textile = next(c["id"] for c in boot["catalogue"]["categories"] if c["name"] == "Textile")
        session_id = str(uuid.uuid4())
        opened = client.post(
            "/v1/sessions",
            json={
                "session_id": session_id,
                "operator_ids": [demo.cashiers[demo_till.shop_id]],
                "float_counts": EUR_FLOAT,
            },
        )
        assert opened.status_code == 201, opened.text
    till = Till(pos_api.url, headers, textile)

    closed_at: list[float] = []
    stop = threading.Event()

    def seller(url: str) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while not stop.is_set():
                till.sell(client)

    urls = [pos_api.url, second_pos_api.url]
    threads = [threading.Thread(target=seller, args=(urls[i % 2],)) for i in range(SELLERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)  # both processes sell into the session and remember it
        with httpx.Client(base_url=pos_api.url, headers=headers, timeout=60) as client:
            with till.lock:
                declared = max((s.number for s in till.sales if s.status == 201), default=None)
            close = client.post(
                f"/v1/sessions/{session_id}/close",
                json={
                    "closed_by": demo.cashiers[demo_till.shop_id],
                    "last_ticket_number": declared,
                    "counts": EUR_FLOAT,
                },
            )
            closed_at.append(time.monotonic())
        time.sleep(1.5)  # and go on selling after it
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert close.status_code == 200, close.text
    assert close.json()["status"] == "closed"
    acknowledged = closed_at[0]
    after = [s for s in till.sales if s.sent_at > acknowledged]
    assert len(after) >= SELLERS, "sales were sent after the close's answer"
    assert {s.status for s in after} == {409}, [s for s in after if s.status != 409][:3]
    assert all(s.body["invalid_params"][0]["name"] == "session" for s in after)
    accepted_before = [s for s in till.sales if s.status == 201]
    assert len(accepted_before) >= SELLERS, "sales went into the session before its close"

    in_session = {
        r["number"]
        for r in rows(stack, "pos-api", "select number from tickets where session_id = $1", uuid.UUID(session_id))
    }
    assert in_session == {s.number for s in accepted_before}
    report = (
        httpx.get(f"{pos_api.url}/v1/sessions/{session_id}/report", headers=headers, timeout=10)
        .raise_for_status()
        .json()
    )
    assert report["ticket_count"] == len(in_session), "the Z report counts every ticket pos-api holds in the session"
    deadline = time.monotonic() + 20
    while rows(stack, "pos-api", "select 1 from outbox where sent_at is null limit 1") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # whatever pos-api published has reached session-service's consumer
    late = httpx.get(f"{sessions.url}/v1/sessions/{session_id}/late-tickets", headers=sessions.as_pos_api, timeout=10)
    assert (late.status_code, late.json()) == (200, [])
    counted = rows(
        stack, "session-service", "select number from session_tickets where session_id = $1", uuid.UUID(session_id)
    )
    assert {r["number"] for r in counted} == in_session


def test_operators_read_sessions_through_pos_api_within_their_scope_and_session_service_answers_no_one_else(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    pos_api, sessions = services
    demo_till = demo.tills[1]
    headers = {"X-Device-Serial": demo_till.serial, "X-Device-Secret": demo_till.secret}
    session_id = str(uuid.uuid4())
    opened = httpx.post(
        f"{pos_api.url}/v1/sessions",
        json={"session_id": session_id, "operator_ids": [demo.cashiers[demo_till.shop_id]], "float_counts": EUR_FLOAT},
        headers=headers,
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    admin = {"Authorization": f"Bearer {stack.admin_token('_cr')}"}
    other_shop = next(t.shop_id for t in demo.tills if t.currency != demo_till.currency)  # another company
    created = httpx.post(
        f"{pos_api.url}/v1/operators",
        json={"name": "Gérante d'ailleurs", "role": "shop_manager", "shop_id": other_shop},
        headers=admin,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    outsider = {"Authorization": f"Bearer {created.json()['secret']}"}
    read = httpx.get(f"{pos_api.url}/v1/cash-sessions/{session_id}", headers=admin, timeout=10)
    assert (read.status_code, read.json()["status"]) == (200, "open")
    refused = httpx.get(f"{pos_api.url}/v1/cash-sessions/{session_id}", headers=outsider, timeout=10)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{pos_api.url}/v1/cash-sessions/{session_id}", timeout=10).status_code == 401
    other_till = next(t for t in demo.tills if t.pos_id != demo_till.pos_id)
    foreign = httpx.get(
        f"{pos_api.url}/v1/sessions/{session_id}",
        headers={"X-Device-Serial": other_till.serial, "X-Device-Secret": other_till.secret},
        timeout=10,
    )
    assert foreign.status_code == 404
    direct = httpx.get(f"{sessions.url}/v1/sessions/{session_id}", timeout=10)
    assert direct.status_code == 401
    assert direct.headers["content-type"] == "application/problem+json"
    spoofed = httpx.get(
        f"{sessions.url}/v1/sessions/{session_id}", headers={"X-Caisse-Pos-Id": demo_till.pos_id}, timeout=10
    )
    assert spoofed.status_code == 401


def test_a_sale_written_while_a_close_holds_the_session_waits_for_it_and_then_enters_nothing(
    services: tuple[ServiceProcess, ServiceProcess], stack: Stack
) -> None:
    """The snapshot race: a sale whose statement began while the session was open must not land once the close
    committed. Finalize's guarded write locks the session's row shared, so it waits for the close's lock."""
    assert asyncio.run(_write_during_close(stack.infra.dsn(stack.database("pos-api", "_cr")))) == (True, False, 0)


async def _write_during_close(dsn: str) -> tuple[bool, bool, int]:
    pos_id, session_id, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    ticket = load_example(TicketFinalizedV1).data.model_copy(
        update={"ticket_id": uuid.uuid4(), "pos_id": pos_id, "session_id": session_id, "number": 1}
    )
    basket = StoredBasket(ticket.ticket_id, pos_id, 1, BasketContent(), True, ticket.ticket_id, now)
    event = Envelope[TicketFinalizedV1].wrap(
        ticket, event_id=uuid.uuid4(), occurred_at=now, source="pos-api", tenant=TenantKeys(pos_id=pos_id)
    )
    closer = await asyncpg.connect(dsn)
    pool = SqlPool(dsn, size=2)
    await pool.start()
    try:
        await closer.execute(
            "insert into pos_sessions (pos_id, session_id, status, opened_at) values ($1, $2, 'open', $3)",
            pos_id,
            session_id,
            now,
        )

        async def sale() -> bool:
            async with pool.steps() as work:
                seen = CheckoutView(
                    None, None, SessionState(pos_id, session_id, True, now), None
                )  # read before the close
                return await work.checkout.record(
                    StoredTicket.new(ticket, now), basket, event, topic=TICKETS.name, seen=seen
                )

        close = closer.transaction()
        await close.start()
        await closer.execute("select 1 from pos_sessions where pos_id = $1 for update", pos_id)
        writing = asyncio.create_task(sale())
        await asyncio.sleep(1.0)
        waited = not writing.done()
        await closer.execute("update pos_sessions set status = 'closing' where pos_id = $1", pos_id)
        await close.commit()
        entered = await asyncio.wait_for(writing, 10)
        kept = await closer.fetchval("select count(*) from tickets where pos_id = $1", pos_id)
        return waited, entered, kept
    finally:
        await pool.stop()
        await closer.close()
