"""session-service on the real stack: the running-totals consumer's throughput, and the close of a 1,000-ticket
session with its report.

session-service runs as its own process on the launcher's test instance, on a fresh database and fresh
consumer groups each round. Consumer: N `ticket.finalized` events are published to Kafka while the service
is down, then it starts and counts them; the rate is taken between the first and the last application
timestamps the service itself stored (so the group join and the start are not counted; the wall time is
shown beside). Close: a session opened over HTTP with its POS's configuration announced on Kafka, 1,000
tickets counted into it (a tenth paid by cheque), then `POST close` (which computes the figures, stores the
report, queues the mail and the event in one transaction), `GET report.pdf` and `GET deposit-slip.pdf`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.report import Figure
from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import ConfigChangedV1, EntityType, PaymentMethod, PaymentV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import CONFIG, SESSION_SERVICE_TICKETS, TICKETS
from caisse_stack import Infra, ensure_up
from caisse_stack.services import BY_NAME, executable, service_env

CONSUMER_EVENTS = 20_000
CONSUMER_ROUNDS = 3
CLOSE_TICKETS = 1_000
CLOSE_ROUNDS = 5
EUR = [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    database: str
    log: Path


def start_service(infra: Infra, tag: str) -> Service:
    database = f"bench_sessions_{tag}"
    infra.create_database(database)
    port = free_port()
    env = service_env(
        BY_NAME["session-service"],
        infra.instance,
        port=port,
        database=database,
        extra={"consumer_group_suffix": f".bench-{tag}", "log_level": "WARNING", "mail_poll_s": "3600"},
    )
    log = infra.instance.folder / "bench" / f"session-service-{tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [executable("session-service")], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Service(process, url, database, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"session-service did not start; see {log}")


def stop_service(infra: Infra, service: Service) -> None:
    service.process.send_signal(signal.SIGTERM)
    try:
        service.process.wait(30)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(10)
    infra.drop_database(service.database)


async def groups_at_end(bootstrap: str, tag: str) -> None:
    """The round's ticket group starts at the topic's end, so it counts this round's events only."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"{SESSION_SERVICE_TICKETS.name}.bench-{tag}", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(TICKETS.name, p) for p in range(TICKETS.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: ends[tp] for tp in partitions})
    finally:
        await consumer.stop()


def tickets(session_id: uuid.UUID, pos_id: uuid.UUID, count: int, ids: dict[str, uuid.UUID]) -> list[TicketFinalizedV1]:
    example = load_example(TicketFinalizedV1).data
    made = []
    for number in range(1, count + 1):
        update: dict[str, Any] = {
            "ticket_id": uuid.uuid4(),
            "session_id": session_id,
            "pos_id": pos_id,
            "number": number,
            **ids,
        }
        if number % 10 == 0:
            update |= {
                "change_given": 0,
                "payments": (
                    PaymentV1(
                        payment_id=uuid.uuid4(),
                        method=PaymentMethod.CHEQUE,
                        amount=1000,
                        reference=f"{number:07d}",
                        bank="La Poste",
                    ),
                ),
            }
        made.append(example.model_copy(update=update))
    return made


async def publish(bootstrap: str, topic: str, envelopes: list[tuple[str, Envelope[Any]]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        futures = []
        for key, envelope in envelopes:
            headers = [(k, v.encode()) for k, v in envelope.kafka_headers().items()]
            futures.append(
                await producer.send(topic, envelope.model_dump_json().encode(), key=key.encode(), headers=headers)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def wrap(payload: Any, tenant: TenantKeys) -> Envelope[Any]:
    envelope: Envelope[Any] = Envelope[type(payload)].wrap(  # type: ignore[misc]
        payload, event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), source="bench", tenant=tenant
    )
    return envelope


async def fetch_one(dsn: str, sql: str) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        row: asyncpg.Record = await conn.fetchrow(sql)
        return row
    finally:
        await conn.close()


def consumer_round(infra: Infra, round_no: int) -> tuple[float, float]:
    tag = f"c{round_no}-{uuid.uuid4().hex[:6]}"
    asyncio.run(groups_at_end(infra.kafka_bootstrap, tag))
    sessions = 20
    events: list[tuple[str, Envelope[Any]]] = []
    example = load_example(TicketFinalizedV1).data
    ids = {"shop_id": example.shop_id, "company_id": example.company_id, "territory_id": example.territory_id}
    for _ in range(sessions):
        pos_id = uuid.uuid4()
        for ticket in tickets(uuid.uuid4(), pos_id, CONSUMER_EVENTS // sessions, ids):
            events.append((str(pos_id), wrap(ticket, TenantKeys(pos_id=pos_id))))
    asyncio.run(publish(infra.kafka_bootstrap, TICKETS.name, events))
    began = time.monotonic()
    service = start_service(infra, tag)
    try:
        dsn = infra.dsn(service.database)
        deadline = time.monotonic() + 300
        while True:
            row = asyncio.run(
                fetch_one(dsn, "select count(*) as n, min(applied_at) as a, max(applied_at) as b from session_tickets")
            )
            if row["n"] >= len(events) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        wall = time.monotonic() - began
        if row["n"] < len(events):
            raise RuntimeError(f"only {row['n']} of {len(events)} counted; see {service.log}")
        span = (row["b"] - row["a"]).total_seconds()
        first_batch = asyncio.run(
            fetch_one(
                dsn,
                "select count(*) as n from session_tickets where applied_at = (select min(applied_at) from session_tickets)",
            )
        )["n"]
        return (len(events) - first_batch) / span, wall
    finally:
        stop_service(infra, service)


def config_events(
    pos_id: uuid.UUID, operator_id: uuid.UUID
) -> tuple[list[tuple[str, Envelope[Any]]], dict[str, uuid.UUID]]:
    territory, company, shop = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).isoformat()
    items: list[tuple[EntityType, uuid.UUID, dict[str, Any]]] = [
        (
            EntityType.TERRITORY,
            territory,
            {
                "name": "France",
                "currency": "EUR",
                "currency_exponent": 2,
                "timezone": "Europe/Paris",
                "denominations": [{"value": v, "kind": "coin"} for v in EUR],
            },
        ),
        (EntityType.COMPANY, company, {"territory_id": str(territory), "name": "Ressourcerie du banc d'essai"}),
        (
            EntityType.SHOP,
            shop,
            {
                "company_id": str(company),
                "name": "Banc d'essai",
                "report_emails": ["banc@example.org"],
                "bank_account": "FR76 0000",
            },
        ),
        (EntityType.POS, pos_id, {"shop_id": str(shop), "name": "Caisse banc"}),
        (EntityType.OPERATOR, operator_id, {"name": "Caissière", "role": "cashier", "shop_id": str(shop)}),
    ]
    events = []
    for kind, entity_id, fields in items:
        change = ConfigChangedV1(
            entity_type=kind,
            entity_id=entity_id,
            version=1,
            item={"id": str(entity_id), "version": 1, "updated_at": now, **fields},
            patch=(),
        )
        events.append((change.key, wrap(change, TenantKeys())))
    return events, {"territory_id": territory, "company_id": company, "shop_id": shop}


def close_round(infra: Infra, service: Service) -> tuple[float, float]:
    """The close's time and the close's with both PDFs (ms)."""
    pos_id, cashier = uuid.uuid4(), uuid.uuid4()
    configuration, ids = config_events(pos_id, cashier)
    asyncio.run(publish(infra.kafka_bootstrap, CONFIG.name, configuration))
    session_id = uuid.uuid4()
    with httpx.Client(base_url=service.url, timeout=60) as client:
        opened = client.post(
            f"/v1/pos/{pos_id}/sessions",
            json={
                "session_id": str(session_id),
                "operator_ids": [str(cashier)],
                "float_counts": [{"value": 1000, "count": 5}],
                "first_ticket_number": 1,
            },
        )
        opened.raise_for_status()
        made = tickets(session_id, pos_id, CLOSE_TICKETS, ids)
        asyncio.run(
            publish(
                infra.kafka_bootstrap, TICKETS.name, [(str(pos_id), wrap(t, TenantKeys(pos_id=pos_id))) for t in made]
            )
        )
        deadline = time.monotonic() + 120
        while client.get(f"/v1/sessions/{session_id}").json()["ticket_count"] < CLOSE_TICKETS:
            if time.monotonic() > deadline:
                raise RuntimeError("tickets not counted")
            time.sleep(0.1)
        cheques = [str(p.payment_id) for t in made for p in t.payments if p.method is PaymentMethod.CHEQUE]
        cash = sum(p.tendered or p.amount for t in made for p in t.payments if p.method is PaymentMethod.CASH)
        change = sum(t.change_given for t in made)
        counted = 5000 + cash - change
        started = time.perf_counter()
        closed = client.post(
            f"/v1/sessions/{session_id}/close",
            json={
                "closed_by": str(cashier),
                "last_ticket_number": CLOSE_TICKETS,
                "counts": [{"value": 1000, "count": counted // 1000}, {"value": 1, "count": counted % 1000}],
                "float_kept": [{"value": 1000, "count": 5}],
                "cheques_ticked": cheques,
            },
        )
        close_ms = (time.perf_counter() - started) * 1000
        report = client.get(f"/v1/sessions/{session_id}/report.pdf")
        slip = client.get(f"/v1/sessions/{session_id}/deposit-slip.pdf")
        elapsed = time.perf_counter() - started
    if closed.status_code != 200 or closed.json()["closing"]["variance"] != 0:
        raise RuntimeError(f"close: {closed.status_code} {closed.text[:300]}")
    if not (report.content.startswith(b"%PDF") and slip.content.startswith(b"%PDF")):
        raise RuntimeError("no PDF")
    return close_ms, elapsed * 1000


def run() -> list[Figure]:
    infra = ensure_up("test")
    rates, walls = [], []
    for n in range(CONSUMER_ROUNDS):
        rate, wall = consumer_round(infra, n)
        rates.append(rate)
        walls.append(wall)
    tag = f"close-{uuid.uuid4().hex[:6]}"
    asyncio.run(groups_at_end(infra.kafka_bootstrap, tag))
    service = start_service(infra, tag)
    try:
        first_close, first_total = close_round(infra, service)  # the first PDF of a process loads the library
        rounds = [close_round(infra, service) for _ in range(CLOSE_ROUNDS)]
    finally:
        stop_service(infra, service)
    return [
        Figure(
            what=f"running-totals consumer, {CONSUMER_EVENTS:,} ticket.finalized",
            measured=statistics.median(rates),
            unit="events/s",
            target=2000,
            higher_is_better=True,
            runs=len(rates),
            spread=f"{min(rates):,.0f}–{max(rates):,.0f}; wall incl. start {', '.join(f'{w:.1f}s' for w in walls)}",
        ),
        Figure(
            what=f"close of a {CLOSE_TICKETS:,}-ticket session + Z report PDF + deposit slip PDF",
            measured=statistics.median(total for _, total in rounds),
            unit="ms",
            target=1000,
            runs=len(rounds),
            spread=(
                f"{min(t for _, t in rounds):.0f}–{max(t for _, t in rounds):.0f} ms, of which the close"
                f" {statistics.median(c for c, _ in rounds):.0f} ms; first after start {first_total:.0f} ms"
                f" (close {first_close:.0f} ms; loads the PDF library)"
            ),
        ),
    ]
