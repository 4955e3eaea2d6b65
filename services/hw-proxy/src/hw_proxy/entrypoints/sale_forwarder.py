"""Hands each sale just finalized to pos-api in the background, so that the cashier's receipt never waits for it.

One task per sale (`service_layer.selling.forward_sale`, bounded by the short forward timeout); a sale left
queued (pos-api out of reach or slow) wakes the background sender, which syncs it; one refused and kept aside wakes
the till's watch, which reports it to ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from caisse_contracts.events import TicketFinalizedV1
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.service_layer.ports import CentralApi, Clock, TillStore
from hw_proxy.service_layer.selling import forward_credit_note, forward_sale

log = logging.getLogger(__name__)

RESULTS_KEPT = 1000


class SaleForwarder:
    """The online forward of finalized sales, each in a task of its own; `idle` waits for those under way."""

    def __init__(
        self,
        store: TillStore,
        central: CentralApi,
        *,
        clock: Clock,
        queued: Callable[[], None],
        aside_found: Callable[[], None] | None = None,
        in_flight: set[str] | None = None,
    ) -> None:
        self._store = store
        self._central = central
        self._clock = clock
        self._queued = queued
        self._aside_found = aside_found
        self._tasks: set[asyncio.Task[str]] = set()
        self.in_flight: set[str] = in_flight if in_flight is not None else set()
        """The ids of the tickets being forwarded right now: the background sender leaves them to the forward."""
        self.results: dict[int, str] = {}
        """What became of the last `RESULTS_KEPT` sales or credit notes forwarded on this run, by number (`sent`,
        `aside`, `queued`): for the tests and the benchmark; the store holds what matters."""

    def forward(self, done: FinalizedSale) -> None:
        self.in_flight.add(str(done.sale.ticket_id))
        task = asyncio.create_task(self._run(done), name=f"forward-sale-{done.number}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, done: FinalizedSale) -> str:
        try:
            result = await forward_sale(self._store, self._central, done, now=self._clock())
        except Exception:  # the sale is stored and queued: the sender will send it
            log.exception("the online forward of sale %s failed: the sync will send it", done.number)
            result = "queued"
        finally:
            self.in_flight.discard(str(done.sale.ticket_id))
        self._kept(done.number, result)
        self._after(result)
        return result

    def forward_credit_note(self, ticket: TicketFinalizedV1) -> None:
        self.in_flight.add(str(ticket.ticket_id))
        task = asyncio.create_task(self._run_credit_note(ticket), name=f"forward-credit-note-{ticket.number}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_credit_note(self, ticket: TicketFinalizedV1) -> str:
        try:
            result = await forward_credit_note(self._store, self._central, ticket, now=self._clock())
        except Exception:  # stored and queued: the sender will send it
            log.exception("the online forward of credit note %s failed: the sync will send it", ticket.number)
            result = "queued"
        finally:
            self.in_flight.discard(str(ticket.ticket_id))
        self._kept(ticket.number, result)
        self._after(result)
        return result

    def _kept(self, number: int, result: str) -> None:
        self.results[number] = result
        if len(self.results) > RESULTS_KEPT:
            del self.results[next(iter(self.results))]  # the oldest: a till runs for months

    def _after(self, result: str) -> None:
        self._queued()  # queued, or sent: either way the sender may go on past it
        if result == "aside" and self._aside_found is not None:
            self._aside_found()

    async def idle(self) -> None:
        """Wait until every forward under way has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
