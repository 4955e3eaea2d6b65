"""The spine on the real broker and database: pos-api's outbox → Kafka → session-service's inbox, once.

Each test starts the real services as processes (`pos-api`, `session-service`) on fresh databases of the
launcher's test instance, and drives them over HTTP like a till would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import TICKETS
from caisse_runtime.outbox import NOTIFY_CHANNEL, OutboxRelay, SqlOutboxStore
from harness import ServiceProcess, Stack, Till


def new_ticket(session_id: uuid.UUID, till: Till) -> dict[str, Any]:
    """The committed example ticket (10.00 €, two lines, cash) on a demo till, in a session of the test's own."""
    ticket = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "session_id": session_id,
            "pos_id": uuid.UUID(till.till.pos_id),
            "shop_id": uuid.UUID(till.till.shop_id),
            "company_id": uuid.UUID(till.company_id),
            "territory_id": uuid.UUID(till.territory_id),
            "number": till.number(),
            "operator_id": None,  # the example's operator is no operator of the demo
        }
    )
    return ticket.model_dump(mode="json")


def wait_until(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def counted(session_service: ServiceProcess, ticket_id: str) -> bool:
    answer = httpx.get(f"{session_service.url}/v1/tickets/{ticket_id}", headers=session_service.as_pos_api, timeout=5)
    return answer.status_code == 200


def totals(session_service: ServiceProcess, session_id: uuid.UUID) -> dict[str, Any]:
    response = httpx.get(
        f"{session_service.url}/v1/sessions/{session_id}/totals", headers=session_service.as_pos_api, timeout=5
    )
    body: dict[str, Any] = response.json()
    return body


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def services(stack: Stack) -> tuple[ServiceProcess, ServiceProcess]:
    pos_api = stack.service("pos-api")
    session_service = stack.service("session-service")
    pos_api.start()
    session_service.start()
    return pos_api, session_service


def test_a_ticket_posted_to_pos_api_is_counted_once_by_session_service(
    services: tuple[ServiceProcess, ServiceProcess], stack: Stack
) -> None:
    pos_api, session_service = services
    till = Till.of(stack.demo(pos_api), 0)
    session_id = uuid.uuid4()
    body = new_ticket(session_id, till)

    created = httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers, timeout=10)
    assert created.status_code == 201, created.text
    replay = httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers, timeout=10)
    assert replay.status_code == 200
    assert replay.headers["X-Ticket-Outcome"] == "already_exists"

    wait_until(lambda: counted(session_service, body["ticket_id"]), what="the ticket to be counted")
    time.sleep(1.0)  # time for any duplicate to arrive, and be refused
    assert totals(session_service, session_id)["ticket_count"] == 1
    assert totals(session_service, session_id)["total_incl_tax"] == 1000
    dsn = stack.infra.dsn(stack.database("session-service"))
    rows = asyncio.run(fetch(dsn, "select count(*) from session_tickets where session_id = $1", session_id))
    assert rows[0][0] == 1


def test_an_event_published_twice_by_a_relay_killed_before_marking_it_sent_is_applied_once(
    stack: Stack, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    _, session_service = services
    relay_less = stack.service("pos-api", tag="_norelay", run_relay="false")
    relay_less.start()
    try:
        till = Till.of(stack.demo(relay_less), 0)
        session_id = uuid.uuid4()
        body = new_ticket(session_id, till)
        posted = httpx.post(f"{relay_less.url}/v1/tickets", json=body, headers=till.headers, timeout=10)
        assert posted.status_code == 201, posted.text
        published = asyncio.run(_publish_and_crash_then_publish_again(stack, body["ticket_id"]))
    finally:
        relay_less.stop()

    assert published["copies_on_kafka"] == 2, "the crashed relay's publish and the retry both reached Kafka"
    wait_until(lambda: counted(session_service, body["ticket_id"]), what="the ticket to be counted")
    time.sleep(1.0)
    assert totals(session_service, session_id)["ticket_count"] == 1
    dsn = stack.infra.dsn(stack.database("session-service"))
    inbox = asyncio.run(fetch(dsn, "select count(*) from inbox where event_id = $1", published["event_id"]))
    assert inbox[0][0] == 1


class RelayCrashedError(Exception):
    """Stands for the relay process dying after Kafka acknowledged, before the outbox row was marked."""


class CrashBeforeMarking(SqlOutboxStore):
    async def mark_sent(self, conn: asyncpg.Connection, seqs: Any) -> None:
        raise RelayCrashedError


class NoProducer:
    """Pruning publishes nothing."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        raise AssertionError("a prune must not publish")


def test_the_relay_prunes_rows_sent_longer_ago_than_the_retention_and_keeps_the_rest(stack: Stack) -> None:
    relay_less = stack.service("pos-api", tag="_prune", run_relay="false")
    relay_less.start()  # its migrations make the outbox
    relay_less.stop()
    now = datetime.now(UTC)
    rows = {"old-sent": now - timedelta(days=8), "recent-sent": now - timedelta(days=6), "old-unsent": None}
    dsn = stack.infra.dsn(stack.database("pos-api", "_prune"))
    pruned, kept = asyncio.run(_prune(stack, dsn, rows, now))
    assert pruned == 1
    assert sorted(kept) == ["old-unsent", "recent-sent"]


async def _prune(stack: Stack, dsn: str, rows: dict[str, datetime | None], now: datetime) -> tuple[int, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        for name, sent_at in rows.items():
            await conn.execute(
                "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, created_at,"
                " sent_at) values ($1, 'test', $2, 'test.event', 'test', 'k', '{}', '{}', $3, $4)",
                uuid.uuid4(),
                name,
                now - timedelta(days=9),
                sent_at,
            )
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            relay = OutboxRelay(pool, NoProducer(), service="pos-api", retention=timedelta(days=7))
            pruned = await relay.prune_sent()
        finally:
            await pool.close()
        kept = [
            r["aggregate_id"] for r in await conn.fetch("select aggregate_id from outbox where type = 'test.event'")
        ]
    finally:
        await conn.close()
    return pruned, kept


class NotingCommitWait(SqlOutboxStore):
    """Notes, inside the relay's transaction, whether its commit will wait for the WAL flush."""

    def __init__(self) -> None:
        self.synchronous_commit: list[str] = []

    async def mark_sent(self, conn: asyncpg.Connection, seqs: Any) -> None:
        self.synchronous_commit.append(await conn.fetchval("show synchronous_commit"))
        await super().mark_sent(conn, seqs)


def test_the_relay_marks_rows_sent_without_waiting_for_the_flush_and_other_transactions_still_wait(
    stack: Stack,
) -> None:
    relay_less = stack.service("pos-api", tag="_flush", run_relay="false")
    relay_less.start()  # its migrations make the outbox
    relay_less.stop()
    store = NotingCommitWait()
    after = asyncio.run(_publish_one_noting(stack, store))
    assert store.synchronous_commit == ["off"], "the relay's mark waits for no flush"
    assert after == {"sent": True, "synchronous_commit": "on"}, "the setting ends with the relay's transaction"


async def _publish_one_noting(stack: Stack, store: NotingCommitWait) -> dict[str, Any]:
    dsn = stack.infra.dsn(stack.database("pos-api", "_flush"))
    key = f"flush-{uuid.uuid4().hex[:8]}"
    await fetch(
        dsn,
        "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
        " values ($1, 'test', $2, 'test.event', 'test', $2, '{}', '{}')",
        uuid.uuid4(),
        key,
    )
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        producer = RecordingProducer()
        assert await OutboxRelay(pool, producer, service="pos-api", store=store).publish_pending() >= 1
        assert key in producer.sent
        async with pool.acquire() as conn:  # the pool's one connection, the relay's own
            setting = await conn.fetchval("show synchronous_commit")
            sent = await conn.fetchval("select sent_at is not null from outbox where key = $1", key)
    finally:
        await pool.close()
    return {"sent": sent, "synchronous_commit": setting}


def test_only_an_event_that_finds_none_waiting_wakes_the_relay(stack: Stack) -> None:
    """NOTIFY holds a database-wide lock through the commit of the transaction that sends it: an event that
    arrives while others wait must not send one (the relay, at work, polls again by itself)."""
    relay_less = stack.service("pos-api", tag="_notify", run_relay="false")
    relay_less.start()  # its migrations make the outbox
    relay_less.stop()
    heard = asyncio.run(_notifications(stack.infra.dsn(stack.database("pos-api", "_notify"))))
    assert heard == {"first, none waiting": 1, "second, the first waiting": 0, "third, after both were sent": 1}


async def _notifications(dsn: str) -> dict[str, int]:
    listener, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    heard: list[str] = []
    await listener.add_listener(NOTIFY_CHANNEL, lambda *_: heard.append("notified"))
    await writer.execute("update outbox set sent_at = now() where sent_at is null")
    counts: dict[str, int] = {}
    try:
        for step in ("first, none waiting", "second, the first waiting", "third, after both were sent"):
            if step.startswith("third"):
                await writer.execute("update outbox set sent_at = now() where sent_at is null")
            before = len(heard)
            await writer.execute(
                "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
                " values ($1, 'test', 'a', 'test.event', 'test', 'k', '{}', '{}')",
                uuid.uuid4(),
            )
            await asyncio.sleep(0.5)
            counts[step] = len(heard) - before
    finally:
        await listener.close()
        await writer.close()
    return counts


def test_a_new_event_finds_the_one_waiting_without_stepping_over_those_published_since_the_last_vacuum(
    stack: Stack,
) -> None:
    """Published rows leave their entries in the index of waiting rows until a vacuum: every sale's insert
    looks for an event waiting before it, and must find it at the newest end, whatever lies below."""
    relay_less = stack.service("pos-api", tag="_probe", run_relay="false")
    relay_less.start()
    relay_less.stop()
    pages = asyncio.run(_index_pages_of_one_insert(stack.infra.dsn(stack.database("pos-api", "_probe"))))
    assert pages["published below, none waiting"] > 40, pages  # the one look that must step over them all
    assert pages["published below, one waiting"] <= 8, pages


async def _index_pages_of_one_insert(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)

    async def pages_read() -> int:
        await conn.execute("select pg_stat_force_next_flush()")
        await conn.execute("select 1")  # the flush happens as this session goes idle
        found: int = await conn.fetchval(
            "select coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0) from pg_statio_user_indexes"
            " where indexrelname = 'outbox_unsent'"
        )
        return found

    async def insert_one() -> int:
        before = await pages_read()
        await conn.execute(
            "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
            " values ($1, 'test', 'probe', 'test.event', 'test', 'k', '{}', '{}')",
            uuid.uuid4(),
        )
        return await pages_read() - before

    try:
        await conn.execute("alter table outbox set (autovacuum_enabled = false)")  # keeps the published entries
        await conn.execute(
            "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
            " select gen_random_uuid(), 'test', 'published', 'test.event', 'test', 'k', '{}', '{}'"
            " from generate_series(1, 20000)"
        )
        await conn.execute("update outbox set sent_at = now() where sent_at is null")
        return {
            "published below, none waiting": await insert_one(),
            "published below, one waiting": await insert_one(),
        }
    finally:
        await conn.close()


def test_a_busy_relay_publishes_events_that_sent_no_notify_without_waiting_for_its_idle_poll(stack: Stack) -> None:
    relay_less = stack.service("pos-api", tag="_busy", run_relay="false")
    relay_less.start()
    relay_less.stop()
    waits = asyncio.run(_publish_while_busy(stack))
    assert max(waits) < 1.0, waits  # the idle poll is 30 s here: only the busy poll can have found them


@contextlib.asynccontextmanager
async def relay_running(
    stack: Stack, tag: str, relay_type: type[OutboxRelay] = OutboxRelay, **options: Any
) -> AsyncIterator[tuple[Any, RecordingProducer, asyncpg.Connection]]:
    """A listening relay at work on the outbox of pos-api's database `tag`, publishing to a recording producer,
    and a connection to write rows with; both stopped and closed on leaving."""
    database = stack.database("pos-api", tag)
    dsn = stack.infra.dsn(database)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    producer = options.pop("producer", None) or RecordingProducer()
    relay = relay_type(pool, producer, service="pos-api", listen_dsn=dsn, **options)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    conn = await asyncpg.connect(dsn)
    try:
        yield relay, producer, conn
    finally:
        stop.set()
        await running
        await conn.close()
        await pool.close()


async def _publish_while_busy(stack: Stack) -> list[float]:
    written: dict[str, float] = {}
    async with relay_running(stack, "_busy", idle_wait_s=30.0, busy_wait_s=0.01) as (_, producer, conn):
        await asyncio.sleep(0.5)  # listening
        for n in range(20):  # one every 5 ms: most arrive while another waits, and send no NOTIFY
            key = f"busy-{n}"
            await conn.execute(
                "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
                " values ($1, 'test', $2, 'test.event', 'test', $2, '{}', '{}')",
                uuid.uuid4(),
                key,
            )
            written[key] = time.monotonic()
            await asyncio.sleep(0.005)
        producer.expect(set(written))
        await asyncio.wait_for(producer.all_sent.wait(), timeout=10)
    assert set(written) <= set(producer.sent), sorted(set(written) - set(producer.sent))
    return [producer.sent[key] - written[key] for key in written]


def test_an_event_committed_after_the_relay_published_the_one_it_found_waiting_goes_out_without_waiting_for_a_poll(
    stack: Stack,
) -> None:
    """The event finds the older one unsent and sends no NOTIFY; the relay publishes the older one, looks again
    before the event's transaction commits and finds nothing: the event must still leave at once, not at the
    relay's next poll."""
    relay_less = stack.service("pos-api", tag="_lostwake", run_relay="false")
    relay_less.start()
    relay_less.stop()
    seen = asyncio.run(_commit_while_the_relay_publishes(stack))
    assert seen["empty_looks_before_commit"] >= 1, seen  # the relay had looked after its publish, and found nothing
    assert seen["notified"] == 1, seen  # only the first event woke the relay
    assert seen["sent_after_s"] < 1.0, seen  # the relay's polls are 30 s apart here


async def _commit_while_the_relay_publishes(stack: Stack) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    options = {"idle_wait_s": 30.0, "listening_wait_s": 30.0, "busy_wait_s": 0.01}
    producer = GatedProducer()
    async with relay_running(stack, "_lostwake", CountingRelay, producer=producer, **options) as (relay, _, conn):
        dsn = stack.infra.dsn(stack.database("pos-api", "_lostwake"))
        late, listening = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        notified: list[str] = []
        await listening.add_listener(NOTIFY_CHANNEL, lambda *_: notified.append("notify"))
        await asyncio.sleep(0.3)  # listening, first look done
        await conn.execute(INSERT_EVENT, uuid.uuid4(), "first")
        await asyncio.wait_for(producer.holding.wait(), timeout=10)  # the relay is publishing "first"
        try:
            writing = late.transaction()
            await writing.start()
            await late.execute(INSERT_EVENT, uuid.uuid4(), "second")  # finds "first" unsent: no NOTIFY
            producer.release.set()
            published = relay.finished_looks
            await _until(lambda: relay.finished_looks >= published + 2)  # the publish, then a look finding nothing
            seen["empty_looks_before_commit"] = relay.finished_looks - published - 1
            await writing.commit()
            committed = time.monotonic()
            producer.expect({"first", "second"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(producer.all_sent.wait(), timeout=5)
            seen["sent_after_s"] = producer.sent.get("second", float("inf")) - committed
            seen["notified"] = len(notified)
        finally:
            await late.close()
            await listening.close()
    return seen


async def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


INSERT_EVENT = (
    "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
    " values ($1, 'test', $2, 'test.event', 'test', $2, '{}', '{}')"
)


class CountingRelay(OutboxRelay):
    """Counts the relay's looks at the outbox."""

    looks = 0
    finished_looks = 0

    async def publish_pending(self) -> int:
        self.looks += 1
        try:
            return await super().publish_pending()
        finally:
            self.finished_looks += 1


def test_a_listening_relay_looks_when_woken_and_polls_again_once_its_listen_connection_is_lost(
    stack: Stack,
) -> None:
    relay_less = stack.service("pos-api", tag="_listen", run_relay="false")
    relay_less.start()
    relay_less.stop()
    seen = asyncio.run(_looks_while_listening_then_not(stack))
    assert seen["looks_listening_idle"] <= 2, seen  # the idle poll would have looked ~20 times
    assert seen["sent_after_s"] < 2.0, seen  # woken by the NOTIFY, not by its 30 s wait
    assert seen["listening_after_loss"] is False
    assert seen["looks_after_loss"] >= 5, seen  # back to its idle poll, every 50 ms


async def _looks_while_listening_then_not(stack: Stack) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    options = {"idle_wait_s": 0.05, "listening_wait_s": 30.0}
    async with relay_running(stack, "_listen", CountingRelay, **options) as (relay, producer, conn):
        await asyncio.sleep(0.3)  # listening, first look done
        before = relay.looks
        await asyncio.sleep(1.0)
        seen["looks_listening_idle"] = relay.looks - before
        await conn.execute(
            "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers)"
            " values ($1, 'test', 'woken', 'test.event', 'test', 'woken', '{}', '{}')",
            uuid.uuid4(),
        )
        written = time.monotonic()
        producer.expect({"woken"})
        await asyncio.wait_for(producer.all_sent.wait(), timeout=10)
        seen["sent_after_s"] = producer.sent["woken"] - written
        await conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = $1 and query ilike 'listen%' and pid <> pg_backend_pid()",
            stack.database("pos-api", "_listen"),
        )
        await asyncio.sleep(0.3)
        seen["listening_after_loss"] = relay.listening
        before = relay.looks
        await asyncio.sleep(1.0)
        seen["looks_after_loss"] = relay.looks - before
    return seen


class RecordingProducer:
    """Kafka's producer as the relay sees it, noting when each key was sent."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.expected: set[str] = set()
        self.all_sent = asyncio.Event()

    def expect(self, keys: set[str]) -> None:
        self.expected = keys
        if keys <= set(self.sent):
            self.all_sent.set()

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        self.sent[(key or b"").decode()] = time.monotonic()
        if self.expected and self.expected <= set(self.sent):
            self.all_sent.set()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def _publish_and_crash_then_publish_again(stack: Stack, ticket_id: str) -> dict[str, Any]:
    dsn = stack.infra.dsn(stack.database("pos-api", "_norelay"))
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        crashing = OutboxRelay(pool, producer, service="pos-api", store=CrashBeforeMarking())
        with pytest.raises(RelayCrashedError):
            await crashing.publish_pending()
        [row] = await fetch(dsn, "select id, sent_at from outbox where aggregate_id = $1", ticket_id)
        assert row["sent_at"] is None, "the crash left the row unsent"
        assert await OutboxRelay(pool, producer, service="pos-api").publish_pending() >= 1
        [row] = await fetch(dsn, "select id, sent_at from outbox where aggregate_id = $1", ticket_id)
        assert row["sent_at"] is not None
        event_id: uuid.UUID = row["id"]
    finally:
        await producer.stop()
        await pool.close()
    return {"event_id": event_id, "copies_on_kafka": await _copies_on_kafka(stack, event_id)}


async def _copies_on_kafka(stack: Stack, event_id: uuid.UUID) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.infra.kafka_bootstrap, group_id=f"e2e-count-{uuid.uuid4()}", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(TICKETS.name, p) for p in range(TICKETS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        copies = 0
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers or ())
                    if headers.get("ce_id", b"").decode() == str(event_id):
                        copies += 1
        return copies
    finally:
        await consumer.stop()


def test_session_service_killed_during_a_burst_catches_up_and_loses_nothing(
    services: tuple[ServiceProcess, ServiceProcess], stack: Stack
) -> None:
    pos_api, session_service = services
    till = Till.of(stack.demo(pos_api), 1)
    session_id = uuid.uuid4()
    burst = 200
    tickets = [new_ticket(session_id, till) for _ in range(burst)]
    with httpx.Client(timeout=10, headers=till.headers) as client:
        for i, body in enumerate(tickets):
            if i == burst // 4:
                session_service.stop(signal.SIGKILL)
            assert client.post(f"{pos_api.url}/v1/tickets", json=body).status_code == 201
    session_service.start()

    wait_until(
        lambda: (
            httpx.get(
                f"{session_service.url}/v1/sessions/{session_id}/totals", headers=session_service.as_pos_api, timeout=5
            ).status_code
            == 200
            and totals(session_service, session_id)["ticket_count"] == burst
        ),
        timeout_s=90,
        what=f"all {burst} tickets counted",
    )
    final = totals(session_service, session_id)
    assert final["total_incl_tax"] == burst * 1000
    assert (final["first_number"], final["last_number"]) == (1, burst)
    dsn = stack.infra.dsn(stack.database("session-service"))
    rows = asyncio.run(
        fetch(dsn, "select count(distinct ticket_id), count(*) from session_tickets where session_id = $1", session_id)
    )
    assert tuple(rows[0]) == (burst, burst)


def test_the_trace_of_a_ticket_continues_from_pos_api_across_kafka_into_session_service(
    services: tuple[ServiceProcess, ServiceProcess], stack: Stack
) -> None:
    pos_api, session_service = services
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    till = Till.of(stack.demo(pos_api), 2)
    body = new_ticket(uuid.uuid4(), till)
    response = httpx.post(
        f"{pos_api.url}/v1/tickets", json=body, headers={"traceparent": traceparent, **till.headers}, timeout=10
    )
    assert response.status_code == 201
    wait_until(lambda: counted(session_service, body["ticket_id"]), what="the ticket to be counted")

    def spans_of(proc: ServiceProcess) -> list[dict[str, Any]]:
        lines = proc.trace_path.read_text().splitlines() if proc.trace_path.exists() else []
        return [s for s in map(json.loads, lines) if s["context"]["trace_id"] == f"0x{trace_id}"]

    wait_until(lambda: any(s["kind"] == "SpanKind.CONSUMER" for s in spans_of(session_service)), what="consumer span")
    pos_spans = spans_of(pos_api)
    assert any(s["kind"] == "SpanKind.SERVER" for s in pos_spans), "pos-api's HTTP span joined the till's trace"
    assert any(s["kind"] == "SpanKind.PRODUCER" for s in pos_spans), "the relay published within the same trace"
    publish_ids = {s["context"]["span_id"] for s in pos_spans if s["kind"] == "SpanKind.PRODUCER"}
    consumer = [s for s in spans_of(session_service) if s["kind"] == "SpanKind.CONSUMER"]
    assert any(s["parent_id"] in publish_ids for s in consumer), "session-service's span is a child of the publish"


def test_a_message_that_can_never_be_processed_goes_to_the_dead_letter_topic_and_the_next_one_is_counted(
    services: tuple[ServiceProcess, ServiceProcess], stack: Stack
) -> None:
    pos_api, session_service = services
    marker = uuid.uuid4().hex
    asyncio.run(_publish_raw(stack, TICKETS.name, b'{"not": "an envelope", "marker": "' + marker.encode() + b'"}'))
    till = Till.of(stack.demo(pos_api), 3)
    body = new_ticket(uuid.uuid4(), till)
    assert httpx.post(f"{pos_api.url}/v1/tickets", json=body, headers=till.headers, timeout=10).status_code == 201
    wait_until(lambda: counted(session_service, body["ticket_id"]), what="the next ticket to be counted")
    dead = asyncio.run(_dead_letters(stack, f"{TICKETS.name}.session-service.tickets.dlq", marker))
    assert len(dead) == 1
    assert dead[0]["dlq_reason"].startswith("undecodable")


async def _publish_raw(stack: Stack, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"poison")
    finally:
        await producer.stop()


async def _dead_letters(stack: Stack, topic: str, marker: str) -> list[dict[str, str]]:
    deadline = time.monotonic() + 30
    found: list[dict[str, str]] = []
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not found and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    if marker.encode() in (record.value or b""):
                        found.append({k: v.decode() for k, v in record.headers or ()})
        return found
    finally:
        await consumer.stop()


class GatedProducer(RecordingProducer):
    """A producer whose send of the key "first" holds until the test releases it: the relay stays between its
    look and its mark-sent for as long as the test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        if key == b"first" and not self.release.is_set():
            self.holding.set()
            await self.release.wait()
        return await super().send(topic, value, key, headers=headers)
