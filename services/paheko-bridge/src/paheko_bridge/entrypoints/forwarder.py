"""The forwarding loop: pushes what is due, closes what is complete and books the deposits of closed sessions, woken by arrivals, else every second.

The second matters: it is how a ticket whose backoff expired, or a circuit that closed again, gets its turn.
Rounds are at least `gather_s` apart while tickets flow in: a ticket waits that much longer (the target is an
entry in Paheko within 2 s), and each round carries many tickets, so that a company without Paheko writes and
flushes its FEC file a few times a second rather than once per ticket.
"""

from __future__ import annotations

import asyncio

from caisse_runtime.worker import BackgroundWorker
from paheko_bridge.service_layer.close import close_ready
from paheko_bridge.service_layer.deposit import deposits_ready
from paheko_bridge.service_layer.push import push_due
from paheko_bridge.service_layer.services import BridgeServices

ROUND_LIMIT = 500
"""Tickets taken per round at most."""


class Forwarder(BackgroundWorker):
    def __init__(self, services: BridgeServices, *, idle_s: float = 1.0, gather_s: float = 0.25) -> None:
        super().__init__("paheko-bridge forwarder", idle_s=idle_s)
        self._services = services
        self._gather_s = gather_s

    async def round(self) -> float | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        busy = await push_due(self._services, limit=ROUND_LIMIT)
        await close_ready(self._services)
        await deposits_ready(self._services)
        if busy >= ROUND_LIMIT:
            return 0  # a backlog: the next round right away
        if busy:
            return max(0.0, started + self._gather_s - loop.time())
        return None
