"""The notifier's background rounds: writing the tills' presence, and minding the tokens of live connections."""

from __future__ import annotations

import gc
import logging
import time

from caisse_runtime.worker import BackgroundWorker
from notifier.entrypoints.http.stream import StreamServices
from notifier.service_layer.presence import Presence
from notifier.service_layer.tokens import RememberedTokens

log = logging.getLogger(__name__)


class Arrivals:
    """Whether tills are flooding in: more than `burst_per_s` joined since the last look (a restart's ten thousand
    tills coming back at once). The heap keeper looks every second; the presence writer reads what it saw."""

    def __init__(self, stream: StreamServices, *, burst_per_s: int = 100) -> None:
        self._stream = stream
        self._burst_per_s = burst_per_s
        self._seen = stream.joined
        self._looked = time.monotonic()
        self.flooding = False

    def look(self) -> bool:
        now = time.monotonic()
        joined = self._stream.joined
        # Over one second at least: rounds closer together (a test's) count as one second.
        self.flooding = joined - self._seen >= self._burst_per_s * max(now - self._looked, 1.0)
        self._seen, self._looked = joined, now
        return self.flooding


class HeapKeeper(BackgroundWorker):
    """Keeps the cyclic garbage collector out of the way of a flood of tills connecting.

    Every till holds a few dozen long-lived objects; each full collection walks all of them (about a second at
    10,000 tills), and a fan-out's allocations make one due every few seconds. So:
    - while tills flood in (`Arrivals`), the collector waits; once they stop (or after `max_wait_s`) what lives is
      frozen (`gc.freeze`, which walks nothing): later collections walk only what came since, and neither the last
      tills of the flood nor a change's fan-out is held up by a walk over ten thousand connections. The flood's own
      cyclic garbage (about 27 objects a till: handshake protocol objects) is frozen with it, until the next thaw;
    - frozen objects are never collected, so once `refreeze_after` tills have gone since (their connections'
      cycles are garbage now) the heap is thawed, collected and frozen again at a quiet moment.
    Each full collection longer than `slow_s` is logged.
    """

    def __init__(
        self,
        stream: StreamServices,
        arrivals: Arrivals,
        *,
        every_s: float = 1.0,
        max_wait_s: float = 30.0,
        refreeze_after: int = 1000,
        slow_s: float = 0.2,
    ) -> None:
        super().__init__("heap-keeper", idle_s=every_s)
        self._stream = stream
        self._arrivals = arrivals
        self._every_s, self._max_wait_s, self._slow_s = every_s, max_wait_s, slow_s
        self._refreeze_after = refreeze_after
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
        flooding, left, now = self._arrivals.look(), self._stream.left, time.monotonic()
        if flooding and self._waiting_since is None:
            gc.disable()
            self._waiting_since = now
        elif self._waiting_since is not None and (not flooding or now - self._waiting_since >= self._max_wait_s):
            gc.freeze()
            log.info("tills flooded in: %d objects frozen", gc.get_freeze_count())
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
        found = gc.collect()
        gc.freeze()
        self._left_at_freeze = self._stream.left
        log.info(
            "%s: %d unreachable objects collected, %d frozen, in %.0f ms",
            why,
            found,
            gc.get_freeze_count(),
            (time.perf_counter() - began) * 1000,
        )

    async def stop(self) -> None:
        await super().stop()
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        if self._waiting_since is not None:
            self._waiting_since = None
            gc.enable()


class PresenceWriter(BackgroundWorker):
    """Writes the presence every `every_s`; what is left is written when the service stops.

    While tills flood in (a restart's storm), the writing waits, `max_wait_s` at most: the core goes to bringing
    the tills back, and their rows and `till.presence` events are written (in batches) once they are back."""

    def __init__(self, presence: Presence, arrivals: Arrivals, *, every_s: float, max_wait_s: float = 30.0) -> None:
        super().__init__("presence-writer", idle_s=every_s)
        self._presence = presence
        self._arrivals = arrivals
        self._every_s, self._max_wait_s = every_s, max_wait_s
        self._waiting_since: float | None = None

    async def round(self) -> float | None:
        now = time.monotonic()
        if self._arrivals.flooding:
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < self._max_wait_s:
                return self._every_s
        self._waiting_since = None
        await self._presence.flush()
        return self._every_s

    async def stop(self) -> None:
        await super().stop()
        await self._presence.flush()


class TokenSweeper(BackgroundWorker):
    """Every `every_s`: warns the tills whose token ends soon, closes those whose token ended, and keeps the tokens
    verified since in the database (not while tills flood in: then they are written once the flood is over)."""

    def __init__(
        self, stream: StreamServices, tokens: RememberedTokens, arrivals: Arrivals, *, every_s: float = 5.0
    ) -> None:
        super().__init__("token-sweeper", idle_s=every_s)
        self._stream = stream
        self._tokens = tokens
        self._arrivals = arrivals
        self._every_s = every_s

    async def round(self) -> float | None:
        await self._stream.sweep()
        if not self._arrivals.flooding:
            await self._tokens.save()
        return self._every_s

    async def stop(self) -> None:
        await super().stop()
        await self._tokens.save()
