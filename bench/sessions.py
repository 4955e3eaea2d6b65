"""session-service on the real stack: the running-totals consumer's throughput, and the close of a 1,000-ticket
session with its report.

session-service runs as its own process on the launcher's test instance, on a fresh database and fresh consumer
groups each round. Consumer: N `ticket.finalized` events are published to Kafka while the service is down, then it
starts and counts them; the rate is taken between the first and the last application timestamps the service itself
stored (so the group join and the start are not counted; the wall time is shown beside). Within that same window,
the CPU time of the service's process and of its PostgreSQL backends (sampled from /proc, the bench's own
connections left out) gives the CPU spent per event, which the load of other processes on the machine inflates far
less than it does wall time. Live: the same consumer, started and caught up, then fed at a steady LIVE_RATE
events/s, so that it applies small batches as they come (as under the tills' load) rather than a backlog in full
ones; the figure is its CPU per event (service and backends) from the first paced event to the last one counted.
Close: a session opened over HTTP with its POS's configuration announced on Kafka, 1,000 tickets counted into it (a
tenth paid by cheque), then `POST close` (which computes the figures, stores the report, queues the mail and the
event in one transaction), `GET report.pdf` and `GET deposit-slip.pdf`.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import calibration
from bench.cpu import cpu_seconds
from bench.report import Figure
from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import ConfigChangedV1, EntityType, PaymentMethod, PaymentV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import CONFIG, SESSION_SERVICE_TICKETS, TICKETS
from caisse_stack import Infra, ensure_up
from caisse_stack.services import BY_NAME, executable, service_env

CONSUMER_EVENTS = 20_000
CONSUMER_ROUNDS = 3
LIVE_RATE = 200
"""events/s of the paced round: tills selling, the consumer keeping up in small batches"""
LIVE_SECONDS = 15
LIVE_ROUNDS = 3
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
    token: str

    @property
    def as_pos_api(self) -> dict[str, str]:
        """session-service answers pos-api's service token only."""
        return {"Authorization": f"Bearer {self.token}"}


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
                return Service(process, url, database, log, env["SESSION_SERVICE_SERVICE_TOKEN"])
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


def backends_of(database: str, exclude: set[int]) -> set[int]:
    """The PostgreSQL backends serving `database` (their title is `postgres: caisse <database> …`)."""
    prefix = f"postgres: caisse {database} ".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            if (entry / "cmdline").read_bytes().startswith(prefix):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


class CpuSampler:
    """Samples, every `period_s`, the CPU seconds so far of a process and of its database's backends, with the
    wall-clock time (the service's timestamps are wall-clock): the CPU of any window can be read back."""

    def __init__(self, pid: int, database: str, exclude: set[int], period_s: float = 0.05) -> None:
        self._pid, self._database, self._exclude, self._period_s = pid, database, exclude, period_s
        self._backends: dict[int, float] = {}
        self.samples: list[tuple[float, float, float]] = []
        """(epoch s, service CPU s, backends CPU s)"""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        rescan = 0.0
        while not self._stop.is_set():
            now = time.time()
            if now >= rescan:
                for pid in backends_of(self._database, self._exclude) - self._backends.keys():
                    self._backends[pid] = 0.0
                rescan = now + 0.5
            for pid in list(self._backends):
                used = cpu_seconds(pid)
                if used is not None:  # a backend that ended keeps its last reading
                    self._backends[pid] = used
            service = cpu_seconds(self._pid)
            if service is not None:
                self.samples.append((now, service, sum(self._backends.values())))
            self._stop.wait(self._period_s)

    def between(self, start: float, end: float) -> tuple[float, float]:
        """CPU seconds (service, backends) spent between two epoch times, interpolated between samples."""
        a, b = self._at(start), self._at(end)
        return b[0] - a[0], b[1] - a[1]

    def _at(self, when: float) -> tuple[float, float]:
        before = [s for s in self.samples if s[0] <= when] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= when] or self.samples[-1:]
        (t0, s0, b0), (t1, s1, b1) = before[-1], after[0]
        k = (when - t0) / (t1 - t0) if t1 > t0 else 0.0
        return s0 + k * (s1 - s0), b0 + k * (b1 - b0)


@dataclass(frozen=True, slots=True)
class ConsumerRound:
    rate: float
    """events/s between the first and the last application"""
    wall: float
    service_ms: float
    """CPU ms per event of session-service's process, within the same window"""
    database_ms: float
    """CPU ms per event of its PostgreSQL backends"""


def consumer_round(infra: Infra, round_no: int) -> ConsumerRound:
    tag = f"c{round_no}-{uuid.uuid4().hex[:6]}"
    asyncio.run(groups_at_end(infra.kafka_bootstrap, tag))
    events = ticket_envelopes(20, CONSUMER_EVENTS // 20)
    asyncio.run(publish(infra.kafka_bootstrap, TICKETS.name, events))
    began = time.monotonic()
    service = start_service(infra, tag)
    try:
        return asyncio.run(watch_round(infra, service, len(events), began))
    finally:
        stop_service(infra, service)


async def watch_round(infra: Infra, service: Service, expected: int, began: float) -> ConsumerRound:
    """Wait until the service counted every event, sampling its CPU and its backends' meanwhile."""
    conn = await asyncpg.connect(infra.dsn(service.database))
    try:
        own = {await conn.fetchval("select pg_backend_pid()")}
        with CpuSampler(service.process.pid, service.database, exclude=own) as sampler:
            deadline = time.monotonic() + 300
            while True:
                row = await conn.fetchrow(
                    "select count(*) as n, min(applied_at) as a, max(applied_at) as b from session_tickets"
                )
                if row["n"] >= expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            wall = time.monotonic() - began
            await asyncio.sleep(0.2)  # a sample after the last batch
        if row["n"] < expected:
            raise RuntimeError(f"only {row['n']} of {expected} counted; see {service.log}")
        first_batch = await conn.fetchval(
            "select count(*) from session_tickets where applied_at = (select min(applied_at) from session_tickets)"
        )
    finally:
        await conn.close()
    counted = expected - first_batch
    service_s, database_s = sampler.between(row["a"].timestamp(), row["b"].timestamp())
    return ConsumerRound(
        rate=counted / (row["b"] - row["a"]).total_seconds(),
        wall=wall,
        service_ms=service_s * 1000 / counted,
        database_ms=database_s * 1000 / counted,
    )


async def publish_paced(bootstrap: str, envelopes: list[tuple[str, Envelope[Any]]], rate: int) -> None:
    """Publish at `rate` events/s, a slice every 10 ms, each slice sent as it is due."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        encoded = [
            (key.encode(), e.model_dump_json().encode(), [(k, v.encode()) for k, v in e.kafka_headers().items()])
            for key, e in envelopes
        ]
        began, futures = time.monotonic(), []
        for i, (key, value, headers) in enumerate(encoded):
            due = began + i / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            futures.append(await producer.send(TICKETS.name, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def ticket_envelopes(sessions: int, per_session: int) -> list[tuple[str, Envelope[Any]]]:
    example = load_example(TicketFinalizedV1).data
    ids = {"shop_id": example.shop_id, "company_id": example.company_id, "territory_id": example.territory_id}
    events: list[tuple[str, Envelope[Any]]] = []
    for _ in range(sessions):
        pos_id = uuid.uuid4()
        for ticket in tickets(uuid.uuid4(), pos_id, per_session, ids):
            events.append((str(pos_id), wrap(ticket, TenantKeys(pos_id=pos_id))))
    return events


def live_round(infra: Infra, round_no: int) -> ConsumerRound:
    """CPU per event of the consumer fed at LIVE_RATE: started and caught up on a first few events, then paced."""
    tag = f"l{round_no}-{uuid.uuid4().hex[:6]}"
    asyncio.run(groups_at_end(infra.kafka_bootstrap, tag))
    warm = ticket_envelopes(20, 10)
    paced = ticket_envelopes(20, LIVE_RATE * LIVE_SECONDS // 20)
    random.Random(round_no).shuffle(paced)  # tills interleave
    asyncio.run(publish(infra.kafka_bootstrap, TICKETS.name, warm))
    service = start_service(infra, tag)
    try:
        return asyncio.run(watch_live(infra, service, len(warm), paced))
    finally:
        stop_service(infra, service)


async def watch_live(
    infra: Infra, service: Service, warm: int, paced: list[tuple[str, Envelope[Any]]]
) -> ConsumerRound:
    conn = await asyncpg.connect(infra.dsn(service.database))
    try:
        own = {await conn.fetchval("select pg_backend_pid()")}
        with CpuSampler(service.process.pid, service.database, exclude=own) as sampler:
            await wait_counted(conn, warm, service)
            await asyncio.sleep(1.0)  # the service settles: nothing left to do but wait for events
            began = time.time()
            await publish_paced(infra.kafka_bootstrap, paced, LIVE_RATE)
            last = await wait_counted(conn, warm + len(paced), service)
            await asyncio.sleep(0.2)  # a sample after the last batch
    finally:
        await conn.close()
    service_s, database_s = sampler.between(began, last)
    return ConsumerRound(
        rate=len(paced) / (last - began),
        wall=last - began,
        service_ms=service_s * 1000 / len(paced),
        database_ms=database_s * 1000 / len(paced),
    )


async def wait_counted(conn: asyncpg.Connection, expected: int, service: Service) -> float:
    """When the `expected`-th ticket was counted (epoch s), once it is."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = await conn.fetchrow("select count(*) as n, max(applied_at) as b from session_tickets")
        if row["n"] >= expected:
            at: float = row["b"].timestamp()
            return at
        await asyncio.sleep(0.1)
    raise RuntimeError(f"not all {expected} events counted; see {service.log}")


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
    with httpx.Client(base_url=service.url, timeout=60, headers=service.as_pos_api) as client:
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


def cpu_figure(what: str, rounds: list[ConsumerRound], yardstick: calibration.Yardstick) -> Figure:
    """CPU µs per event of the service and its PostgreSQL backends together, each round's split beside, and what
    that is in pgbench TPC-B transactions of the same run (one client: a transaction takes 1/tps seconds), a ratio
    that holds on a slower machine."""
    measured = statistics.median((r.service_ms + r.database_ms) * 1000 for r in rounds)
    return Figure(
        what=what,
        measured=measured,
        unit="µs",
        target=400,
        runs=len(rounds),
        spread="service + PostgreSQL: "
        + ", ".join(f"{r.service_ms * 1000:.0f} + {r.database_ms * 1000:.0f}" for r in rounds)
        + f" µs; = {measured * yardstick.tps / 1e6:.2f} pgbench transactions ({yardstick.tps:.0f} tps)",
    )


def run() -> list[Figure]:
    infra = ensure_up("test")
    yardstick = calibration.tpc_b(infra.instance)  # on the quiet stack, before the rounds
    consumed = [consumer_round(infra, n) for n in range(CONSUMER_ROUNDS)]
    rates = [r.rate for r in consumed]
    live = [live_round(infra, n) for n in range(LIVE_ROUNDS)]
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
            spread=f"{min(rates):,.0f}–{max(rates):,.0f}; wall incl. start {', '.join(f'{r.wall:.1f}s' for r in consumed)}"
            f"; {statistics.median(rates) / yardstick.tps:.2f}× pgbench ({yardstick.tps:.0f} tps)",
        ),
        cpu_figure(f"running-totals consumer, CPU per event, {CONSUMER_EVENTS:,} at once", consumed, yardstick),
        cpu_figure(f"running-totals consumer, CPU per event, {LIVE_RATE} events/s", live, yardstick),
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
