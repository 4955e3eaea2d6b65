"""The notifier's background rounds: writing the tills' presence, and minding the tokens of live connections."""

from __future__ import annotations

import gc
import logging
import time

from caisse_runtime.worker import BackgroundWorker
from notifier.entrypoints.http.stream import StreamServices
from notifier.service_layer.presence import Presence

log = logging.getLogger(__name__)


class HeapKeeper(BackgroundWorker):
    """Keeps the cyclic garbage collector out of the way of a flood of tills connecting.

    Every till holds a few dozen long-lived objects; each full collection walks all of them (about a second at
    10,000 tills), and a fan-out's allocations make one due every few seconds. So:
    - while more than `burst_per_s` tills join a second, the collector waits; once they stop (or after
      `max_wait_s`) one full collection is taken, at that quiet moment;
    - what lives after it is frozen (`gc.freeze`): later collections walk only what came since, and a change's
      fan-out is never held up by a walk over ten thousand connections;
    - frozen objects are never collected, so once `refreeze_after` tills have gone since (their connections'
      cycles are garbage now) the heap is thawed, collected and frozen again at a quiet moment.
    Each full collection longer than `slow_s` is logged.
    """

    def __init__(
        self,
        stream: StreamServices,
        *,
        burst_per_s: int = 100,
        every_s: float = 1.0,
        max_wait_s: float = 30.0,
        refreeze_after: int = 1000,
        slow_s: float = 0.2,
    ) -> None:
        super().__init__("heap-keeper", idle_s=every_s)
        self._stream = stream
        self._burst = burst_per_s * every_s
        self._every_s, self._max_wait_s, self._slow_s = every_s, max_wait_s, slow_s
        self._refreeze_after = refreeze_after
        self._seen = 0
        self._left_at_freeze = 0
        self._waiting_since: float | None = None
        self._started: float | None = None
        gc.callbacks.append(self._timed)

    def _timed(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None and (took := time.perf_counter() - self._started) >= self._slow_s:
            tills = len(self._stream.hub)
            log.warning("a full garbage collection took %.0f ms (%d tills connected)", took * 1000, tills)

    async def round(self) -> float | None:
        joined, left, now = self._stream.joined, self._stream.left, time.monotonic()
        flooding = joined - self._seen >= self._burst
        self._seen = joined
        if flooding and self._waiting_since is None:
            gc.disable()
            self._waiting_since = now
        elif self._waiting_since is not None and (not flooding or now - self._waiting_since >= self._max_wait_s):
            self._settle("tills flooded in")
            if flooding:
                self._waiting_since = now
            else:
                self._waiting_since = None
                gc.enable()
        elif not flooding and left - self._left_at_freeze >= self._refreeze_after:
            self._settle(f"{left - self._left_at_freeze} tills went")
        return self._every_s

    def _settle(self, why: str) -> None:
        """Thaw, collect, freeze what lives: the connections' objects stay out of every later collection."""
        began = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._left_at_freeze = self._stream.left
        log.info("%s: the heap collected and frozen again in %.0f ms", why, (time.perf_counter() - began) * 1000)

    async def stop(self) -> None:
        await super().stop()
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        if self._waiting_since is not None:
            self._waiting_since = None
            gc.enable()


class PresenceWriter(BackgroundWorker):
    """Writes the presence every `every_s`; what is left is written when the service stops."""

    def __init__(self, presence: Presence, *, every_s: float) -> None:
        super().__init__("presence-writer", idle_s=every_s)
        self._presence = presence
        self._every_s = every_s

    async def round(self) -> float | None:
        await self._presence.flush()
        return self._every_s

    async def stop(self) -> None:
        await super().stop()
        await self._presence.flush()


class TokenSweeper(BackgroundWorker):
    """Every `every_s`: warns the tills whose token ends soon and closes those whose token ended."""

    def __init__(self, stream: StreamServices, *, every_s: float = 5.0) -> None:
        super().__init__("token-sweeper", idle_s=every_s)
        self._stream = stream
        self._every_s = every_s

    async def round(self) -> float | None:
        await self._stream.sweep()
        return self._every_s
