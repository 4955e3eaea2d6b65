"""How soon the tickets sold while Paheko was down reach it once it is back: from its restart to the last of them.

The bench runs a Paheko of its own, the same installation as CAISSE_PAHEKO_URL's (CAISSE_PAHEKO_ROOT, its `src/`
folder) served by `php -S` on a port of its own, so that it can stop and start it without touching anyone
else's. Its tills sell at 20 tickets/s while Paheko is up, then while it is down, and Paheko stays down a while
longer (each waiting ticket's backoff grows, as in a real outage); then Paheko starts again. The figure is the
time from that start to the bridge's `pushed_at` of the last waiting ticket, beside the wait the bridge's
settings promise: the circuit's time to its probe, one retry delay, and the backlog at PRODUCT.md's 200 tickets/s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench import calibration
from bench.cpu import CpuShares
from bench.finalize import BRIDGE_DATABASE, drive, fresh_consumers, loadgen, tills_config
from bench.paheko_latency import TILLS, paheko_company, paheko_settings
from bench.report import Figure
from caisse_stack import ensure_up, postgres, simulator
from caisse_stack.demo_data import add_tills
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME, admin_token, start_all, stop_all
from paheko_bridge.config import Settings as BridgeSettings

RATE = 20.0
UP_S = 5.0
"""Sales while Paheko is up: the chain is warm and the circuit closed when Paheko goes."""
DOWN_S = 20.0
"""Sales while Paheko is down."""
STILL_DOWN_S = 40.0
"""Paheko stays down this much longer with nothing sold: the waiting tickets' delays grow."""
PAHEKO_RATE = 200.0
"""PRODUCT.md's sustained rate into one Paheko, for the backlog's share of the target."""
RUNS = 3
"""Three outages, each with tills of its own: the figure is the median of their times to the last ticket."""


class OwnPaheko:
    """`php -S` of the Paheko in CAISSE_PAHEKO_ROOT on a free port, stopped and started by the bench."""

    def __init__(self, root: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._root = root
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{self.port}", "-t", "www", "www/_route.php"],
            cwd=self._root,
            env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its workers are its children: stopping the group stops them all
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit(f"the bench's Paheko did not answer on {self.url}")

    def stop(self) -> None:
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=10)
            self._process = None


async def pushed_at(inst: Instance, pos_ids: list[uuid.UUID], expected: int, timeout_s: float) -> list[datetime]:
    """When the bridge pushed each ticket of these tills, once all `expected` are in Paheko."""
    conn = await asyncpg.connect(postgres.dsn(inst, BRIDGE_DATABASE))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await conn.fetch(
                "select pushed_at from pushes where pos_id = any($1::uuid[]) and status = 'pushed'", pos_ids
            )
            if len(rows) >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    if len(rows) < expected:
        raise SystemExit(f"only {len(rows)} of {expected} tickets reached Paheko {timeout_s:.0f} s after its restart")
    return [r["pushed_at"] for r in rows]


def run() -> list[Figure]:
    settings = paheko_settings(also=("CAISSE_PAHEKO_ROOT",))
    if settings is None:
        return []
    _, user, password, root = settings
    inst = ensure_up("test").instance
    binary = loadgen(inst)
    stop_all(inst)
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    paheko = OwnPaheko(root)
    paheko.start()
    outages: list[tuple[int, list[float], CpuShares]] = []
    try:  # a service that does not start stops the others with it
        start_all(inst, fresh_consumers(inst))
        shop, tag = paheko_company(inst, pos_api, paheko.url, user, password)
        for n in range(RUNS):  # each outage its own tills, so that it measures only its own tickets
            tills = add_tills(pos_api, admin_token(inst), shop, "EUR", TILLS, f"PAHEKO-R-{tag}-{n}")
            pos_ids = [uuid.UUID(t.pos_id) for t in tills]
            runs = asyncio.run(simulator.prepare(pos_api, inst.kafka_bootstrap, tills))
            config = tills_config(runs)
            up: dict[str, Any] = drive(binary, pos_api, config, mode="paced", duration_s=UP_S, rate=RATE)
            asyncio.run(pushed_at(inst, pos_ids, int(up["sold"]), timeout_s=60))
            paheko.stop()
            down: dict[str, Any] = drive(binary, pos_api, config, mode="paced", duration_s=DOWN_S, rate=RATE)
            time.sleep(STILL_DOWN_S)
            shares = CpuShares(inst)
            shares.start()
            restarted = datetime.now(UTC)
            paheko.start()
            expected = int(up["sold"]) + int(down["sold"])
            times = asyncio.run(pushed_at(inst, pos_ids, expected, timeout_s=600))
            shares.stop()
            after = sorted((t - restarted).total_seconds() for t in times if t > restarted)
            outages.append((int(down["sold"]), after, shares))
    finally:
        stop_all(inst)
        paheko.stop()
    bridge = BridgeSettings()
    lasts = [after[-1] for _, after, _ in outages]
    waiting = statistics.median(len(after) for _, after, _ in outages)
    promised = bridge.breaker_ttl_s + bridge.retry_max_s + waiting / PAHEKO_RATE
    for i, (sold, after, shares) in enumerate(outages, 1):
        sys.stdout.write(
            f"paheko recovery, outage {i}: {sold} tickets sold while Paheko was down ({DOWN_S:.0f} s, then"
            f" {STILL_DOWN_S:.0f} s more down); after its restart the first reached it in {after[0]:.1f} s,"
            f" the last in {after[-1]:.1f} s; {shares.describe(len(after))}\n"
        )
    return [
        Figure(
            what=f"Paheko restart → last of ~{waiting:.0f} waiting tickets in Paheko, median of {RUNS} outages",
            measured=statistics.median(lasts),
            unit="s",
            target=promised,
            runs=len(lasts),
            spread=f"per outage {', '.join(f'{t:.1f}' for t in lasts)} s; first after"
            f" {statistics.median(after[0] for _, after, _ in outages):.1f} s; circuit {bridge.breaker_ttl_s:.0f} s"
            f" + retry {bridge.retry_max_s:.0f} s + backlog at {PAHEKO_RATE:.0f}/s; pgbench {yardstick.tps:.0f} tps",
        )
    ]
