"""A service's background worker: rounds of work, one after another, woken early by `wake()`, until stopped.

A round that fails is logged and the next one retries: what it had to do stays stored (a row due, a ticket
unsent), so a blink of the database costs a round, never the worker.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class BackgroundWorker(abc.ABC):
    """Runs `round()` until `stop()`; between rounds it waits what the round asked, else until woken or `idle_s`."""

    def __init__(self, name: str, *, idle_s: float) -> None:
        self.name = name
        self._idle_s = idle_s
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def round(self) -> float | None:
        """One round of work; then the pause before the next (0: at once), or None to wait for a wake-up or
        `idle_s`."""

    def wake(self) -> None:
        """Something arrived: the next round starts now rather than at the end of the wait."""
        self._wake.set()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            # Cleared before the round, not after: what arrives during it gets a round of its own.
            self._wake.clear()
            try:
                pause = await self.round()
            except Exception:  # not lost: what the round had to do stays stored, and the round after retries it
                log.exception("%s: round failed; retrying in %.1fs", self.name, self._idle_s)
                # Retried after `idle_s` whatever wakes the worker: a failing database must not be hammered by every
                # delivery that calls `wake()`.
                pause = self._idle_s
            if pause == 0:
                continue
            with contextlib.suppress(TimeoutError):
                if pause is None:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)
                else:
                    await asyncio.wait_for(self._stop.wait(), timeout=pause)
