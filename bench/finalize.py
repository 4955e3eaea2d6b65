"""Finalize on the real stack: sustained throughput of concurrent tills, and latency at a steady 100 tickets/s.

All five services run on the launcher's test instance with Kafka and PostgreSQL; the tills are driven over
loopback HTTP by the till simulator (a 3-line ticket: PUT basket, then finalize with the next number). The
simulator shares the machine's two cores with everything it measures.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid

from bench.report import Figure
from caisse_stack import ensure_up, simulator
from caisse_stack.demo import ensure_demo_data
from caisse_stack.demo_data import DemoTill, add_tills
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME, admin_token, start_all, stop_all

TILLS = 32
SUSTAIN_S = 60.0
PACED_RATE = 100.0
PACED_S = 30.0


def bench_tills(inst: Instance, pos_api: str) -> list[DemoTill]:
    path = inst.folder / "bench-tills.json"
    if path.is_file():
        return [DemoTill(**t) for t in json.loads(path.read_text())]
    demo = ensure_demo_data(inst)
    shop = demo.tills[0].shop_id
    tills = add_tills(pos_api, admin_token(inst), shop, "EUR", TILLS, f"BENCH-{uuid.uuid4().hex[:6]}")
    path.write_text(json.dumps([t.__dict__ for t in tills]))
    return tills


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    stop_all(inst)
    start_all(inst)
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    try:
        tills = bench_tills(inst, pos_api)
        runs = asyncio.run(simulator.prepare(pos_api, inst.kafka_bootstrap, tills))
        asyncio.run(simulator.sustain(pos_api, runs, 5.0))  # warm-up: connections, caches, JIT of the broker
        began = time.monotonic()
        sold = asyncio.run(simulator.sustain(pos_api, runs, SUSTAIN_S))
        throughput = sold / (time.monotonic() - began)
        failures = sum(len(r.failures) for r in runs)
        latencies = asyncio.run(simulator.paced(pos_api, runs, PACED_RATE, PACED_S))
    finally:
        stop_all(inst)
    return [
        Figure(
            what=f"finalize throughput, {len(tills)} tills, {SUSTAIN_S:.0f} s",
            measured=throughput,
            unit="tickets/s",
            target=500,
            higher_is_better=True,
            spread=f"{sold} sold, {failures} failed",
        ),
        Figure(
            what=f"finalize p99 at {PACED_RATE:.0f} tickets/s",
            measured=percentile(latencies, 0.99),
            unit="ms",
            target=50,
            runs=len(latencies),
            spread=f"p50 {statistics.median(latencies):.1f} ms",
        ),
    ]
