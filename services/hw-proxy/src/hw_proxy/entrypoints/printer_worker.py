"""The till's printer worker: prints the print jobs in order, in the background, from the app's start to its stop.

Woken at once when a job is stored (the receipt of a sale is on the paper a moment after the finalize answered);
while the printer cannot take the first job (off line, out of paper, a job cut mid-way) it tries again after a
delay drawn with full jitter that grows with the failures in a row, capped, so that a printer that comes back is
used within seconds. While nothing waits, it asks the printer its state every `poll_s` (0: never), so the status
route shows paper out or off line before the next sale. A failure of the worker itself is logged and retried: it
never touches a sale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hw_proxy.domain.printing import PrinterStatus
from hw_proxy.domain.reconnect import reconnect_delay
from hw_proxy.entrypoints.background import WakeableWorker
from hw_proxy.service_layer.ports import Clock, ReceiptPrinter, ReceiptRenderer, TillStore
from hw_proxy.service_layer.printing import check_printer, print_next
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)


class PrinterWorker(WakeableWorker):
    """`nudge()` after a job is stored, or retried, wakes it (even during a backoff: the cashier asked); `idle` is
    set while no job waits that the printer could print."""

    name = "printer worker"

    def __init__(
        self,
        store: TillStore,
        state: TillState,
        printer: ReceiptPrinter,
        renderer: ReceiptRenderer,
        *,
        clock: Clock,
        retry_first_s: float,
        retry_max_s: float,
        poll_s: float = 0.0,
    ) -> None:
        super().__init__()
        self._store = store
        self._state = state
        self._printer = printer
        self._renderer = renderer
        self._clock = clock
        self._first_s = retry_first_s
        self._max_s = retry_max_s
        self._poll_s = poll_s
        self.status = PrinterStatus()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                outcome = await print_next(
                    self._store, self._state, self._printer, self._renderer, self.status, now=self._clock()
                )
            except Exception:  # a bug or a full disk must not end the printing for the day: log, wait, try again
                log.exception("the printer worker failed")
                outcome = "waiting"
            if outcome == "printed":
                failures = 0
                continue
            if outcome == "idle":
                failures = 0
                self.idle.set()
                await self._idle_until_woken()
                continue
            delay = reconnect_delay(failures, first_s=self._first_s, max_s=self._max_s)
            failures += 1
            log.info("the printer cannot print now (%s): tried again in %.1f s", self.status.reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _idle_until_woken(self) -> None:
        """Wait for a job, asking the printer its state every poll interval meanwhile."""
        while self._poll_s > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
            except TimeoutError:
                try:
                    await check_printer(self._store, self._state, self._printer, self.status, now=self._clock())
                except Exception:  # a status request must never end the printing for the day
                    log.exception("the printer's state could not be read")
                continue
            return
        await self._wake.wait()
