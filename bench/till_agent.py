"""The till's own agent (issue 17): hw-proxy selling while the central side is down, then syncing what it owes.

Every service runs on the launcher's test instance (fresh consumer groups and bridge store, as the other
benchmarks). Each run has a till of its own, registered in the demo's first shop with a network receipt printer,
our virtual ESC/POS printer (`python -m caisse_devices.printer`, a process of the bench's own on 127.0.0.1), and an
hw-proxy of its own for it (a process the bench starts and stops by its pid, a fresh SQLite store, its config from
the notifier's stream):

- idle: once the till is READY_OPEN, its cashier logged in online, its session opened and its first sale made
  (online) and printed — a till prints on its first sale, and python-escpos is loaded then —, hw-proxy is left
  alone, then its resident set size is read from /proc (the median of a few readings);
- pos-api stopped and 10,000 sales finalized one after the other as the till's web app does it
  (`POST /v1/baskets/{id}/finalize` with the basket at payment, two bags paid in cash), each receipt printed in the
  background as on a real till: the latency of each finalize as the web app sees it (p99 and p50), the CPU of
  hw-proxy per sale and its receipt; then, every receipt on the paper, its RSS holding the 10,000 sales queued;
- pos-api started again: from the moment it answers to the till's queue empty (every sale answered `created`,
  through `POST /v1/sync/sales` in batches of `SYNC_BATCH_MAX`), the total time and sales/s, with the CPU per sale
  of every process of the stack and of hw-proxy. The sender's retry cap is 1 s (`SEND_RETRY_MAX_S`): at most that
  long is lost after pos-api is back before the first batch goes.

pgbench's TPC-B is measured in the same run, on the quiet stack first, as the other throughput figures read it.
Three runs (10,000 sales each take a minute or two through HTTP; the machine's two cores are shared with other
work); each figure is the median beside the range.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from bench import calibration
from bench.cpu import CpuShares, cpu_seconds
from bench.finalize import fresh_consumers
from bench.idle_rss import rss_mb
from bench.report import Figure
from caisse_stack import ensure_up
from caisse_stack.demo import ensure_demo_data
from caisse_stack.demo_data import Demo, DemoTill, add_tills
from caisse_stack.layout import Instance
from caisse_stack.processes import stop_pid
from caisse_stack.services import BY_NAME, admin_token, executable, pid_file, service_env, start_all, stop_all

PRINTED_TIMEOUT_S: Final = 600.0

RUNS: Final = 3
SALES: Final = 10_000
PIN: Final = "4821"
PRODUCT: Final = "Sac cabas"
FINALIZE_P99_MS: Final = 20.0
IDLE_MB: Final = 80.0
QUEUED_MB: Final = 100.0
IDLE_S: Final = 5.0
"""hw-proxy left alone this long before its idle RSS is read."""
SYNC_TIMEOUT_S: Final = 300.0
FLOAT: Final = [{"value": 1000, "count": 5}]


@dataclass(frozen=True)
class Run:
    """One till's day: its idle RSS, 10,000 finalizes with pos-api stopped, then their sync."""

    idle_mb: float
    queued_mb: float
    latencies_ms: list[float]
    making_s: float
    agent_ms_per_sale: float
    sync_s: float
    outcomes: Counter[str]
    shares: CpuShares
    agent_sync_ms_per_sale: float

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def rate(self) -> float:
        return SALES / self.sync_s


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(probe: Any, what: str, timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if got := probe():
            return got
        time.sleep(every_s)
    raise RuntimeError(f"timed out waiting for {what}")


def rss_median(pid: int, samples: int = 5) -> float:
    readings = []
    for _ in range(samples):
        readings.append(rss_mb(pid))
        time.sleep(0.5)
    return statistics.median(readings)


class Printer:
    """Our virtual ESC/POS printer, a process of the bench's own on a free loopback port; each job it prints is one
    `--- job` line in its log."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log_path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "caisse_devices.printer", "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: b"virtual ESC/POS printer on" in log.read_bytes(), "the virtual printer", timeout_s=30)

    def jobs(self) -> int:
        return self.log_path.read_bytes().count(b"--- job (")

    @property
    def config(self) -> dict[str, Any]:
        """The POS's `printer` field for it."""
        return {"connection": {"kind": "network", "host": "127.0.0.1", "port": self.port}}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


class Agent:
    """The till's hw-proxy, a process of the bench's own on a free loopback port."""

    def __init__(self, inst: Instance, till: DemoTill, store: Path) -> None:
        self.port = free_port()
        self.store = store
        env = service_env(
            BY_NAME["hw-proxy"],
            inst,
            port=self.port,
            extra={
                "store_path": str(store),
                "device_serial": till.serial,
                "device_secret": till.secret,
                "pos_api_url": f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}",
                "send_retry_max_s": "1",
                "log_level": "WARNING",
            },
        )
        self.log = store.with_suffix(".log").open("ab")
        self.process = subprocess.Popen(
            [executable("hw-proxy")], env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def status(self) -> dict[str, Any]:
        try:
            body: dict[str, Any] = self.http.get("/v1/status").json()
        except httpx.TransportError:
            return {}
        return body

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


def outcomes(store: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return Counter(f"{r[0]} {r[1]}" for r in conn.execute("select state, outcome from outbox where kind = 'sale'"))
    finally:
        conn.close()


def queue_empty(agent: Agent) -> bool:
    queue: dict[str, Any] = agent.status().get("queue") or {}
    return queue.get("pending_sales") == 0 and queue.get("pending_sessions") == 0


def one_run(inst: Instance, demo: Demo, settings: dict[str, dict[str, str]], workdir: Path) -> Run:
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    shop = demo.tills[0].shop_id
    serial = f"AGENT-{uuid.uuid4().hex[:6]}"
    printer = Printer(workdir / f"{serial}-printer.log")
    till = add_tills(pos_api, admin_token(inst), shop, "EUR", 1, serial, printer=printer.config)[0]
    cashier = demo.cashiers[shop]
    agent = Agent(inst, till, workdir / f"{till.serial}.sqlite3")
    product = demo.products["FR"][PRODUCT]
    due: int | None = None

    def sale() -> dict[str, Any]:
        nonlocal due
        line = {"line_id": str(uuid.uuid4()), "product_id": product, "quantity": 2}
        if due is None:
            saved = agent.http.put(f"/v1/baskets/{uuid.uuid4()}", json={"version": 0, "content": {"lines": [line]}})
            due = int(saved.raise_for_status().json()["computed"]["cash_due"])
        payment = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": due}
        return {"version": 0, "content": {"lines": [line], "payments": [payment]}}

    try:
        wait_for(lambda: agent.status().get("status") == "READY_OPEN", "the till's config", timeout_s=90)
        login = agent.http.post("/v1/cashier/login", json={"operator_id": cashier, "pin": PIN})
        if login.status_code != 200:
            raise RuntimeError(f"login refused: {login.text}")
        opened = agent.http.post("/v1/session/open", json={"float_counts": FLOAT})
        if opened.status_code != 201:
            raise RuntimeError(f"session not opened: {opened.text}")
        first = agent.http.post(f"/v1/baskets/{uuid.uuid4()}/finalize", json=sale())
        if first.status_code != 201:
            raise RuntimeError(f"finalize refused: {first.text}")
        wait_for(lambda: printer.jobs() == 1, "the first receipt on the paper")
        wait_for(lambda: queue_empty(agent), "the session and the first sale sent to pos-api")
        time.sleep(IDLE_S)  # left alone: what a till that has printed holds at rest
        idle_mb = rss_median(agent.process.pid)

        stop_pid(pid_file(inst, "pos-api"))  # the central side is down
        latencies: list[float] = []
        cpu_before = cpu_seconds(agent.process.pid) or 0.0
        started = time.perf_counter()
        for _ in range(SALES):
            body = sale()
            began = time.perf_counter()
            done = agent.http.post(f"/v1/baskets/{uuid.uuid4()}/finalize", json=body)
            latencies.append((time.perf_counter() - began) * 1000)
            if done.status_code != 201:
                raise RuntimeError(f"finalize refused: {done.text}")
        making_s = time.perf_counter() - started
        wait_for(lambda: printer.jobs() == SALES + 1, "every receipt on the paper", timeout_s=PRINTED_TIMEOUT_S)
        agent_ms = ((cpu_seconds(agent.process.pid) or 0.0) - cpu_before) * 1000 / SALES
        queue = agent.status()["queue"]
        if queue["pending_sales"] != SALES:
            raise RuntimeError(f"the queue holds {queue['pending_sales']} sales, not {SALES}")
        queued_mb = rss_median(agent.process.pid)

        start_all(inst, settings)  # pos-api back: it answers from here
        shares = CpuShares(inst)
        shares.start()
        cpu_before = cpu_seconds(agent.process.pid) or 0.0
        back = time.perf_counter()
        wait_for(lambda: queue_empty(agent), "the till's queue synced", timeout_s=SYNC_TIMEOUT_S, every_s=0.05)
        sync_s = time.perf_counter() - back
        agent_sync_ms = ((cpu_seconds(agent.process.pid) or 0.0) - cpu_before) * 1000 / SALES
        shares.stop()
        return Run(
            idle_mb, queued_mb, latencies, making_s, agent_ms, sync_s, outcomes(agent.store), shares, agent_sync_ms
        )
    finally:
        agent.stop()
        printer.stop()


def split(per_process: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.2f}" for name, ms in per_process.items() if ms >= 0.005 and name != "load generator")


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    stop_all(inst)
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    runs: list[Run] = []
    settings = fresh_consumers(inst)
    try:  # a service that does not start stops the others with it
        start_all(inst, settings)
        demo = ensure_demo_data(inst)
        token = admin_token(inst)
        pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
        with httpx.Client(base_url=pos_api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
            admin.put(f"/v1/operators/{demo.cashiers[demo.tills[0].shop_id]}/pin", json={"pin": PIN})
        with tempfile.TemporaryDirectory(prefix="bench-till-agent-") as workdir:
            for n in range(1, RUNS + 1):
                runs.append(one_run(inst, demo, settings, Path(workdir)))
                r = runs[-1]
                say(
                    f"till agent, run {n}: idle {r.idle_mb:.1f} MB; {SALES:,} finalizes with pos-api stopped in"
                    f" {r.making_s:.1f} s, p50 {r.p50:.2f} ms, p99 {r.p99:.2f} ms, max {max(r.latencies_ms):.1f} ms,"
                    f" hw-proxy {r.agent_ms_per_sale:.2f} ms CPU per sale and receipt; {r.queued_mb:.1f} MB holding them;"
                    f" synced in {r.sync_s:.1f} s ({r.rate:.0f} sales/s) {dict(r.outcomes)}; CPU ms per synced"
                    f" sale: hw-proxy {r.agent_sync_ms_per_sale:.2f}, {split(r.shares.per_item(SALES))}"
                )
    finally:
        stop_all(inst)
    return figures(runs, yardstick)


def _spread(values: list[float], unit: str, digits: int = 1) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f} {unit}"


def figures(runs: list[Run], yardstick: calibration.Yardstick) -> list[Figure]:
    p99 = [r.p99 for r in runs]
    p50 = [r.p50 for r in runs]
    sync_s = [r.sync_s for r in runs]
    rates = [r.rate for r in runs]
    idle = [r.idle_mb for r in runs]
    queued = [r.queued_mb for r in runs]
    not_created = sum(SALES + 1 - r.outcomes["sent created"] for r in runs)  # the first sale was sent online
    stack_cpu = [sum(v for k, v in r.shares.per_item(SALES).items() if k != "load generator") for r in runs]
    agent_cpu = [r.agent_ms_per_sale for r in runs]
    label = f"{SALES:,} sales on one till"
    return [
        Figure(
            what="till finalize p99, pos-api stopped (web app → hw-proxy → SQLite)",
            measured=statistics.median(p99),
            unit="ms",
            target=FINALIZE_P99_MS,
            runs=len(p99),
            spread=f"{_spread(p99, 'ms', 2)}; p50 {statistics.median(p50):.2f} ms; hw-proxy CPU"
            f" {statistics.median(agent_cpu):.2f} ms per sale and its printed receipt"
            f" = {statistics.median(agent_cpu) * yardstick.tps / 1000:.2f} pgbench transactions"
            f" ({yardstick.tps:.0f} tps); {SALES:,} one after the other a run",
        ),
        Figure(
            what=f"{label} made offline, then synced: pos-api back → queue empty",
            measured=statistics.median(sync_s),
            unit="s",
            target=None,
            runs=len(sync_s),
            spread=f"{_spread(sync_s, 's')}; {not_created} sales not answered created; CPU per sale"
            f" {statistics.median(stack_cpu):.2f} ms stack + hw-proxy"
            f" {statistics.median([r.agent_sync_ms_per_sale for r in runs]):.2f} ms"
            f" = {statistics.median(stack_cpu) * yardstick.tps / 1000:.2f} pgbench transactions",
        ),
        Figure(
            what=f"{label} made offline, then synced: sales/s",
            measured=statistics.median(rates),
            unit="sales/s",
            target=None,
            higher_is_better=True,
            runs=len(rates),
            spread=f"{_spread(rates, 'sales/s', 0)}; ÷ pgbench TPC-B {statistics.median(rates) / yardstick.tps:.2f}×"
            f" (pgbench {yardstick.tps:.0f} tps, same run)",
        ),
        Figure(
            what="hw-proxy RSS idle (enrolled, config held, cashier in, first receipt printed)",
            measured=statistics.median(idle),
            unit="MB",
            target=IDLE_MB,
            runs=len(idle),
            spread=_spread(idle, "MB"),
        ),
        Figure(
            what=f"hw-proxy RSS holding {SALES:,} queued sales",
            measured=statistics.median(queued),
            unit="MB",
            target=QUEUED_MB,
            runs=len(queued),
            spread=_spread(queued, "MB"),
        ),
    ]
