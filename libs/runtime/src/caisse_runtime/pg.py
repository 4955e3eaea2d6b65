"""asyncpg for a service's adapters: a pool whose statements are prepared once per connection and planned once,
and a unit of work on one of its connections.

Every service's SQL adapter runs on this, the hot paths (a till's sale, the running totals) and the rest alike;
SQLAlchemy is left to Alembic's migrations and the readiness probe.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.transaction import Transaction


class HotPool:
    """An asyncpg pool, opened when the service starts and closed when it stops."""

    def __init__(self, dsn: str, *, size: int, what: str) -> None:
        self._dsn = dsn
        self._size = size
        self._what = what
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._size,
            reset=_nothing_to_reset,
            command_timeout=30,
            # The statements are few, prepared once per connection and keyed on ids or arrays: their generic
            # plan is the plan. By default PostgreSQL would plan a statement with many parameters anew on every
            # call (its custom plans look cheaper), which can cost more than running it.
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def opened(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"the {self._what} database pool is not open (the service has not started)")
        return self._pool


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """Every unit of work ends its transaction itself and none listens or locks by session: skip the reset query."""


class PooledWork:
    """A unit of work on one pooled connection. Its transaction starts at `begin()` (on entry, or at the first
    statement that needs one); leaving without `commit()` rolls it back. Without `begin()` each statement is
    atomic on its own. A subclass builds its repositories on the connection in `bind`."""

    def __init__(self, pool: asyncpg.Pool, *, begin_on_entry: bool) -> None:
        self._pool = pool
        self._begin_on_entry = begin_on_entry
        self._conn: asyncpg.Connection | None = None
        self._tx: Transaction | None = None
        self._committed = False

    def bind(self, conn: asyncpg.Connection) -> None:
        """Build the repositories of this unit of work on `conn`."""

    async def __aenter__(self) -> Self:
        conn: asyncpg.Connection = await self._pool.acquire()
        self._conn = conn
        if self._begin_on_entry:
            try:
                await self.begin()
            except BaseException:
                self._conn = None
                await self._pool.release(conn)
                raise
        self.bind(conn)
        return self

    async def begin(self) -> asyncpg.Connection:
        """The connection, in this unit of work's transaction (started now if it has not been)."""
        if self._conn is None or self._committed:
            raise RuntimeError("statement outside of the unit of work")
        if self._tx is None:
            tx = self._conn.transaction()
            await tx.start()
            self._tx = tx
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:
            return
        try:
            if tx is not None and not self._committed:
                await tx.rollback()
        finally:
            await self._pool.release(conn)

    async def commit(self) -> None:
        if self._conn is None:
            raise RuntimeError("commit outside of the unit of work")
        if self._tx is not None:
            await self._tx.commit()
        self._committed = True

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that an exception undoes alone (a SAVEPOINT): one sale of a batch, whose
        refusal leaves the others, the batch committed once at its end."""
        conn = await self.begin()
        async with conn.transaction():  # nested in the unit of work's: a savepoint
            yield
