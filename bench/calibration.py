"""The machine's yardstick: pgbench's own default TPC-B on the stack's PostgreSQL, measured in the same `make bench` run.

A throughput measured on a shared two-core machine says as much about the machine as about the code. PRODUCT.md
therefore reads finalize's throughput also as a ratio to this figure (at least half of it), which means the same on a
slower or busier machine: both move together. pgbench runs while every service is stopped, on a database of its own.
"""

from __future__ import annotations

import asyncio
import functools
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Final

import asyncpg

from caisse_stack import postgres
from caisse_stack.layout import Instance

DATABASE: Final = "bench_pgbench"
SECONDS: Final = 15
RUNS: Final = 2
BUSY_CLIENTS: Final = 8
"""Also printed, for reference: eight clients on eight branches, as busy as PostgreSQL gets here."""


@dataclass(frozen=True, slots=True)
class Yardstick:
    tps: float
    """pgbench's own default TPC-B (scale 1, one client): the median of its runs."""
    runs: tuple[float, ...]
    busy_tps: float
    """Eight clients, scale 8."""


async def _fresh_database(inst: Instance) -> None:
    conn = await asyncpg.connect(postgres.admin_dsn(inst), timeout=10)
    try:
        await conn.execute(f"drop database if exists {DATABASE}")
        await conn.execute(f"create database {DATABASE}")
    finally:
        await conn.close()


def _pgbench(*args: str) -> str:
    done = subprocess.run(
        [str(postgres.bin_dir() / "pgbench"), *args], capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def _tps(out: str) -> float:
    found = re.search(r"tps = ([0-9.]+)", out)
    if found is None:
        raise SystemExit(f"pgbench printed no tps:\n{out}")
    return float(found.group(1))


@functools.cache
def tpc_b(inst: Instance) -> Yardstick:
    """pgbench's default TPC-B (its scale 1 and one client, nothing chosen by us), then a busy variant."""
    url = postgres.admin_dsn(inst, DATABASE)
    asyncio.run(_fresh_database(inst))
    _pgbench("--initialize", "--quiet", url)
    runs = tuple(_tps(_pgbench("--no-vacuum", f"--time={SECONDS}", url)) for _ in range(RUNS))
    asyncio.run(_fresh_database(inst))
    _pgbench("--initialize", "--quiet", f"--scale={BUSY_CLIENTS}", url)
    busy = _tps(_pgbench("--no-vacuum", f"--client={BUSY_CLIENTS}", "--jobs=2", f"--time={SECONDS}", url))
    asyncio.run(_drop_database(inst))
    found = Yardstick(statistics.median(runs), runs, busy)
    sys.stdout.write(
        f"pgbench TPC-B, its defaults (scale 1, 1 client), {RUNS} × {SECONDS} s: {found.tps:.0f} tps"
        f" ({', '.join(f'{r:.0f}' for r in runs)}); {BUSY_CLIENTS} clients on scale {BUSY_CLIENTS}: {busy:.0f} tps\n"
    )
    return found


async def _drop_database(inst: Instance) -> None:
    conn = await asyncpg.connect(postgres.admin_dsn(inst), timeout=10)
    try:
        await conn.execute(f"drop database if exists {DATABASE}")
    finally:
        await conn.close()
