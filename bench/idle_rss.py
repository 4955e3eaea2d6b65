"""Idle memory of every service: started on the test instance, left alone, resident set size read from /proc."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.finalize import fresh_consumers
from bench.report import Figure
from caisse_stack import ensure_up
from caisse_stack.processes import read_pid
from caisse_stack.services import SERVICES, pid_file, start_all, stop_all

TARGET_MB = {"hw-proxy": 80.0}
CENTRAL_TARGET_MB = 150.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def run(samples: int = 5, settle_s: float = 10.0) -> list[Figure]:
    inst = ensure_up("test").instance
    stop_all(inst)
    try:  # a service that does not start stops the others with it
        start_all(inst, fresh_consumers(inst))  # idle: not catching up on what earlier runs left in the test instance
        time.sleep(settle_s)
        readings: dict[str, list[float]] = {s.name: [] for s in SERVICES}
        for _ in range(samples):
            for service in SERVICES:
                pid = read_pid(pid_file(inst, service.name))
                if pid is None:
                    raise RuntimeError(f"{service.name} is not running")
                readings[service.name].append(rss_mb(pid))
            time.sleep(1.0)
    finally:
        stop_all(inst)
    return [
        Figure(
            what=f"idle RSS {name}",
            measured=statistics.median(values),
            unit="MB",
            target=TARGET_MB.get(name, CENTRAL_TARGET_MB),
            runs=len(values),
            spread=f"{min(values):.1f}–{max(values):.1f}",
        )
        for name, values in readings.items()
    ]
