"""Where the CPU of a benchmark run went: per service, PostgreSQL, Kafka and the load generator.

Read from /proc (user + system time of each process) before and after a run, so a figure can be told as
"milliseconds of CPU per ticket" beside the throughput: on a shared two-core machine that says more than the
rate alone, and it shows which process to work on next.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from caisse_stack import kafka, postgres
from caisse_stack.layout import Instance
from caisse_stack.processes import read_pid
from caisse_stack.services import SERVICES

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cpu_seconds(pid: int) -> float:
    return cpu_seconds(pid) or 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def _sample(inst: Instance) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for service in SERVICES:
        if (pid := read_pid(inst.folder / "services" / f"{service.name}.pid")) is not None:
            # a service run with several server processes: its supervisor and their workers
            seconds[service.name] += sum(_cpu_seconds(p) for p in _tree(pid))
    if (pid := read_pid(kafka.pid_file(inst))) is not None:
        seconds["kafka"] += _cpu_seconds(pid)
    if (pid := postgres.pid(inst)) is not None:
        # Backends come and go with the pools; the postmaster's children at both ends cover a steady run.
        seconds["postgresql"] += _cpu_seconds(pid) + sum(_cpu_seconds(child) for child in _children(pid))
    times = os.times()
    seconds["load generator"] += times.children_user + times.children_system
    return seconds


@dataclass
class CpuShares:
    """`start()` before the run, `stop()` after; `per_item(n)` is milliseconds of CPU per item, by process."""

    inst: Instance
    _before: dict[str, float] | None = None
    _spent: dict[str, float] | None = None

    def start(self) -> None:
        self._before = _sample(self.inst)

    def stop(self) -> None:
        if self._before is None:
            raise RuntimeError("stop() before start()")
        after = _sample(self.inst)
        self._spent = {name: max(0.0, after[name] - self._before.get(name, 0.0)) for name in after}

    def per_item(self, items: int) -> dict[str, float]:
        if self._spent is None or items <= 0:
            return {}
        ranked = sorted(self._spent.items(), key=lambda kv: kv[1], reverse=True)
        return {name: seconds * 1000 / items for name, seconds in ranked if seconds > 0}

    def describe(self, items: int) -> str:
        shares = self.per_item(items)
        total = sum(shares.values())
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in shares.items())
        return f"CPU ms per ticket: {parts}; total {total:.2f}"
