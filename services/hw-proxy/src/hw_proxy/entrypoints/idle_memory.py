"""Once the till has been quiet a moment after some activity, the agent gives the memory it freed back to the
system (`adapters.heap.malloc_trim`), so that a till left idle between customers, or for the night, holds only what
it uses (issue 17: under 80 MB idle).

Activity is a request to the agent's HTTP API (`Activity`, an ASGI middleware); the trim runs once per quiet spell,
`quiet_s` after the last request, and costs a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class IdleTrim:
    """`touch()` at each request; the trim follows the first `quiet_s` without one."""

    def __init__(self, trim: Callable[[], None] | None, *, quiet_s: float) -> None:
        self._trim = trim
        self._quiet_s = quiet_s
        self._last = 0.0
        self._active = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.trims = 0
        """How many times the heap was trimmed (for the tests)."""

    def touch(self) -> None:
        self._last = time.monotonic()
        self._active.set()

    async def start(self) -> None:
        if self._trim is not None and self._quiet_s > 0:
            self._task = asyncio.create_task(self._run(), name="idle-trim")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        assert self._trim is not None  # noqa: S101 (started only with one)
        while True:
            await self._active.wait()
            while (left := self._last + self._quiet_s - time.monotonic()) > 0:  # noqa: ASYNC110 (a moving deadline)
                await asyncio.sleep(left)
            self._active.clear()
            try:
                self._trim()
            except Exception:  # memory given back or not, the till sells on
                log.exception("the heap could not be trimmed")
                continue
            self.trims += 1


class Activity:
    """ASGI middleware: each HTTP request to the agent counts as activity for `IdleTrim`."""

    def __init__(self, app: Any, seen: Callable[[], None]) -> None:
        self._app = app
        self._seen = seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self._seen()
        await self._app(scope, receive, send)
