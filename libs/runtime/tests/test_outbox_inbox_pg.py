"""The outbox row and the inbox claim on real PostgreSQL: a row written once per event, in one statement whatever
their number, with the trace context of the span that wrote it; a claim that admits each event once per group; a
relay that waits while its service holds it (at most its longest wait).

The module gets a new database with the frozen inbox and outbox revisions on the launcher's `test` PostgreSQL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.frozen_sql import frozen
from caisse_runtime.inbox import claim_events
from caisse_runtime.outbox import OutboxRelay, OutboxRow, insert_outbox
from caisse_stack import Infra, ensure_up

pytestmark = pytest.mark.integration

EXAMPLE = load_example(TicketFinalizedV1)


@pytest.fixture(scope="module")
def infra() -> Infra:
    return ensure_up("test")


@pytest_asyncio.fixture(scope="module")
async def dsn(infra: Infra) -> AsyncIterator[str]:
    name = f"caisse_runtime_it_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)
    url = infra.dsn(name)
    conn = await asyncpg.connect(url)
    try:
        for revision in ("inbox_1", "outbox_1", "outbox_2_lean", "outbox_3_notify_newest"):
            await conn.execute(frozen(revision))
    finally:
        await conn.close()
    yield url
    infra.drop_database(name)


def _envelope(**changes: object) -> Envelope[TicketFinalizedV1]:
    return EXAMPLE.model_copy(update={"id": uuid.uuid4(), "traceparent": None, "tracestate": None, **changes})


async def test_one_row_and_many_are_stored_as_computed_with_the_writing_spans_trace(dsn: str) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("finalize") as span:
        one = OutboxRow.of(
            _envelope(), topic="caisse.tickets.v1", key="pos-1", aggregate_type="ticket", aggregate_id="1"
        )
    many = [
        OutboxRow.of(
            _envelope(), topic="caisse.tickets.v1", key=f"pos-{n}", aggregate_type="ticket", aggregate_id=str(n)
        )
        for n in range(3)
    ]
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert one.traceparent is not None
    assert trace_id in one.traceparent
    assert json.loads(one.payload)["traceparent"] == one.traceparent
    assert json.loads(one.headers)["traceparent"] == one.traceparent
    assert all(row.traceparent is None for row in many)  # no span: no trace context invented
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await insert_outbox(conn, [one])
            await insert_outbox(conn, many)
            await insert_outbox(conn, [])
        stored = await conn.fetch(
            "select id, aggregate_type, aggregate_id, type, topic, key, payload::text, headers::text, traceparent,"
            " tracestate from outbox where id = any($1::uuid[]) order by seq",
            [row.id for row in [one, *many]],
        )
    finally:
        await conn.close()
    assert [OutboxRow(*record) for record in stored] == [one, *many]


async def test_an_event_is_claimed_once_per_group_whatever_the_batch(dsn: str) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    try:
        assert await claim_events(conn, "g", [(first, "t"), (first, "t")]) == {first}
        assert await claim_events(conn, "g", [(first, "t"), (second, "t")]) == {second}
        assert await claim_events(conn, "other", [(first, "t")]) == {first}
        assert await claim_events(conn, "g", []) == set()
    finally:
        await conn.close()


class Sent:
    """Kafka's producer as the relay sees it: the keys it was given."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.arrived: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(asyncio.Event)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[Any]:
        self.keys.append((key or b"").decode())
        self.arrived[self.keys[-1]].set()
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_held_relay_publishes_nothing_until_released_or_held_too_long(dsn: str) -> None:
    held = True
    row = OutboxRow.of(_envelope(), topic="caisse.tickets.v1", key="held", aggregate_type="ticket", aggregate_id="h")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    stop = asyncio.Event()
    try:
        async with pool.acquire() as conn:
            await insert_outbox(conn, [row])
        producer = Sent()
        relay = OutboxRelay(pool, producer, service=f"held-{uuid.uuid4().hex[:6]}", held=lambda: held)
        running = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(1.0)
        assert "held" not in producer.keys  # the service is busy: the relay waits
        held = False
        await asyncio.wait_for(producer.arrived["held"].wait(), 5)
        stop.set()
        await running

        again = OutboxRow.of(
            _envelope(), topic="caisse.tickets.v1", key="late", aggregate_type="ticket", aggregate_id="l"
        )
        async with pool.acquire() as conn:
            await insert_outbox(conn, [again])
        stop = asyncio.Event()
        relay = OutboxRelay(pool, producer, service=f"held-{uuid.uuid4().hex[:6]}", held=lambda: True, max_hold_s=0.5)
        running = asyncio.create_task(relay.run(stop))
        await asyncio.wait_for(producer.arrived["late"].wait(), 5)  # held for ever: published after its longest wait
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        await pool.close()
