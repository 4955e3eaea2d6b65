"""The till's local store: one SQLite file (WAL, synchronous=FULL), the only database a till has; it keeps working
offline.

One connection, used by one worker thread at a time, so that there is a single writer. The schema is migrated at
open by `PRAGMA user_version`: `MIGRATIONS[n]` takes the file from version n to n+1, each step in one transaction
with its version number, so that a till stopped mid-upgrade starts again from the last step that committed. Every
stream message is stored in one transaction: the item, its version and the stream position together, or nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final, TypeVar, cast
from uuid import UUID

from caisse_contracts.events.config import EntityType
from hw_proxy.domain.config_cache import CachedItem, EntityKey, RemovedReason, StreamState

T = TypeVar("T")

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        create table config_item (
            entity_type text not null,
            entity_id text not null,
            version integer not null,
            item text,
            removed text check (removed in ('deleted', 'moved')),
            position integer,
            awaiting_snapshot integer not null default 0 check (awaiting_snapshot in (0, 1)),
            reset_seen integer not null default 0 check (reset_seen in (0, 1)),
            received_at text not null,
            primary key (entity_type, entity_id)
        ) without rowid
        """,
        """
        create table stream_state (
            id integer primary key check (id = 1),
            position integer,
            last_message_at text,
            last_synced_at text,
            reset_in_progress integer not null default 0 check (reset_in_progress in (0, 1))
        )
        """,
        "insert into stream_state (id) values (1)",
    ),
)
"""The schema, step by step; a step is never edited once released, a change is a new step."""

_ITEM_COLUMNS: Final = "entity_type, entity_id, version, item, removed, position, awaiting_snapshot"


class FaultInjection:
    """Tests only: SIGKILL this process while it stores its Nth stream message, after the item's write and before
    the commit, to prove that a till killed at the worst moment keeps a consistent cache."""

    def __init__(self, kill_after_messages: int | None) -> None:
        self._left = kill_after_messages

    def before_commit(self) -> None:
        if self._left is None:
            return
        self._left -= 1
        if self._left == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def migrate(conn: sqlite3.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the steps the file lacks, each in one transaction with its `user_version`; returns the version."""
    current = int(conn.execute("pragma user_version").fetchone()[0])
    if current > len(steps):
        raise RuntimeError(f"the local store is at schema {current}, newer than this hw-proxy ({len(steps)})")
    for number, step in enumerate(steps[current:], start=current + 1):
        conn.execute("begin immediate")
        try:
            for statement in step:
                conn.execute(statement)
            conn.execute(f"pragma user_version = {number}")
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
    return len(steps)


def _row_to_item(row: tuple[object, ...]) -> CachedItem:
    entity_type, entity_id, version, item, removed, position, awaiting = row
    return CachedItem(
        EntityKey(EntityType(str(entity_type)), UUID(str(entity_id))),
        int(cast(int, version)),
        json.loads(str(item)) if item is not None else None,
        removed=cast(RemovedReason | None, removed),
        position=cast(int | None, position),
        awaiting_snapshot=bool(awaiting),
    )


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value is not None else None


class LocalStore:
    """The SQLite file of the till: the config cache and its stream state (the `ConfigStore` port)."""

    def __init__(self, path: str, *, faults: FaultInjection | None = None) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._faults = faults or FaultInjection(None)

    async def open(self) -> None:
        """Open the file (made if missing), switch it to WAL with full syncs, and migrate its schema."""
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await asyncio.to_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are the explicit `begin immediate … commit` below, nothing implicit.
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=full")
        conn.execute("pragma busy_timeout=5000")
        migrate(conn)
        return conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            async with self._lock:
                await asyncio.to_thread(conn.close)

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise RuntimeError("the local store is not open")
        conn = self._conn
        async with self._lock:
            # A cancelled caller (the app stopping) still waits for the thread: the connection is never closed,
            # nor used by the next caller, while a transaction runs on it.
            running = asyncio.ensure_future(asyncio.to_thread(work, conn))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait({running})
                raise

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one transaction, committed whole or rolled back whole."""

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("begin immediate")
            try:
                result = work(conn)
                self._faults.before_commit()
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")
            return result

        return await self._call(run)

    async def answers(self) -> bool:
        """The readiness probe: the file answers a query."""
        return await self._call(lambda conn: conn.execute("select 1").fetchall()) == [(1,)]

    async def schema_version(self) -> int:
        """The schema version of the file (`PRAGMA user_version`)."""
        return await self.pragma("user_version")

    async def pragma(self, name: str) -> int:
        """An integer pragma of the open connection (`user_version`, `synchronous`…), for the checks and the tests."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma: {name!r}")
        return await self._call(lambda conn: int(conn.execute(f"pragma {name}").fetchone()[0]))

    async def stream_state(self) -> StreamState:
        def read(conn: sqlite3.Connection) -> StreamState:
            row = conn.execute(
                "select position, last_message_at, last_synced_at, reset_in_progress from stream_state"
            ).fetchone()
            return StreamState(row[0], _time(row[1]), _time(row[2]), bool(row[3]))

        return await self._call(read)

    async def cached(self, key: EntityKey) -> CachedItem | None:
        def read(conn: sqlite3.Connection) -> CachedItem | None:
            row = conn.execute(
                f"select {_ITEM_COLUMNS} from config_item where entity_type = ? and entity_id = ?",  # noqa: S608
                (key.entity_type.value, str(key.entity_id)),
            ).fetchone()
            return _row_to_item(row) if row is not None else None

        return await self._call(read)

    async def items(self) -> list[CachedItem]:
        def read(conn: sqlite3.Connection) -> list[CachedItem]:
            rows = conn.execute(
                f"select {_ITEM_COLUMNS} from config_item order by entity_type, entity_id"  # noqa: S608
            ).fetchall()
            return [_row_to_item(row) for row in rows]

        return await self._call(read)

    async def awaiting_snapshot(self) -> list[EntityKey]:
        def read(conn: sqlite3.Connection) -> list[EntityKey]:
            rows = conn.execute(
                "select entity_type, entity_id from config_item where awaiting_snapshot = 1"
                " order by entity_type, entity_id"
            ).fetchall()
            return [EntityKey(EntityType(t), UUID(i)) for t, i in rows]

        return await self._call(read)

    async def record(
        self, write: CachedItem | None, *, position: int | None, at: datetime, seen_in_reset: bool
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if write is not None:
                conn.execute(
                    f"insert or replace into config_item ({_ITEM_COLUMNS}, reset_seen, received_at)"  # noqa: S608
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        write.key.entity_type.value,
                        str(write.key.entity_id),
                        write.version,
                        json.dumps(write.item, separators=(",", ":")) if write.item is not None else None,
                        write.removed,
                        write.position,
                        int(write.awaiting_snapshot),
                        int(seen_in_reset),
                        at.isoformat(),
                    ),
                )
            conn.execute(
                "update stream_state set last_message_at = ?,"
                " position = case when ? is null then position else max(coalesce(position, -1), ?) end",
                (at.isoformat(), position, position),
            )

        await self._transaction(work)

    async def begin_reset(self, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("update config_item set reset_seen = 0")
            conn.execute("update stream_state set reset_in_progress = 1, last_message_at = ?", (at.isoformat(),))

        await self._transaction(work)

    async def finish_reset(self, position: int | None, at: datetime) -> int:
        def work(conn: sqlite3.Connection) -> int:
            dropped = conn.execute("delete from config_item where reset_seen = 0").rowcount
            conn.execute("update config_item set reset_seen = 0")
            conn.execute(
                "update stream_state set position = ?, reset_in_progress = 0, last_message_at = ?, last_synced_at = ?",
                (position, at.isoformat(), at.isoformat()),
            )
            return int(dropped)

        return await self._transaction(work)

    async def synced(self, position: int | None, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update stream_state set last_message_at = ?, last_synced_at = ?,"
                " position = case when ? is null then position else max(coalesce(position, -1), ?) end",
                (at.isoformat(), at.isoformat(), position, position),
            )

        await self._transaction(work)
