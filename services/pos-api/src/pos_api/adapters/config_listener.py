"""Follows the configuration generation that PostgreSQL announces at each commit, to keep the till cache current.

If the listening connection is lost, the cache stops being supervised (requests read the generation
themselves again) until the listener has reconnected and read the current generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from pos_api.service_layer.cache import TillCache

log = logging.getLogger(__name__)

CHANNEL = "caisse_config_generation"


class ConfigGenerationListener:
    def __init__(self, dsn: str, cache: TillCache) -> None:
        self._dsn = dsn
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="config-generation-listener")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._cache.supervised = False

    def _announced(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._cache.at(int(payload))

    async def _run(self) -> None:
        while not self._stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(CHANNEL, self._announced)
                generation: int = await conn.fetchval("select generation from config_generation where id = 1")
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                self._cache.at(generation)
                self._cache.supervised = True
                waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(lost.wait())]
                _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in pending:
                    waiter.cancel()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("configuration listener: %s; requests read the generation until it is back", exc)
            finally:
                self._cache.supervised = False
                if conn is not None and not conn.is_closed():
                    await conn.close()
            if not self._stop.is_set():
                await asyncio.sleep(1.0)
