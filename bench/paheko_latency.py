"""From finalize to an entry in a real Paheko, through the whole chain: pos-api, Kafka, paheko-bridge, the plugin.

A company of its own is created for the run, with the Paheko of CAISSE_PAHEKO_URL (API credential of
CAISSE_PAHEKO_API_USER / _PASSWORD) and accounts that Paheko's chart has. Its tills sell at a steady pace; for
each ticket the delay is the bridge's `pushed_at` (Paheko answered that the tab is written) minus pos-api's
`received_at` (the finalize), both read from the databases of the run. At 20 tickets/s for 30 s (600
tickets), its p99 and how many took more than 2 s are beside PRODUCT.md's target.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench import calibration
from bench.cpu import CpuShares
from bench.finalize import BRIDGE_DATABASE, drive, fresh_consumers, loadgen, percentile, tills_config
from bench.report import Figure
from caisse_stack import ensure_up, postgres, simulator
from caisse_stack.demo import ensure_demo_data
from caisse_stack.demo_data import BackOffice, add_tills
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME, admin_token, start_all, stop_all

TILLS = 4
RATE = 20.0
DURATION_S = 30.0
RUNS = 3
"""Three paced runs: the figure is the median of their p99s, each printed with its CPU per ticket."""
TARGET_MS = 2000


def paheko_settings(*, also: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """CAISSE_PAHEKO_URL, _API_USER, _API_PASSWORD (and `also`), or None after saying the bench did not run."""
    names = ("CAISSE_PAHEKO_URL", "CAISSE_PAHEKO_API_USER", "CAISSE_PAHEKO_API_PASSWORD", *also)
    values = tuple(os.environ.get(name, "") for name in names)
    if all(values):
        return values
    sys.stdout.write(f"  DID NOT RUN (no real Paheko): set {', '.join(names)}\n")
    return None


def paheko_company(inst: Instance, pos_api: str, url: str, user: str, password: str) -> tuple[str, str]:
    """A company booking to that Paheko, one shop, a cashier and a catalogue on accounts of its chart."""
    demo = ensure_demo_data(inst)
    token = admin_token(inst)
    tag = uuid.uuid4().hex[:6]
    bo = BackOffice(pos_api, token)
    try:
        company = bo.create(
            "companies",
            {
                "territory_id": demo.territories["FR"],
                "name": f"Banc Paheko {tag}",
                "paheko_url": url,
                "accounts": {"cash_rounding": "678", "variance_shortage": "678", "variance_surplus": "778"},
            },
        )["item"]["id"]
        httpx.put(
            f"{pos_api}/v1/companies/{company}/paheko-credentials",
            json={"api_user": user, "api_password": password},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).raise_for_status()
        shop = bo.create("shops", {"company_id": company, "name": f"Banc {tag}", "address": "1 rue du Banc"})["item"][
            "id"
        ]
        for name in ("Textile", "Livres"):
            category = {"company_id": company, "name": name, "revenue_account": "707", "default_tax_code": "TVA20"}
            bo.create("categories", {**category, "sold_by_weight": True})
        goods = bo.create(
            "categories",
            {"company_id": company, "name": "Produits neufs", "revenue_account": "707", "default_tax_code": "TVA20"},
        )["item"]["id"]
        bo.create("products", {"company_id": company, "category_id": goods, "name": "Sac cabas", "price": 100})
    finally:
        bo.close()
    return shop, tag


async def delays(inst: Instance, pos_ids: list[uuid.UUID], expected: int, timeout_s: float = 120.0) -> list[float]:
    """Seconds from finalize to Paheko for each ticket of these tills, once the bridge pushed them all."""
    pos_db = await asyncpg.connect(postgres.dsn(inst, "caisse_pos_api"))
    bridge_db = await asyncpg.connect(postgres.dsn(inst, BRIDGE_DATABASE))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            pushed = await bridge_db.fetch(
                "select ticket_id, pushed_at from pushes where pos_id = any($1::uuid[]) and status = 'pushed'",
                pos_ids,
            )
            if len(pushed) >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        received = {
            r["id"]: r["received_at"]
            for r in await pos_db.fetch("select id, received_at from tickets where pos_id = any($1::uuid[])", pos_ids)
        }
    finally:
        await pos_db.close()
        await bridge_db.close()
    if len(pushed) < expected:
        raise SystemExit(f"only {len(pushed)} of {expected} tickets reached Paheko in {timeout_s:.0f} s")
    return [(r["pushed_at"] - received[r["ticket_id"]]).total_seconds() for r in pushed]


def run() -> list[Figure]:
    settings = paheko_settings()
    if settings is None:
        return []
    url, user, password = settings
    inst = ensure_up("test").instance
    binary = loadgen(inst)
    stop_all(inst)
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    measured: list[tuple[list[float], int, CpuShares]] = []
    try:  # a service that does not start stops the others with it
        start_all(inst, fresh_consumers(inst))
        shop, tag = paheko_company(inst, pos_api, url, user, password)
        for n in range(RUNS):  # each run its own tills, so that it measures only its own tickets
            tills = add_tills(pos_api, admin_token(inst), shop, "EUR", TILLS, f"PAHEKO-{tag}-{n}")
            runs = asyncio.run(simulator.prepare(pos_api, inst.kafka_bootstrap, tills))
            shares = CpuShares(inst)
            shares.start()
            result: dict[str, Any] = drive(
                binary, pos_api, tills_config(runs), mode="paced", duration_s=DURATION_S, rate=RATE
            )
            seconds = asyncio.run(delays(inst, [uuid.UUID(t.pos_id) for t in tills], int(result["sold"])))
            shares.stop()
            measured.append(([s * 1000 for s in seconds], int(result["failed"]), shares))
    finally:
        stop_all(inst)
    p99s = [percentile(ms, 0.99) for ms, _, _ in measured]
    for i, (ms, _, shares) in enumerate(measured, 1):
        sys.stdout.write(
            f"finalize → Paheko, run {i}: p99 {p99s[i - 1]:.0f} ms over {len(ms)} tickets; {shares.describe(len(ms))}\n"
        )
    every = [m for ms, _, _ in measured for m in ms]
    late = sum(1 for m in every if m >= TARGET_MS)
    return [
        Figure(
            what=f"finalize → entry in Paheko, {RATE:.0f} tickets/s for {DURATION_S:.0f} s, median of {RUNS}",
            measured=statistics.median(p99s),
            unit="ms",
            target=TARGET_MS,
            runs=len(p99s),
            spread=f"p99 per run {', '.join(f'{p:.0f}' for p in p99s)} ms; p50 {statistics.median(every):.0f} ms,"
            f" {late} of {len(every)} over {TARGET_MS / 1000:.0f} s, {sum(f for _, f, _ in measured)} failed;"
            f" pgbench {yardstick.tps:.0f} tps",
        )
    ]
