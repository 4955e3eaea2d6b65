"""A background worker of the till's agent: one task from the app's start to its stop, woken at once by `nudge()`
when there is work (something queued, a job to print), and stopped cleanly at the app's stop."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class WakeableWorker(ABC):
    """`idle` is set by the worker while it has nothing to do (for the tests, the benchmarks and the shutdown)."""

    name = "worker"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()

    def nudge(self) -> None:
        """There is work: the worker is no longer idle until it has looked again."""
        self.idle.clear()
        self._wake.set()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                log.warning("the %s did not stop in time", self.name)

    @abstractmethod
    async def _run(self) -> None:
        """The worker's loop, until `_stopping` is set."""
