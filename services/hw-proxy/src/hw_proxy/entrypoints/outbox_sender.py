"""The till's background sender: drains the outbox to pos-api whenever there is something to send, and after a
failure waits a delay drawn with full jitter that grows with the failures in a row (capped), so that the tills of
a federation coming back together do not flood pos-api at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from hw_proxy.domain.reconnect import Draw, reconnect_delay
from hw_proxy.entrypoints.background import WakeableWorker
from hw_proxy.service_layer.ports import CentralApi, Clock, TillStore
from hw_proxy.service_layer.send_outbox import send_next

log = logging.getLogger(__name__)


class OutboxSender(WakeableWorker):
    """Runs from the app's start to its stop; `nudge()` after something is queued wakes it at once (`idle` is set
    while the queue is empty); `aside_found` is called when pos-api refused entries that the till now keeps aside
    (ops should know)."""

    name = "outbox sender"

    def __init__(
        self,
        store: TillStore,
        central: CentralApi,
        *,
        clock: Clock,
        batch_max: int,
        retry_first_s: float,
        retry_max_s: float,
        draw: Draw | None = None,
        aside_found: Callable[[], None] | None = None,
        in_flight: AbstractSet[str] = frozenset(),
    ) -> None:
        super().__init__()
        self._store = store
        self._central = central
        self._clock = clock
        self._batch_max = batch_max
        self._first_s = retry_first_s
        self._max_s = retry_max_s
        self._draw = draw
        self._aside_found = aside_found
        self._in_flight = in_flight

    def _delay(self, failures: int) -> float:
        if self._draw is None:
            return reconnect_delay(failures, first_s=self._first_s, max_s=self._max_s)
        return reconnect_delay(failures, first_s=self._first_s, max_s=self._max_s, draw=self._draw)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                done = await send_next(
                    self._store, self._central, batch_max=self._batch_max, now=self._clock(), in_flight=self._in_flight
                )
            except Exception:  # the sender must outlive any one failure (a full disk, a bug): log it, try again
                log.exception("the outbox sender failed")
                done = None
            if done is not None and done.aside and self._aside_found is not None:
                self._aside_found()
            if done is not None and done.held:  # the forward under way wakes it when it ends
                await self._wake.wait()
                continue
            if done is not None and done.empty:
                failures = 0
                self.idle.set()
                await self._wake.wait()
                self.idle.clear()
                continue
            if done is not None and done.reached:
                failures = 0
                continue
            delay = self._delay(failures)
            failures += 1
            log.info("pos-api out of reach: the till's queue is sent again in %.1f s", delay)
            # new entries do not cut the wait short: the backoff is what spares a pos-api coming back
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
