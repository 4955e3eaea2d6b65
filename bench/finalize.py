"""Finalize on the real stack: sustained throughput of concurrent tills, and latency at a steady 100 tickets/s.

All five services run on the launcher's test instance with Kafka and PostgreSQL. The tills are driven over
loopback HTTP by `bench/loadgen` (Go, so that the load takes little of the two cores it shares with what it
measures): each till saves a 3-line basket (PUT) and finalizes it with its next number, one ticket at a time.
Throughput counts finalized tickets; latency is the finalize call's. The throughput is the median of three
full minutes and the p99 that of two paced half-minutes together, each printed beside the range of its runs:
a single run on a shared two-core machine says as much about its neighbours as about the stack.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench import calibration
from bench.cpu import CpuShares
from bench.report import Figure
from caisse_contracts.topics import CONSUMER_GROUPS
from caisse_stack import blocking, ensure_up, postgres, simulator
from caisse_stack.demo import ensure_demo_data
from caisse_stack.demo_data import DemoTill, add_tills
from caisse_stack.kafka import start_group_at_end
from caisse_stack.layout import Instance, repo_root
from caisse_stack.services import BY_NAME, admin_token, start_all, stop_all

TILLS = 32
POS_API_PROCESSES = 2
"""pos-api's server processes in the run, one per core of this machine: deploy/k8s runs two replicas of it
(stateless; a sale's write guards itself in SQL), and one process's event loop is the limit on its own."""
REFERENCE_S = 30.0
SUSTAIN_S = 60.0
SUSTAIN_RUNS = 3
"""The machine is shared and has two cores: the figure is the median of several full minutes, beside their range."""
PACED_RATE = 100.0
PACED_S = 30.0
PACED_RUNS = 2
BRIDGE_DATABASE = "caisse_paheko_bridge_bench"


def bench_tills(inst: Instance, pos_api: str, count: int = TILLS) -> list[DemoTill]:
    """`count` tills of the demo's first shop, registered once per instance and kept beside it."""
    path = inst.folder / "bench-tills.json"
    tills = [DemoTill(**t) for t in json.loads(path.read_text())] if path.is_file() else []
    if len(tills) < count:
        demo = ensure_demo_data(inst)
        shop = demo.tills[0].shop_id
        prefix = f"BENCH-{uuid.uuid4().hex[:6]}"
        tills += add_tills(pos_api, admin_token(inst), shop, "EUR", count - len(tills), prefix)
        path.write_text(json.dumps([t.__dict__ for t in tills]))
    return tills[:count]


def loadgen(inst: Instance) -> Path:
    """The Go load generator, built once into the instance folder."""
    binary = inst.folder / "bin" / "loadgen"
    source = repo_root() / "bench" / "loadgen"
    newest = max(p.stat().st_mtime for p in source.iterdir())
    if not binary.is_file() or binary.stat().st_mtime < newest:
        go = shutil.which("go")
        if go is None:
            raise SystemExit("Go is needed to build bench/loadgen")
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=source, check=True)
    return binary


def tills_config(runs: list[simulator.TillRun]) -> list[dict[str, Any]]:
    config = []
    for run in runs:
        catalogue = run.boot["catalogue"]
        weighed = [c["id"] for c in catalogue["categories"] if c.get("sold_by_weight")]
        product = next(p for p in catalogue["products"] if p["name"] == "Sac cabas")
        config.append(
            {
                "serial": run.till.serial,
                "secret": run.till.secret,
                "next_number": run.next_number,
                "categories": weighed,
                "product_id": product["id"],
                "price": product["price"],
            }
        )
    return config


def drive(binary: Path, pos_api: str, tills: list[dict[str, Any]], **mode: Any) -> dict[str, Any]:
    done = subprocess.run(
        [str(binary)],
        input=json.dumps({"pos_api": pos_api, "tills": tills, **mode}),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    for till, number in zip(tills, result["next_numbers"], strict=True):
        till["next_number"] = number
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def fresh_consumers(inst: Instance) -> dict[str, dict[str, str]]:
    """paheko-bridge on an empty store and session-service, both with consumers that start at the topics' end:
    they work on this run's tickets only, in steady state, not on the backlog that earlier runs and tests (a
    `make test` before `make bench`) left in the test instance. session-service keeps its store: the tills'
    sessions live there."""
    database = BRIDGE_DATABASE
    postgres.drop_database(inst, database)
    postgres.ensure_databases(inst, (database,))
    suffix = f".bench-{uuid.uuid4().hex[:8]}"
    for group in CONSUMER_GROUPS:
        if group.service in ("paheko-bridge", "session-service") and not group.reads_whole_history:
            blocking.run(start_group_at_end(inst.kafka_bootstrap, group.name + suffix, group.topics))
    url = postgres.dsn(inst, database).replace("postgresql://", "postgresql+asyncpg://", 1)
    fec = inst.folder / "fec-bench"
    shutil.rmtree(fec, ignore_errors=True)  # its files belong to the database just dropped
    return {
        "paheko-bridge": {
            "database_url": url,
            "consumer_group_suffix": suffix,
            "fec_directory": str(fec),
        },
        "session-service": {"consumer_group_suffix": suffix},
    }


def settle(inst: Instance, timeout_s: float = 120.0) -> None:
    """Wait until the bench's bridge has no ticket left to forward (or `timeout_s`), then until the disk has
    what the phase before wrote.

    A minute at full load leaves the kernel with tens of megabytes of Kafka's and PostgreSQL's pages still to
    write, which it writes some thirty seconds later in bursts; every commit's WAL flush then waits behind
    them. The next phase measures the load it drives, not the writes of the one before.
    """

    async def pending() -> int:
        conn = await asyncpg.connect(postgres.dsn(inst, BRIDGE_DATABASE))
        try:
            count: int = await conn.fetchval("select count(*) from pushes where status = 'pending'")
            return count
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout_s
    while asyncio.run(pending()) and time.monotonic() < deadline:
        time.sleep(1.0)
    os.sync()
    time.sleep(2.0)


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    binary = loadgen(inst)
    stop_all(inst)
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    try:  # a service that does not start stops the others with it
        start_all(inst, {**fresh_consumers(inst), "pos-api": {"workers": str(POS_API_PROCESSES)}})
        tills_of_shop = bench_tills(inst, pos_api)
        # The tills open their sessions as a till does, with the shop's cashier, through pos-api and session-service.
        cashiers = ensure_demo_data(inst).cashiers
        runs = asyncio.run(simulator.prepare(pos_api, inst.kafka_bootstrap, tills_of_shop, cashiers))
        tills = tills_config(runs)
        drive(binary, pos_api, tills, mode="sustain", duration_s=5.0)  # warm-up
        # Each phase starts once the bridge has forwarded what the one before sold: the latency at 100 tickets/s
        # is that of a stack keeping up, not of one still catching up on a minute at full load.
        paced = []
        for _ in range(PACED_RUNS):
            settle(inst)
            paced.append(drive(binary, pos_api, tills, mode="paced", duration_s=PACED_S, rate=PACED_RATE))
        sustained = []
        for _ in range(SUSTAIN_RUNS):
            settle(inst)
            shares = CpuShares(inst)
            shares.start()
            sustained.append((drive(binary, pos_api, tills, mode="sustain", duration_s=SUSTAIN_S), shares))
            shares.stop()
        settle(inst)
        # For reference: the same load on a single pos-api process.
        stop_all(inst)
        start_all(inst, fresh_consumers(inst))
        drive(binary, pos_api, tills, mode="sustain", duration_s=5.0)
        single = drive(binary, pos_api, tills, mode="sustain", duration_s=REFERENCE_S)
    finally:
        stop_all(inst)
    rates = [result["sold"] / result["elapsed_s"] for result, _ in sustained]
    for i, (result, shares) in enumerate(sustained, 1):
        sys.stdout.write(
            f"finalize, {SUSTAIN_S:.0f} s at full load, pos-api in {POS_API_PROCESSES} processes, run {i}:"
            f" {rates[i - 1]:.1f} tickets/s; {shares.describe(result['sold'])}\n"
        )
    for i, run in enumerate(paced, 1):
        slowest = ", ".join(f"{ms:.0f} ms at {at:.1f} s" for at, ms in sorted(run["slowest"][:8]))
        sys.stdout.write(f"finalize at {PACED_RATE:.0f} tickets/s, run {i}, slowest calls: {slowest}\n")
    sys.stdout.write(
        f"finalize, {REFERENCE_S:.0f} s at full load, pos-api in one process:"
        f" {single['sold'] / single['elapsed_s']:.0f} tickets/s\n"
    )
    ratios = [rate / yardstick.tps for rate in rates]
    p99s = [percentile(run["latencies_ms"], 0.99) for run in paced]
    latencies = [latency for run in paced for latency in run["latencies_ms"]]
    return [
        Figure(
            what=f"finalize throughput, {len(tills)} tills, {SUSTAIN_S:.0f} s, pos-api × {POS_API_PROCESSES}",
            measured=statistics.median(rates),
            unit="tickets/s",
            target=500,
            higher_is_better=True,
            runs=len(rates),
            spread=f"{min(rates):.0f}–{max(rates):.0f}; {sum(r['sold'] for r, _ in sustained)} sold,"
            f" {sum(r['failed'] for r, _ in sustained)} failed",
        ),
        Figure(
            what="finalize throughput ÷ pgbench TPC-B (its defaults), same run",
            measured=statistics.median(ratios),
            unit="×",
            target=0.5,
            higher_is_better=True,
            runs=len(ratios),
            spread=f"{min(ratios):.2f}–{max(ratios):.2f}; pgbench {yardstick.tps:.0f} tps"
            f" ({', '.join(f'{r:.0f}' for r in yardstick.runs)}); 8 clients {yardstick.busy_tps:.0f} tps",
        ),
        Figure(
            what=f"finalize p99 at {PACED_RATE:.0f} tickets/s, {PACED_RUNS} × {PACED_S:.0f} s",
            measured=percentile(latencies, 0.99),
            unit="ms",
            target=50,
            runs=len(latencies),
            spread=f"p99 per run {', '.join(f'{p:.1f}' for p in p99s)} ms; p50 {statistics.median(latencies):.1f} ms,"
            f" {sum(run['failed'] for run in paced)} failed",
        ),
    ]
