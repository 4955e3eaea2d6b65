"""The transactional outbox: events written in the state change's transaction, published by one relay.

A row is shaped like Debezium's outbox (aggregate type and id, event type, payload) plus the topic, key
and the W3C trace context of the request that wrote it. The relay publishes with an idempotent producer
(`acks=all`) and marks rows sent; a crash between publish and mark republishes, and consumers' inboxes
make that harmless. One relay publishes at a time per database (a transaction-scoped advisory lock), so
events leave in the order they were written. Sent rows stay `retention` (seven days by default) for whoever
needs to see what left, then the relay prunes them: Kafka keeps the events themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from uuid import UUID

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from caisse_contracts.envelope import Envelope
from caisse_runtime.telemetry import context_from, current_traceparent, inject_into

log = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = "caisse_outbox"

# The table's SQL, revision by revision, is frozen in `caisse_runtime.frozen_sql` for the services' migrations.


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row, computed once from an event (by `OutboxRow.of`) and only persisted by SQL: the services'
    adapters and their fakes store the same structure."""

    id: UUID
    aggregate_type: str
    aggregate_id: str
    type: str
    topic: str
    key: str
    payload: str
    """The envelope's JSON text, published as it is."""
    headers: str
    """The CloudEvents Kafka headers, as a JSON object."""
    traceparent: str | None
    tracestate: str | None

    @classmethod
    def of(
        cls,
        envelope: Envelope[Any],
        *,
        topic: str,
        key: str,
        aggregate_type: str,
        aggregate_id: str,
        data_json: str | None = None,
    ) -> OutboxRow:
        """The row of `envelope`, carrying the trace context of the span that writes it (captured here, so that no
        service layer deals with tracing). `data_json`: the payload's JSON when the caller already made it."""
        if envelope.traceparent is None:
            traceparent, tracestate = current_traceparent()
            if traceparent is not None:
                envelope = envelope.model_copy(update={"traceparent": traceparent, "tracestate": tracestate})
        payload = envelope.model_dump_json() if data_json is None else envelope.dump_json_with_data(data_json)
        return cls(
            id=envelope.id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            type=envelope.type,
            topic=topic,
            key=key,
            payload=payload,
            headers=json.dumps(envelope.kafka_headers(), separators=(",", ":")),
            traceparent=envelope.traceparent,
            tracestate=envelope.tracestate,
        )


OUTBOX_COLUMNS: Final = tuple(f.name for f in fields(OutboxRow))

INSERT_ONE_SQL: Final = """
insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, traceparent, tracestate)
values ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9, $10)
"""

INSERT_MANY_SQL: Final = """
insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, traceparent, tracestate)
select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::json[], $8::json[],
                     $9::text[], $10::text[])
"""


async def insert_outbox(conn: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
    """Persist `rows` in the caller's transaction (the state change's own): one statement, whatever their number."""
    if len(rows) == 1:
        r = rows[0]
        await conn.execute(
            INSERT_ONE_SQL, r.id, r.aggregate_type, r.aggregate_id, r.type, r.topic, r.key, r.payload, r.headers,
            r.traceparent, r.tracestate,
        )  # fmt: skip
    elif rows:
        await conn.execute(
            INSERT_MANY_SQL,
            *([getattr(r, column) for r in rows] for column in OUTBOX_COLUMNS),
        )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One event to queue, with where it goes and what it is about; its adapter makes it an `OutboxRow.of`."""

    envelope: Envelope[Any]
    topic: str
    key: str
    aggregate_type: str
    aggregate_id: str


PRUNE_BATCH: Final = 5000

PRUNE_SQL: Final = """
with oldest as (select seq, sent_at, created_at from outbox order by seq limit $2)
delete from outbox as o using oldest
where o.seq = oldest.seq and oldest.sent_at is not null and oldest.sent_at < $1
"""
"""The oldest rows first (the primary key's order), so a prune never scans the table."""

RELAY_BEGIN_SQL: Final = (
    "select pg_try_advisory_xact_lock($1) as locked,"
    " array(select x::text::bigint from pg_snapshot_xip(pg_current_snapshot()) as x) as in_flight"
    " from set_config('synchronous_commit', 'off', true) as not_waiting"
)
"""The relay's batch starts by taking the relay lock and noting the transactions in flight; its commit does not
wait for the WAL flush.

The transactions in flight are those the look that follows cannot see yet. An event that found an older one
waiting sent no NOTIFY (`frozen_sql/outbox_2_lean.sql`): it counts on the relay that publishes the older one to look again
after its own commit. Its commit may come after that look, so after a publish the relay keeps looking while any
transaction then in flight is still open (see `OutboxRelay.run`).

What the batch commits is only "these rows were sent". If a crash of PostgreSQL loses that mark (at most a few
hundred milliseconds of commits), the rows go out again and the consumers' inboxes drop them: the same outcome as
a relay that dies between publish and mark. The sale itself was committed, and flushed, by its own transaction.
Not waiting spares the disk one flush per batch: a flush that waits behind everything else being written, and
that the next sale's commit would otherwise queue behind.
"""


class Producer(Protocol):
    """What the relay needs of a Kafka producer (aiokafka's `AIOKafkaProducer` has it)."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[Any]: ...


@dataclass(frozen=True, slots=True)
class PendingRow:
    seq: int
    id: UUID
    topic: str
    key: str
    type: str
    payload: str
    """The event's JSON as PostgreSQL returns it: published as it is, never decoded and encoded again."""
    headers: dict[str, str]
    traceparent: str | None
    tracestate: str | None
    created_at: datetime


PENDING_SQL: Final = """
select seq, id, topic, key, type, payload::text as payload, headers::text as headers, traceparent, tracestate, created_at
from outbox where sent_at is null order by seq limit $1
"""

MARK_SENT_SQL: Final = "update outbox set sent_at = now(), attempts = attempts + 1 where seq = any($1::bigint[])"


class OutboxStore(Protocol):
    """Where the relay marks rows sent; `SqlOutboxStore` is the real one."""

    async def mark_sent(self, conn: asyncpg.Connection, seqs: Sequence[int]) -> None: ...


class SqlOutboxStore:
    async def mark_sent(self, conn: asyncpg.Connection, seqs: Sequence[int]) -> None:
        # One statement for the whole batch, whatever its size (one prepared statement, one round trip).
        await conn.execute(MARK_SENT_SQL, list(seqs))


HOLD_LOOK_S: Final = 0.2
"""How often a held relay asks again whether it may publish."""


class OutboxRelay:
    """Publishes pending outbox rows in order, restoring each row's trace context on its publish span."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: Producer,
        *,
        service: str,
        store: OutboxStore | None = None,
        batch_size: int = 500,
        idle_wait_s: float = 0.5,
        busy_wait_s: float = 0.01,
        listen_dsn: str | None = None,
        listening_wait_s: float = 5.0,
        retention: timedelta = timedelta(days=7),
        prune_every_s: float = 600.0,
        held: Callable[[], bool] = lambda: False,
        max_hold_s: float = 30.0,
    ) -> None:
        self._pool = pool
        self._held = held
        """While it answers True (its service is busy with what cannot wait), the relay waits, `max_hold_s` at most."""
        self._max_hold_s = max_hold_s
        self._producer = producer
        self._store = store or SqlOutboxStore()
        self._batch_size = batch_size
        self._idle_wait_s = idle_wait_s
        self._busy_wait_s = busy_wait_s
        self._listen_dsn = listen_dsn
        self._listening_wait_s = listening_wait_s
        self.listening = False
        """Whether the relay's LISTEN connection is up: it then looks every `listening_wait_s` at the latest, since
        a NOTIFY wakes it, and every `idle_wait_s` otherwise."""
        self._retention = retention
        self._prune_every_s = prune_every_s
        self._wake = asyncio.Event()
        self._in_flight: frozenset[int] | None = None
        """The transactions in flight at the last look, None when another relay held the lock."""
        self._tracer = trace.get_tracer(f"{service}.outbox")
        self._lock_key = zlib.crc32(f"outbox-relay:{service}".encode())
        self.published = 0

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; the number published (0 when none, or another relay holds the lock)."""
        conn: asyncpg.Connection
        async with self._pool.acquire() as conn, conn.transaction():
            begun = await conn.fetchrow(RELAY_BEGIN_SQL, self._lock_key)
            if begun is None or not begun["locked"]:
                self._in_flight = None
                return 0
            self._in_flight = frozenset(begun["in_flight"])
            rows = [
                PendingRow(
                    seq=r["seq"],
                    id=r["id"],
                    topic=r["topic"],
                    key=r["key"],
                    type=r["type"],
                    payload=r["payload"],
                    headers=json.loads(r["headers"]),
                    traceparent=r["traceparent"],
                    tracestate=r["tracestate"],
                    created_at=r["created_at"],
                )
                for r in await conn.fetch(PENDING_SQL, self._batch_size)
            ]
            if not rows:
                return 0
            futures = [await self._send(row) for row in rows]
            await asyncio.gather(*futures)
            await self._store.mark_sent(conn, [row.seq for row in rows])
        self.published += len(rows)
        return len(rows)

    async def prune_sent(self, *, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` of the oldest rows sent more than `retention` ago; how many went."""
        async with self._pool.acquire() as conn:
            status: str = await conn.execute(PRUNE_SQL, datetime.now(UTC) - self._retention, limit)
        return int(status.rsplit(" ", 1)[-1])

    async def _send(self, row: PendingRow) -> asyncio.Future[Any]:
        parent = context_from(row.traceparent, row.tracestate)
        with self._tracer.start_as_current_span(
            f"{row.topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row.topic,
                "messaging.message.id": str(row.id),
                "messaging.kafka.message.key": row.key,
                "caisse.event.type": row.type,
            },
        ):
            headers = dict(row.headers)
            headers.pop("traceparent", None)
            headers.pop("tracestate", None)
            inject_into(headers)
            return await self._producer.send(
                row.topic,
                value=row.payload.encode(),
                key=row.key.encode(),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; wakes on the outbox's NOTIFY, `busy_wait_s` after a batch and while a
        transaction open since then may hold an event that sent no NOTIFY, and at the latest every
        `listening_wait_s` while LISTEN is up (a lost notification costs that much), every `idle_wait_s` without
        it."""
        listener = await self._listen()
        next_prune = time.monotonic()
        owed = False
        """The last look published: an event in a transaction open now may have counted on it for its wake-up."""
        watched: frozenset[int] = frozenset()
        """Transactions that were in flight after a publish and still were at the last look."""
        watching_waits = 0
        held_since: float | None = None
        try:
            while not stop.is_set():
                if self._held():
                    held_since = held_since if held_since is not None else time.monotonic()
                    if time.monotonic() - held_since < self._max_hold_s:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), HOLD_LOOK_S)
                        continue
                held_since = None
                # Cleared before the look, not after: a NOTIFY that comes while the relay looks is for a row the
                # look may have missed, and it must cut the wait that follows.
                self._wake.clear()
                try:
                    if time.monotonic() >= next_prune:  # a batch at a time, between publishes
                        full = await self.prune_sent() == PRUNE_BATCH
                        next_prune = time.monotonic() + (1.0 if full else self._prune_every_s)
                    published = await self.publish_pending()
                except Exception:  # any failed batch: its rows stay unsent and the relay retries them
                    log.exception("outbox relay: publish failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                # Events that arrive while others wait send no NOTIFY (`frozen_sql/outbox_2_lean.sql`): after a batch the relay
                # looks again soon, and it waits for the next NOTIFY only once a look finds nothing and every
                # transaction that was in flight after its last publish has ended (and was seen by a look). An
                # event whose transaction counted on a row this relay has since published is in one of them.
                if self._in_flight is not None:
                    watched = self._in_flight if owed else watched & self._in_flight
                    owed = published > 0
                if published == self._batch_size:
                    continue
                if published:
                    wait_s = self._busy_wait_s
                    watching_waits = 0
                elif watched or (owed and self._in_flight is None):
                    # Such a transaction usually commits within milliseconds; one that stays open (not a sale's)
                    # is looked at less and less often, never less often than the idle poll.
                    wait_s = min(self._busy_wait_s * 2**watching_waits, self._idle_wait_s)
                    watching_waits += 1
                else:
                    wait_s = self._listening_wait_s if self.listening else self._idle_wait_s
                    watching_waits = 0
                waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                _, pending = await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
                for waiter in pending:
                    waiter.cancel()
        finally:
            self.listening = False
            if listener is not None:
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        if not self._listen_dsn:
            return None
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self._listen_dsn)
        except (OSError, asyncpg.PostgresError):
            log.warning("outbox relay: LISTEN unavailable, polling every %.2fs", self._idle_wait_s)
            return None
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        conn.add_termination_listener(self._listener_lost)
        self.listening = True
        return conn

    def _listener_lost(self, _: object) -> None:
        if self.listening:
            log.warning("outbox relay: LISTEN connection lost, polling every %.2fs", self._idle_wait_s)
        self.listening = False
        self._wake.set()  # look now: a NOTIFY may have been lost with the connection
