"""The till's local store: one SQLite file (WAL), the only database a till has; it keeps working offline."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path


class LocalStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await asyncio.to_thread(sqlite3.connect, self._path, check_same_thread=False)
        await self._run("pragma journal_mode=wal")
        await self._run("pragma synchronous=full")

    async def close(self) -> None:
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None

    async def _run(self, sql: str) -> list[tuple[object, ...]]:
        if self._conn is None:
            raise RuntimeError("the local store is not open")
        conn = self._conn
        async with self._lock:
            return await asyncio.to_thread(lambda: conn.execute(sql).fetchall())

    async def answers(self) -> bool:
        return (await self._run("select 1")) == [(1,)]
