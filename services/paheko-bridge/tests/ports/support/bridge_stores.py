"""The stores the bridge's port tests run against, and their fixture: the in-memory fakes (milliseconds) and the
asyncpg adapters on real PostgreSQL (marked `integration`: a database of the bridge's schema on the launcher's `test`
instance, emptied before each test), each seen through the ports (and, for the outbox, which has no reader, through
a look at what it queued). Each test module imports the fixtures (`store_fixture` and the two it asks for)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

import paheko_bridge
from caisse_runtime.database import create_engine, migrate, migrations_beside
from caisse_stack import Infra, ensure_up
from paheko_bridge.adapters.fec.journal import FecFileJournal
from paheko_bridge.adapters.memory import InMemoryFecJournal, InMemoryUnitOfWork, MemoryState
from paheko_bridge.adapters.sql import BridgePool
from paheko_bridge.service_layer.ports import FecJournal, UnitOfWork

QueuedEvent = tuple[str, str, str, str]
"""What the outbox holds of an event: its topic, key, type and aggregate id."""


@dataclass(frozen=True)
class Store:
    """One implementation of the bridge's ports, and a look at what its outbox queued (the port has no reader)."""

    uow: Callable[[], UnitOfWork]
    journal: FecJournal
    queued: Callable[[], Awaitable[list[QueuedEvent]]]


@pytest.fixture(name="infra", scope="session")
def infra_fixture() -> Infra:
    """Real Kafka and PostgreSQL (the launcher's `test` instance), started if they do not run yet."""
    return ensure_up("test")


@pytest.fixture(name="database", scope="module")
def database_fixture(infra: Infra) -> Iterator[str]:
    """A new database with every migration of the bridge applied; dropped at the end of the module. Synchronous
    (the migration runs on a loop of its own), so that the `store` fixture can ask for it only when it needs it."""
    name = f"caisse_paheko_bridge_ports_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)

    async def migrated() -> None:
        engine = create_engine(infra.database_url(name), pool_size=1)
        try:
            await migrate(engine, migrations_beside(paheko_bridge.__file__))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, migrated()).result()
    yield name
    infra.drop_database(name)


async def _memory(tmp_path: Path) -> AsyncIterator[Store]:
    state = MemoryState()

    async def queued() -> list[QueuedEvent]:
        return [(r.topic, r.key, r.type, r.aggregate_id) for r in state.outbox]

    yield Store(lambda: InMemoryUnitOfWork(state), InMemoryFecJournal(), queued)


async def _postgresql(infra: Infra, database: str, tmp_path: Path) -> AsyncIterator[Store]:
    pool = BridgePool(infra.dsn(database), size=2)
    await pool.start()
    async with pool.opened().acquire() as conn:
        await conn.execute("truncate pushes, closes, deposits, inbox, outbox, fec_entries")

    async def queued() -> list[QueuedEvent]:
        async with pool.opened().acquire() as conn:
            rows = await conn.fetch("select topic, key, type, aggregate_id from outbox order by seq")
        return [(r["topic"], r["key"], r["type"], r["aggregate_id"]) for r in rows]

    try:
        yield Store(pool.work, FecFileJournal(pool, tmp_path), queued)
    finally:
        await pool.stop()


@pytest_asyncio.fixture(name="store", params=["memory", pytest.param("postgresql", marks=pytest.mark.integration)])
async def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        async for made in _memory(tmp_path):
            yield made
    else:
        infra: Infra = request.getfixturevalue("infra")
        database: str = request.getfixturevalue("database")
        async for made in _postgresql(infra, database, tmp_path):
            yield made
