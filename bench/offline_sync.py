"""The offline batch sync on the real stack (issue 16): 10,000 sales that 10 tills made offline, synced in batches
of 500 and followed downstream, then the same batches sent twice more, which must change nothing anywhere.

Every service runs on the launcher's test instance (fresh consumer groups and bridge store, as the other benchmarks),
pos-api in as many processes as finalize's benchmark runs it. Each run has tills of its own, registered in the demo's
first shop (a company without Paheko: its books go to the FEC journal), and a stock-tracked lamp of its own created
through the back office with units delivered. Each till opens its cash session offline (`POST /v1/sync/sessions`,
its own session id and opening time), then "makes" 1,000 sales numbered 1 to 1,000 that go in two batches of 500.
The sales are made before the clock starts, by the project's own code as a till prices offline: pos-api's pricing
of a basket against the catalogue of the till's pos-data (`domain.pricing`), the contracts' basket math for the
totals and the change, each line naming the versions it was priced with; every batch is JSON bytes ready to send.

- End to end: time zero is the first batch sent; the ten tills send at once, each its two batches in order.
  (a) every batch answered, every sale `created`; (b) everything downstream done: session-service counted every
  ticket into its session and the bridge booked every ticket into the FEC journal, both read from their databases
  (the times are theirs: `session_tickets.applied_at`, `pushes.pushed_at`). The CPU of every process of the stack
  from time zero to (b) (`bench.cpu`), per sale, is printed beside the online finalize's, measured in the same run
  the same way: 15 s of `bench/loadgen` at full load on finalize's tills, until the bridge has booked it all.
- The sessions then close offline (counted cash equal to the expected cash: no variance to book), and the same 20
  batches are sent again, twice, ten tills at once: every sale must be answered `already_exists`.
- Duplicates, counted after the replays once pos-api's outbox is empty and Kafka read to its end (and a little
  longer, for a late one): tickets in pos-api's database, `ticket.finalized` on Kafka, tickets counted by
  session-service (and each session's running total: 1,000 tickets and the sum of its sales), stock movements and
  `stock.moved` of the lamp, FEC entries of these tickets. Each figure must be 0.

Three runs; every figure is the median beside the range, or the sum over the runs for what must be zero. With a
real Paheko (CAISSE_PAHEKO_URL, _API_USER, _API_PASSWORD), one more run goes the same way in a company of its own
that books to it (`paheko_latency.paheko_company`): (b) is then every ticket pushed to Paheko, and the tabs Paheko
holds in each session, read as the bridge's reconciliation reads them, must be exactly its 1,000. That run is
reported apart: Paheko's own pace (`Paheko push`) sets its time, not the sync's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from bench import calibration
from bench.cpu import CpuShares
from bench.finalize import (
    BRIDGE_DATABASE,
    POS_API_PROCESSES,
    bench_tills,
    drive,
    fresh_consumers,
    loadgen,
    settle,
    tills_config,
)
from bench.paheko_latency import paheko_company
from bench.report import Figure
from caisse_contracts.basket import PaymentIn, compute_basket
from caisse_contracts.config import ProductKind, WeightMode
from caisse_contracts.events import PaymentMethod, SessionClosedV1
from caisse_contracts.ids import new_id
from caisse_contracts.money import round_cash
from caisse_contracts.pricing import Catalogue, basket_input, price_lines
from caisse_contracts.session_api import CloseOperationIn, CountIn, OpenOperationIn, SessionSyncIn
from caisse_contracts.snapshots import load_example
from caisse_contracts.sync import SYNC_BATCH_DEFAULT, SYNC_SALES_PATH, OfflineLine, OfflineSale, SalesBatch
from caisse_contracts.till_views import PosData
from caisse_contracts.tills import BasketContent, BasketLine
from caisse_contracts.topics import STOCK, TICKETS
from caisse_stack import ensure_up, postgres, simulator
from caisse_stack.demo import ensure_demo_data
from caisse_stack.demo_data import BackOffice, Demo, DemoTill, add_tills
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME, admin_token, start_all, stop_all
from paheko_bridge.adapters.paheko.client import PahekoPluginClient
from paheko_bridge.adapters.paheko.target import PahekoSqlReader, PluginTarget, breakers

TILLS: Final = 10
SALES_PER_TILL: Final = 1_000
BATCH: Final = SYNC_BATCH_DEFAULT
SALES: Final = TILLS * SALES_PER_TILL
RUNS: Final = 3
REPLAYS: Final = 2
LAMP_EVERY: Final = 4
"""Every fourth sale also sells the run's stock-tracked lamp: 2,500 stock movements a run."""
TARGET_S: Final = 30.0
"""The issue's target, end to end (it aims for under 10 s)."""
DOWNSTREAM_TIMEOUT_S: Final = 300.0
LATE_S: Final = 3.0
"""Kafka read on this long after its end, so that a late duplicate would be seen."""
ONLINE_S: Final = 15.0
"""The online finalize of the same run, for comparison: this long at full load on finalize's tills."""
SALE_EVERY: Final = timedelta(seconds=30)
"""The till's clock between two sales: 1,000 sales from 09:00 to 17:20 of yesterday."""
POS_API_DATABASE: Final = "caisse_pos_api"
SESSION_DATABASE: Final = "caisse_session_service"
PAHEKO_VARIABLES: Final = ("CAISSE_PAHEKO_URL", "CAISSE_PAHEKO_API_USER", "CAISSE_PAHEKO_API_PASSWORD")
"""All three set: one more run, in a company of its own that books to that Paheko, counted in Paheko."""


@dataclass(frozen=True)
class Place:
    """Where a run's tills sell: a shop, its company and its cashier; and where the company's books go: the FEC
    journal, or the Paheko of `paheko` (its URL, API user and password)."""

    company_id: str
    shop_id: str
    cashier: UUID
    paheko: tuple[str, str, str] | None = None

    @property
    def books(self) -> str:
        return "FEC" if self.paheko is None else "Paheko"


def demo_place(demo: Demo) -> Place:
    """The demo's first shop (Bressuire), whose company has no Paheko: its books go to the FEC journal."""
    shop = demo.tills[0].shop_id
    return Place(demo.companies["FR"], shop, UUID(demo.cashiers[shop]))


def paheko_place(inst: Instance, pos_api: str, settings: tuple[str, ...]) -> Place:
    """A company of its own booking to the Paheko of CAISSE_PAHEKO_* (`paheko_latency.paheko_company`), with a
    shop and a cashier."""
    url, user, password = settings
    shop, tag = paheko_company(inst, pos_api, url, user, password)
    token = admin_token(inst)
    with httpx.Client(base_url=pos_api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
        company = admin.get(f"/v1/shops/{shop}").raise_for_status().json()["item"]["company_id"]
    office = BackOffice(pos_api, token)
    try:
        cashier = office.create("operators", {"name": f"Caissière {tag}", "role": "cashier", "shop_id": shop})
    finally:
        office.close()
    return Place(company, shop, UUID(cashier["item"]["id"]), (url, user, password))


class SaleMaker:
    """A till's sales as it makes them offline: each basket priced against the catalogue of its pos-data, at the
    versions that pos-data gave, by pos-api's own pricing (`price_lines`, `basket_input`) and the contracts' basket
    math (`compute_basket`): the bench computes no amount itself.

    A sale is two second-hand items sold by weight at a free price, a product of the catalogue (in turn), and, every
    LAMP_EVERY-th number, one `lamp` (a stock-tracked product); paid by card one time in three, else in cash with a
    note that leaves change. The demo shop has no catalogue override: a line names its category and product only.
    """

    def __init__(self, data: PosData, cashier: UUID | None, lamp: UUID | None = None) -> None:
        self.data = data
        self.cashier = cashier
        self.catalogue = Catalogue.of(data.catalogue, data.territory)
        self.weighed = [c for c in data.catalogue.categories if c.sold_by_weight]
        self.products = [
            p
            for p in data.catalogue.products
            if p.kind is ProductKind.PRODUCT and p.weight_mode is WeightMode.NONE and not p.stock_tracked
        ]
        self.lamp = lamp
        if lamp is not None and lamp not in self.catalogue.products:
            raise RuntimeError(f"the till's catalogue has no product {lamp}")

    def sells_lamp(self, number: int) -> bool:
        return self.lamp is not None and number % LAMP_EVERY == 0

    def sale(self, number: int, session_id: UUID, finalized_at: datetime) -> OfflineSale:
        """Sale `number` of the session, as the till made it at `finalized_at` (its clock, with its offset)."""
        data, n = self.data, number
        lines = [
            BasketLine(
                line_id=new_id(), category_id=self.weighed[n % len(self.weighed)].id, price=350, weight_grams=1250
            ),
            BasketLine(
                line_id=new_id(), category_id=self.weighed[(n + 1) % len(self.weighed)].id, price=200, weight_grams=180
            ),
            BasketLine(line_id=new_id(), product_id=self.products[n % len(self.products)].id),
        ]
        if self.lamp is not None and self.sells_lamp(n):
            lines.append(BasketLine(line_id=new_id(), product_id=self.lamp))
        draft = BasketContent(lines=tuple(lines), operator_id=self.cashier)
        priced = price_lines(draft, self.catalogue)
        due = compute_basket(basket_input(draft, priced, data.territory, data.company)).total_incl_tax
        if n % 3 == 2:
            payment = PaymentIn(payment_id=new_id(), method=PaymentMethod.CARD, amount=due, reference=f"AUTH{n:06d}")
        else:
            cash = round_cash(due, data.territory.cash_rounding).rounded
            payment = PaymentIn(
                payment_id=new_id(), method=PaymentMethod.CASH, amount=cash, tendered=cash + 1000 - cash % 1000
            )
        content = draft.model_copy(update={"payments": (payment,)})
        computed = compute_basket(basket_input(content, priced, data.territory, data.company))
        if not computed.fully_paid:
            raise RuntimeError(f"sale {n}: {computed.remaining} left to pay")
        categories, products = self.catalogue.categories, self.catalogue.products
        return OfflineSale(
            ticket_id=new_id(),
            number=n,
            shop_id=data.shop.id,
            pos_id=data.pos.id,
            session_id=session_id,
            operator_id=self.cashier,
            finalized_at=finalized_at,
            timezone=data.territory.timezone,
            territory_version=data.territory.version,
            company_version=data.company.version,
            lines=tuple(
                OfflineLine(
                    line_id=line.line_id,
                    category_id=line.category_id,
                    category_version=categories[line.category_id].version,
                    product_id=line.product_id,
                    product_version=products[line.product_id].version if line.product_id is not None else None,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    weight_grams=line.weight_grams,
                )
                for line in priced
            ),
            payments=content.payments,
            total_excl_tax=computed.total_excl_tax,
            total_tax=computed.total_tax,
            total_incl_tax=computed.total_incl_tax,
            cash_rounding=computed.cash_rounding,
            change_given=computed.change,
        )


def batches(sales: Sequence[OfflineSale], size: int = BATCH) -> list[bytes]:
    """The body of each `POST /v1/sync/sales`, in order, as JSON bytes."""
    return [SalesBatch(sales=tuple(sales[i : i + size])).model_dump_json().encode() for i in range(0, len(sales), size)]


def cash_in_till(sales: Sequence[OfflineSale], opening: Sequence[CountIn]) -> int:
    """The cash the till holds at its close: its float, what the customers handed over, less the change."""
    handed = sum(p.tendered or p.amount for s in sales for p in s.payments if p.method is PaymentMethod.CASH)
    return sum(c.value * c.count for c in opening) + handed - sum(s.change_given for s in sales)


def counted(amount: int, values: Sequence[int]) -> list[CountIn]:
    """`amount` as notes and coins of the territory, largest first."""
    counts = []
    for value in sorted(values, reverse=True):
        if amount >= value:
            counts.append(CountIn(value=value, count=amount // value))
            amount %= value
    if amount:
        raise RuntimeError(f"{amount} left that no coin of the territory makes")
    return counts


@dataclass
class OfflineDay:
    """One till's day offline: its session's open and close, its sales, and the batches they go in (JSON bytes)."""

    till: DemoTill
    data: PosData
    session_id: UUID
    opened_at: datetime
    cashier: UUID
    opening: list[CountIn]
    sales: list[OfflineSale]
    batches: list[bytes]
    lamps: int
    """Lamps sold (one stock movement each)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Device-Serial": self.till.serial, "X-Device-Secret": self.till.secret}

    def open_body(self) -> bytes:
        operation = OpenOperationIn(
            op="open",
            session_id=self.session_id,
            operator_ids=[self.cashier],
            float_counts=self.opening,
            opened_at=self.opened_at,
            first_ticket_number=1,
        )
        return SessionSyncIn(operations=[operation]).model_dump_json().encode()

    def close_body(self) -> bytes:
        values = [d.value for d in self.data.territory.denominations]
        operation = CloseOperationIn(
            op="close",
            session_id=self.session_id,
            closed_by=self.cashier,
            last_ticket_number=len(self.sales),
            counts=counted(cash_in_till(self.sales, self.opening), values),
            float_kept=[],
            closed_at=self.opened_at + timedelta(hours=9),
        )
        return SessionSyncIn(operations=[operation]).model_dump_json().encode()


def offline_day(till: DemoTill, boot: dict[str, Any], cashier: UUID, lamp: UUID | None, count: int) -> OfflineDay:
    """The till's `count` sales of yesterday, 09:00 to the evening by its clock, in a session opened offline."""
    data = PosData.model_validate(boot)
    zone = ZoneInfo(data.territory.timezone)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    opened_at = datetime.combine(yesterday, clock_time(9, 0), tzinfo=zone)
    maker = SaleMaker(data, cashier, lamp)
    session_id = new_id()
    sales = [maker.sale(n, session_id, opened_at + n * SALE_EVERY) for n in range(1, count + 1)]
    opening = [CountIn(**c) for c in simulator.opening_float(boot)]
    lamps = sum(maker.sells_lamp(n) for n in range(1, count + 1))
    return OfflineDay(till, data, session_id, opened_at, cashier, opening, sales, batches(sales), lamps)


def tracked_lamp(pos_api: str, token: str, place: Place, units: int, tag: str) -> UUID:
    """A product with stock tracking, created through the back office in the new goods of the place's company, and
    `units` of it delivered to its shop."""
    with httpx.Client(base_url=pos_api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
        categories = admin.get("/v1/categories").raise_for_status().json()
        goods = next(c for c in categories if c["name"] == "Produits neufs" and c["company_id"] == place.company_id)
        created = admin.post(
            "/v1/products",
            json={
                "company_id": place.company_id,
                "category_id": goods["id"],
                "name": f"Lampe {tag}",
                "price": 450,
                "stock_tracked": True,
            },
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /v1/products: {created.status_code} {created.text[:300]}")
        lamp = UUID(created.json()["item"]["id"])
        body = {"id": str(uuid.uuid4()), "lines": [{"product_id": str(lamp), "quantity": units}]}
        delivered = admin.post(f"/v1/shops/{place.shop_id}/stock/deliveries", json=body)
        if delivered.status_code != 201:
            raise RuntimeError(f"delivery: {delivered.status_code} {delivered.text[:300]}")
    return lamp


async def boot_all(pos_api: str, tills: list[DemoTill]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=pos_api, timeout=30) as client:

        async def boot(till: DemoTill) -> dict[str, Any]:
            headers = {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}
            answer: dict[str, Any] = (await client.get("/v1/pos-data", headers=headers)).raise_for_status().json()
            return answer

        return list(await asyncio.gather(*(boot(t) for t in tills)))


async def sync_sessions(pos_api: str, days: list[OfflineDay], bodies: list[bytes]) -> list[dict[str, Any]]:
    """One `POST /v1/sync/sessions` per till, all at once; the result of each (one operation each)."""
    async with httpx.AsyncClient(base_url=pos_api, timeout=60) as client:

        async def one(day: OfflineDay, body: bytes) -> dict[str, Any]:
            headers = {**day.headers, "Content-Type": "application/json"}
            response = await client.post("/v1/sync/sessions", content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{day.till.serial}: sync of its session: {response.status_code} {response.text}")
            [result] = response.json()["results"]
            answer: dict[str, Any] = result
            return answer

        return list(await asyncio.gather(*(one(d, b) for d, b in zip(days, bodies, strict=True))))


@dataclass(frozen=True)
class Pass:
    """The 20 batches sent once, the ten tills at once: when it began (wall clock), how long until the last
    answer, and the outcome of every sale."""

    began: float
    seconds: float
    outcomes: Counter[str]
    refused: list[str]
    """Batches not answered 200, and the first sales answered `failed` or `conflict` (what went wrong)."""


async def send(pos_api: str, days: list[OfflineDay]) -> Pass:
    """Every till sends its batches in order, all tills at once; the answers are read once the last one is in."""
    clients = [
        httpx.AsyncClient(
            base_url=pos_api, headers={**d.headers, "Content-Type": "application/json"}, timeout=DOWNSTREAM_TIMEOUT_S
        )
        for d in days
    ]

    async def till(client: httpx.AsyncClient, day: OfflineDay) -> list[tuple[int, bytes]]:
        answers = []
        for body in day.batches:
            response = await client.post(SYNC_SALES_PATH, content=body)
            answers.append((response.status_code, response.content))
        return answers

    try:
        began, started = time.time(), time.perf_counter()
        answered = await asyncio.gather(*(till(c, d) for c, d in zip(clients, days, strict=True)))
        seconds = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    outcomes: Counter[str] = Counter()
    refused: list[str] = []
    for day, answers in zip(days, answered, strict=True):
        for status, content in answers:
            if status != 200:
                refused.append(f"{day.till.serial}: {status} {content[:300]!r}")
                continue
            for result in json.loads(content)["results"]:
                outcomes[result["outcome"]] += 1
                if result["outcome"] in ("failed", "conflict") and len(refused) < 3:
                    refused.append(f"{day.till.serial} #{result['number']}: {json.dumps(result['problem'])[:400]}")
    return Pass(began, seconds, outcomes, refused)


async def downstream_done(inst: Instance, days: list[OfflineDay], since: float) -> float:
    """Seconds from `since` (wall clock) until session-service had counted every ticket of these sessions and the
    bridge had booked every one of them: the later of its last `applied_at` and its last `pushed_at`."""
    sessions = await asyncpg.connect(postgres.dsn(inst, SESSION_DATABASE))
    bridge = await asyncpg.connect(postgres.dsn(inst, BRIDGE_DATABASE))
    session_ids = [d.session_id for d in days]
    pos_ids = [d.data.pos.id for d in days]
    expected = sum(len(d.sales) for d in days)
    try:
        deadline = time.monotonic() + DOWNSTREAM_TIMEOUT_S
        while True:
            counted_row = await sessions.fetchrow(
                "select count(*) as n, max(applied_at) as at from session_tickets where session_id = any($1::uuid[])",
                session_ids,
            )
            booked_row = await bridge.fetchrow(
                "select count(*) as n, max(pushed_at) as at from pushes"
                " where pos_id = any($1::uuid[]) and status = 'pushed'",
                pos_ids,
            )
            if counted_row["n"] >= expected and booked_row["n"] >= expected:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"after {DOWNSTREAM_TIMEOUT_S:.0f} s, session-service counted {counted_row['n']} and the bridge"
                    f" booked {booked_row['n']} of {expected} tickets"
                )
            await asyncio.sleep(0.2)
    finally:
        await sessions.close()
        await bridge.close()
    last: datetime = max(counted_row["at"], booked_row["at"])
    return last.timestamp() - since


async def end_offsets(bootstrap: str) -> dict[str, dict[int, int]]:
    """Where the tickets and stock topics end now: a run reads its events from there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {}
        for topic in (TICKETS, STOCK):
            partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
            ends = await consumer.end_offsets(partitions)
            found[topic.name] = {tp.partition: offset for tp, offset in ends.items()}
        return found
    finally:
        await consumer.stop()


async def records_since(bootstrap: str, topic: str, start: dict[int, int]) -> list[tuple[bytes | None, Any]]:
    """Every record of `topic` from `start` to its end, read on for LATE_S more: (key, decoded value)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in start]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp.partition])
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes | None, Any]] = []
        late: float | None = None
        while late is None or time.monotonic() < late:
            for records in (await consumer.getmany(timeout_ms=300, max_records=5000)).values():
                found.extend((r.key, json.loads(r.value or b"{}")) for r in records)
            if late is None and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                late = time.monotonic() + LATE_S
        return found
    finally:
        await consumer.stop()


@dataclass
class Duplicates:
    """What the stack holds for the run's sales, beyond what it should (all 0 when nothing was written twice)."""

    tickets: int = 0
    events: int = 0
    counted: int = 0
    sessions_off: int = 0
    """Sessions whose running total is not exactly their 1,000 tickets and the sum of their sales."""
    movements: int = 0
    stock_events: int = 0
    books: int = 0
    """FEC entries of the tickets, or tabs in Paheko."""
    notes: list[str] = field(default_factory=list)
    """What is missing, if anything (a shortfall is no duplicate, but it is no success either)."""


async def outbox_empty(inst: Instance, keys: list[str]) -> None:
    conn = await asyncpg.connect(postgres.dsn(inst, POS_API_DATABASE))
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval("select count(*) from outbox where key = any($1::text[]) and sent_at is null", keys):
            if time.monotonic() > deadline:
                raise RuntimeError("pos-api's outbox still holds events of the run's tills after 60 s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def duplicates(
    inst: Instance, days: list[OfflineDay], lamp: UUID, offsets: dict[str, dict[int, int]], place: Place
) -> Duplicates:
    """Count, everywhere, what the run's sales left, against what they should have left."""
    pos_ids = [d.data.pos.id for d in days]
    session_ids = [d.session_id for d in days]
    ticket_ids = [s.ticket_id for d in days for s in d.sales]
    expected, lamps = len(ticket_ids), sum(d.lamps for d in days)
    await outbox_empty(inst, [str(p) for p in pos_ids] + [str(days[0].data.shop.id)])
    found = Duplicates()

    def beyond(what: str, have: int, should: int) -> int:
        if have < should:
            found.notes.append(f"{what}: {have} of {should}")
        return max(0, have - should)

    pos_db = await asyncpg.connect(postgres.dsn(inst, POS_API_DATABASE))
    try:
        tickets = await pos_db.fetchval("select count(*) from tickets where pos_id = any($1::uuid[])", pos_ids)
        movements = await pos_db.fetchval(
            "select count(*) from stock_movements where product_id = $1 and reason = 'sale'", lamp
        )
    finally:
        await pos_db.close()
    found.tickets = beyond("tickets in pos-api", tickets, expected)
    found.movements = beyond("stock movements of the lamp", movements, lamps)

    keys = {str(p).encode() for p in pos_ids}
    events = await records_since(inst.kafka_bootstrap, TICKETS.name, offsets[TICKETS.name])
    ours = [v for k, v in events if k in keys and v.get("type") == "ticket.finalized"]
    found.events = beyond("ticket.finalized on Kafka", len(ours), expected)
    if len({v["data"]["ticket_id"] for v in ours}) != len(ours):
        found.notes.append(f"{len(ours)} ticket.finalized for {len({v['data']['ticket_id'] for v in ours})} tickets")
    moved = await records_since(inst.kafka_bootstrap, STOCK.name, offsets[STOCK.name])
    lamp_sales = [
        v for _, v in moved if v.get("data", {}).get("product_id") == str(lamp) and v["data"].get("reason") == "sale"
    ]
    found.stock_events = beyond("stock.moved of the lamp's sales on Kafka", len(lamp_sales), lamps)

    sessions_db = await asyncpg.connect(postgres.dsn(inst, SESSION_DATABASE))
    try:
        counted_n = await sessions_db.fetchval(
            "select count(*) from session_tickets where session_id = any($1::uuid[])", session_ids
        )
        totals = {
            r["session_id"]: (r["ticket_count"], r["total_incl_tax"])
            for r in await sessions_db.fetch(
                "select session_id, ticket_count, total_incl_tax from session_totals where session_id = any($1::uuid[])",
                session_ids,
            )
        }
    finally:
        await sessions_db.close()
    found.counted = beyond("tickets counted by session-service", counted_n, expected)
    for day in days:
        should = (len(day.sales), sum(s.total_incl_tax for s in day.sales))
        if totals.get(day.session_id) != should:
            found.sessions_off += 1
            found.notes.append(f"session of {day.till.serial}: {totals.get(day.session_id)}, should be {should}")

    if place.paheko is None:
        bridge_db = await asyncpg.connect(postgres.dsn(inst, BRIDGE_DATABASE))
        try:
            fec = await bridge_db.fetchval(
                "select count(*) from fec_entries where source_id = any($1::uuid[])", ticket_ids
            )
        finally:
            await bridge_db.close()
        found.books = beyond("FEC entries of the tickets", fec, expected)
    else:
        tabs = await paheko_tabs(place.paheko, session_ids)
        for day in days:
            found.books += beyond(f"tabs in Paheko of {day.till.serial}", tabs[day.session_id], len(day.sales))
    return found


async def paheko_tabs(settings: tuple[str, str, str], session_ids: list[UUID]) -> dict[UUID, int]:
    """How many tabs Paheko holds in each of these sessions, read as the bridge's reconciliation reads them (its
    `ledger`: the plugin's session, then one SQL query)."""
    url, user, password = settings
    async with PahekoPluginClient(url, user, SecretStr(password), timeout_s=60) as plugin:
        reader = PahekoSqlReader(url, user, SecretStr(password), transport=None)
        target = PluginTarget(plugin, reader, breakers(), circuit="bench")
        example = load_example(SessionClosedV1).data
        try:
            return {s: (await target.ledger(example.model_copy(update={"session_id": s}))).tickets for s in session_ids}
        finally:
            await reader.aclose()


@dataclass
class Round:
    """One run: 10 tills' offline day synced, followed downstream, closed, replayed twice, and what was counted."""

    place: Place
    answered_s: float
    done_s: float
    first: Pass
    replays: list[Pass]
    shares: CpuShares
    replay_shares: CpuShares
    closed: int
    found: Duplicates
    sender_s: float
    """CPU of the bench's own process (sending, then polling the databases) from time zero to all downstream."""

    @property
    def rate(self) -> float:
        return SALES / self.done_s


def prepare(inst: Instance, pos_api: str, place: Place) -> tuple[list[OfflineDay], UUID]:
    """Ten new tills of the place's shop with their day offline made, a new stock-tracked lamp, and each till's
    session opened offline."""
    tag = uuid.uuid4().hex[:6]
    token = admin_token(inst)
    lamps = TILLS * (SALES_PER_TILL // LAMP_EVERY)
    lamp = tracked_lamp(pos_api, token, place, lamps + 100, tag)
    tills = add_tills(pos_api, token, place.shop_id, "EUR", TILLS, f"SYNC-{tag}")
    boots = asyncio.run(boot_all(pos_api, tills))
    days = [offline_day(t, b, place.cashier, lamp, SALES_PER_TILL) for t, b in zip(tills, boots, strict=True)]
    opened = asyncio.run(sync_sessions(pos_api, days, [d.open_body() for d in days]))
    if [r["outcome"] for r in opened] != ["created"] * len(days):
        raise RuntimeError(f"sessions not opened: {[r.get('problem') for r in opened]}")
    return days, lamp


def one_round(inst: Instance, pos_api: str, place: Place) -> Round:
    days, lamp = prepare(inst, pos_api, place)
    offsets = asyncio.run(end_offsets(inst.kafka_bootstrap))
    shares = CpuShares(inst)
    shares.start()
    sender = time.process_time()
    first = asyncio.run(send(pos_api, days))
    done_s = asyncio.run(downstream_done(inst, days, first.began))
    sender_s = time.process_time() - sender
    shares.stop()
    closes = asyncio.run(sync_sessions(pos_api, days, [d.close_body() for d in days]))
    closed = sum(r["outcome"] == "created" and r["session"]["status"] == "closed" for r in closes)
    replay_shares = CpuShares(inst)
    replay_shares.start()
    replays = [asyncio.run(send(pos_api, days)) for _ in range(REPLAYS)]
    replay_shares.stop()
    found = asyncio.run(duplicates(inst, days, lamp, offsets, place))
    return Round(place, first.seconds, done_s, first, replays, shares, replay_shares, closed, found, sender_s)


@dataclass(frozen=True)
class Online:
    """The online finalize of the same run: tickets/s at full load and the CPU per ticket until booked."""

    rate: float
    sold: int
    shares: CpuShares


def online_reference(inst: Instance, pos_api: str, demo: Demo) -> Online:
    binary = loadgen(inst)
    runs = asyncio.run(simulator.prepare(pos_api, inst.kafka_bootstrap, bench_tills(inst, pos_api), demo.cashiers))
    tills = tills_config(runs)
    drive(binary, pos_api, tills, mode="sustain", duration_s=3.0)  # warm-up
    settle(inst)
    shares = CpuShares(inst)
    shares.start()
    result = drive(binary, pos_api, tills, mode="sustain", duration_s=ONLINE_S)
    settle(inst)  # until the bridge booked it all, as the sync's CPU runs until it did
    shares.stop()
    return Online(result["sold"] / result["elapsed_s"], int(result["sold"]), shares)


def stack_ms(shares: CpuShares, items: int) -> dict[str, float]:
    """CPU ms per item of each process of the stack (the load generator left out)."""
    return {name: ms for name, ms in shares.per_item(items).items() if name != "load generator"}


def split(per_process: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.2f}" for name, ms in per_process.items() if ms >= 0.005)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def paheko_configured() -> tuple[str, str, str] | None:
    """CAISSE_PAHEKO_URL, _API_USER and _API_PASSWORD when all three are set."""
    url, user, password = (os.environ.get(name, "") for name in PAHEKO_VARIABLES)
    return (url, user, password) if url and user and password else None


def describe(what: str, r: Round) -> str:
    replays = ", ".join(f"{p.seconds:.1f} s {dict(p.outcomes)}" for p in r.replays)
    refused = r.first.refused + [x for p in r.replays for x in p.refused]
    return (
        f"offline sync, {what} ({r.place.books}): {SALES:,} sales answered in {r.answered_s:.1f} s, all counted and"
        f" booked in {r.done_s:.1f} s ({r.rate:.0f} sales/s); outcomes {dict(r.first.outcomes)}; replays {replays};"
        f" {r.closed} of {TILLS} sessions closed; CPU ms per sale: {split(stack_ms(r.shares, SALES))}, bench"
        f" process {r.sender_s * 1000 / SALES:.2f}; replayed, per sale: {split(stack_ms(r.replay_shares, SALES * REPLAYS))}"
        + (f"; refused: {refused[:3]}" if refused else "")
        + (f"; short: {r.found.notes}" if r.found.notes else "")
    )


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    loadgen(inst)  # built before anything is measured
    stop_all(inst)
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    paheko = paheko_configured()
    rounds: list[Round] = []
    in_paheko: Round | None = None
    try:  # a service that does not start stops the others with it
        start_all(inst, {**fresh_consumers(inst), "pos-api": {"workers": str(POS_API_PROCESSES)}})
        demo = ensure_demo_data(inst)
        place = demo_place(demo)
        for n in range(1, RUNS + 1):
            rounds.append(one_round(inst, pos_api, place))
            say(describe(f"run {n}", rounds[-1]))
        online = online_reference(inst, pos_api, demo)
        say(
            f"online finalize, same run ({ONLINE_S:.0f} s at full load, finalize's {len(bench_tills(inst, pos_api))}"
            f" tills, pos-api × {POS_API_PROCESSES}): {online.rate:.0f} tickets/s; CPU ms per ticket until booked:"
            f" {split(stack_ms(online.shares, online.sold))}"
        )
        if paheko is not None:
            in_paheko = one_round(inst, pos_api, paheko_place(inst, pos_api, paheko))
            say(describe("into Paheko", in_paheko))
        else:
            say(f"offline sync into Paheko: not run (no real Paheko: set {', '.join(PAHEKO_VARIABLES)})")
    finally:
        stop_all(inst)
    return figures(rounds, online, yardstick, in_paheko)


def figures(
    rounds: list[Round], online: Online, yardstick: calibration.Yardstick, in_paheko: Round | None
) -> list[Figure]:
    done = [r.done_s for r in rounds]
    answered = [r.answered_s for r in rounds]
    rates = [r.rate for r in rounds]
    ratios = [rate / yardstick.tps for rate in rates]
    cpu = [sum(stack_ms(r.shares, SALES).values()) for r in rounds]
    online_ms = stack_ms(online.shares, online.sold)
    replay_s = [p.seconds for r in rounds for p in r.replays]
    every = rounds + ([in_paheko] if in_paheko is not None else [])
    not_created = sum(SALES - r.first.outcomes["created"] for r in rounds)
    label = f"{SALES:,} offline sales, {TILLS} tills, batches of {BATCH}"
    notes = [note for r in rounds for note in r.found.notes]
    middle = median_round(rounds)

    def zero(what: str, counts: list[int], unit: str, spread: str) -> Figure:
        return Figure(
            what=what,
            measured=sum(counts),
            unit=unit,
            target=1,
            runs=len(counts),
            spread=f"per run {', '.join(str(c) for c in counts)}; {spread}",
        )

    runs = f"{len(rounds)} runs into the FEC" + (" and 1 into Paheko" if in_paheko is not None else "")
    found = [
        Figure(
            what=f"{label}: first batch → all counted and booked (end to end)",
            measured=statistics.median(done),
            unit="s",
            target=TARGET_S,
            runs=len(done),
            spread=f"{min(done):.1f}–{max(done):.1f} s (aim < 10 s), books in the FEC journal; all answered in"
            f" {statistics.median(answered):.1f} s ({min(answered):.1f}–{max(answered):.1f}); {not_created} sales not"
            " created" + (f"; SHORT: {'; '.join(notes[:4])}" if notes else ""),
        ),
        Figure(
            what=f"{label}: sales/s end to end, pos-api × {POS_API_PROCESSES}",
            measured=statistics.median(rates),
            unit="sales/s",
            target=None,
            runs=len(rates),
            spread=f"{min(rates):.0f}–{max(rates):.0f}; online finalize, same run: {online.rate:.0f} tickets/s"
            f" ({ONLINE_S:.0f} s at full load; its own figure: `finalize throughput`)",
        ),
        Figure(
            what="offline sales/s end to end ÷ pgbench TPC-B (its defaults), same run",
            measured=statistics.median(ratios),
            unit="×",
            target=None,
            runs=len(ratios),
            spread=f"{min(ratios):.2f}–{max(ratios):.2f}; online finalize {online.rate / yardstick.tps:.2f}×;"
            f" pgbench {yardstick.tps:.0f} tps ({', '.join(f'{r:.0f}' for r in yardstick.runs)})",
        ),
        Figure(
            what=f"{label}: CPU per sale, whole stack, until counted and booked",
            measured=statistics.median(cpu),
            unit="ms",
            target=None,
            runs=len(cpu),
            spread=f"{min(cpu):.2f}–{max(cpu):.2f} ms; median run {split(stack_ms(middle.shares, SALES))}; online"
            f" finalize, same run, until booked: {sum(online_ms.values()):.2f} ms ({split(online_ms)})",
        ),
        Figure(
            what=f"{label}: replayed, all answered already_exists",
            measured=statistics.median(replay_s),
            unit="s",
            target=None,
            runs=len(replay_s),
            spread=f"{min(replay_s):.1f}–{max(replay_s):.1f} s ({len(rounds)} runs × {REPLAYS}); CPU ms per replayed"
            f" sale {split(stack_ms(middle.replay_shares, SALES * REPLAYS))}",
        ),
        zero(
            "replayed offline sales not answered already_exists",
            [sum(SALES - p.outcomes["already_exists"] for p in r.replays) for r in every],
            "sales",
            f"{SALES * REPLAYS:,} replayed a run; {runs}",
        ),
        zero("duplicate tickets in pos-api", [r.found.tickets for r in every], "tickets", f"{SALES:,} expected a run"),
        zero(
            "duplicate ticket.finalized on Kafka",
            [r.found.events for r in every],
            "events",
            f"{SALES:,} expected a run, read to the end + {LATE_S:.0f} s",
        ),
        zero(
            "duplicate tickets counted by session-service (and sessions whose totals are off)",
            [r.found.counted + r.found.sessions_off for r in every],
            "tickets",
            f"{SALES:,} expected a run, each session {SALES_PER_TILL:,} tickets and its sales' sum;"
            f" {sum(r.closed for r in every)} of {TILLS * len(every)} sessions closed offline",
        ),
        zero(
            "duplicate stock movements (rows and stock.moved)",
            [r.found.movements + r.found.stock_events for r in every],
            "movements",
            f"{TILLS * (SALES_PER_TILL // LAMP_EVERY):,} expected a run, of a stock-tracked product",
        ),
        zero("duplicate FEC entries", [r.found.books for r in rounds], "entries", f"{SALES:,} expected a run"),
    ]
    if in_paheko is not None:
        found += [
            Figure(
                what=f"{label}: first batch → all in Paheko (end to end)",
                measured=in_paheko.done_s,
                unit="s",
                target=None,
                spread=f"{in_paheko.rate:.0f} sales/s; all answered in {in_paheko.answered_s:.1f} s; Paheko's own rate:"
                " `Paheko push` (PRODUCT: 200 tickets/s, 50 s for 10,000)"
                + (f"; SHORT: {'; '.join(in_paheko.found.notes[:4])}" if in_paheko.found.notes else ""),
            ),
            zero(
                "duplicate tabs in Paheko",
                [in_paheko.found.books],
                "tabs",
                f"{SALES:,} expected, {SALES_PER_TILL:,} in each session, read as the bridge reconciles",
            ),
        ]
    return found


def median_round(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda r: r.done_s)[len(rounds) // 2]
