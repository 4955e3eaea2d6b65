"""The forwarding loop: pushes what is due, closes what is complete and books the deposits of closed sessions, woken by arrivals, else every second.

The second matters: it is how a ticket whose backoff expired, or a circuit that closed again, gets its turn.
Rounds are at least `gather_s` apart while tickets flow in: a ticket waits that much longer (the target is an
entry in Paheko within 2 s), and each round carries many tickets, so that a company without Paheko writes and
flushes its FEC file a few times a second rather than once per ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from paheko_bridge.service_layer.close import close_ready
from paheko_bridge.service_layer.deposit import deposits_ready
from paheko_bridge.service_layer.push import push_due
from paheko_bridge.service_layer.services import BridgeServices

log = logging.getLogger(__name__)

ROUND_LIMIT = 500
"""Tickets taken per round at most."""


class Forwarder:
    def __init__(self, services: BridgeServices, *, idle_s: float = 1.0, gather_s: float = 0.25) -> None:
        self._services = services
        self._idle_s = idle_s
        self._gather_s = gather_s
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="paheko-bridge forwarder")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self._wake.clear()
            started = loop.time()
            try:
                busy = await push_due(self._services, limit=ROUND_LIMIT)
                await close_ready(self._services)
                await deposits_ready(self._services)
            except Exception:  # a failing round (database away, say) leaves everything stored; the next one retries
                log.exception("paheko-bridge: forwarding round failed; retrying")
                busy = 0
            if busy >= ROUND_LIMIT:
                continue  # a backlog: the next round right away
            if busy:
                await asyncio.sleep(max(0.0, started + self._gather_s - loop.time()))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)
