"""The till's watch over its numbering and its report to ops, from start to stop.

At start it checks the till's numbers against pos-api (`service_layer.boot.check_numbers`) and reports. While a
number clash stops the selling, it asks again every `recheck_s`, so that a till released by ops sells again
without a restart; otherwise it reports every `report_every_s`, and at once when `nudge()` says that something
changed (an entry kept aside). A check or a report that finds pos-api out of reach is tried again at the next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hw_proxy.service_layer.boot import check_numbers
from hw_proxy.service_layer.ports import CentralApi, Clock, TillStore
from hw_proxy.service_layer.reporting import report_to_ops
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)


class TillWatch:
    """`checked` is set once the first check has ended (answered or not): the till's status is known from then."""

    def __init__(
        self,
        store: TillStore,
        central: CentralApi,
        state: TillState,
        *,
        clock: Clock,
        recheck_s: float,
        report_every_s: float,
    ) -> None:
        self._store = store
        self._central = central
        self._state = state
        self._clock = clock
        self._recheck_s = recheck_s
        self._report_every_s = report_every_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.checked = asyncio.Event()

    def nudge(self) -> None:
        """Something ops should see changed: report at once."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="till-watch")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _turn(self) -> None:
        try:
            await check_numbers(self._store, self._central, self._state)
        finally:
            self.checked.set()
        await report_to_ops(self._store, self._central, self._state, self._clock())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._turn()
            except Exception:  # the watch must outlive any one failure: log it, try again at the next turn
                log.exception("the till's numbering check or report failed")
            wait = self._recheck_s if self._state.number_clash is not None else self._report_every_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
