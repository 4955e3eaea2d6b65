"""Receipts on the till (issue 18): how fast a sale's receipt is on the paper, and what a receipt costs to build.

- a receipt's bytes built: the domain lays a ten-line cash sale out for 80 mm paper and python-escpos renders it
  (`Dummy`, through the agent's renderer), in this process, 2,000 times: p50, p99 and CPU per receipt;
- finalize → receipt fully written: hw-proxy (its console script, a process of the bench's own with a fresh
  SQLite store seeded with its place, its cashier's PIN and a network printer) prints to our virtual ESC/POS
  printer (`caisse_devices.printer`, in this process, 127.0.0.1). 500 cash sales one after the other, each from
  the web app's `POST /v1/baskets/{id}/finalize` to the virtual printer holding the whole job (its connection
  closed after the cut): p99, p50 and hw-proxy's CPU per receipt (finalize and print together). pos-api is not
  reachable (a closed port): the till sells offline, as it must;
- hw-proxy's RSS idle once it has printed its first receipt (a till prints on its first sale, and python-escpos is
  imported then): the median of a few readings after it was left alone; beside it, before that receipt and after
  the 500.

Three runs (the machine's two cores are shared with other work: one run's p99 says little); each figure is the
median of the runs beside their range. pgbench's TPC-B is measured once on the launcher's quiet test instance, as
the other figures read it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from bench import calibration
from bench.cpu import cpu_seconds
from bench.idle_rss import rss_mb
from bench.report import Figure
from bench.till_agent import free_port, rss_median
from caisse_contracts.events import PaymentMethod
from caisse_contracts.pins import hash_pin
from caisse_contracts.tills import Receipt, ReceiptLine, ReceiptPayment, ReceiptTax
from caisse_devices.printer import VirtualPrinter
from caisse_stack import ensure_up
from caisse_stack.services import executable
from hw_proxy.adapters.escpos_printer import EscposRenderer
from hw_proxy.adapters.store import migrate
from hw_proxy.domain.receipts import ReceiptPrint, document_of

RUNS: Final = 3
BUILDS: Final = 2_000
SALES: Final = 500
IDLE_S: Final = 3.0
"""hw-proxy left alone this long after its first receipt before its idle RSS is read."""
PRINTED_P99_MS: Final = 300.0
BUILT_P99_MS: Final = 5.0
IDLE_MB: Final = 80.0
PIN: Final = "4821"
SERIAL: Final = "BENCH-RECEIPTS"
AT: Final = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
IDS: Final = {
    name: str(uuid.uuid4()) for name in ("territory", "company", "shop", "pos", "cashier", "category", "product")
}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def a_receipt() -> ReceiptPrint:
    lines = tuple(
        ReceiptLine(
            label=f"Article d'occasion n° {n}",
            quantity=1 + n % 3,
            unit_price=250 * n,
            weight_grams=None,
            discount=0,
            total=250 * n * (1 + n % 3),
            tax_code="TN",
        )
        for n in range(1, 11)
    )
    total = sum(line.total for line in lines)
    receipt = Receipt(
        ticket_id=uuid.uuid4(),
        number=1234,
        kind="sale",
        header="Ressourcerie du Grenier",
        footer="Merci de votre visite !",
        shop="Le Grenier",
        pos="Caisse 1",
        currency="EUR",
        currency_exponent=2,
        local_datetime="2026-12-04 10:30",
        finalized_at=AT,
        lines=lines,
        discounts=0,
        taxes=(
            ReceiptTax(
                code="TN", rate_bp=2000, total_excl_tax=total * 5 // 6, tax=total - total * 5 // 6, total_incl_tax=total
            ),
        ),
        total_incl_tax=total,
        cash_rounding=0,
        total_due=total,
        payments=(ReceiptPayment(method=PaymentMethod.CASH, amount=total, tendered=total + 500, reference=None),),
        change_given=500,
    )
    return ReceiptPrint(receipt=receipt, address="12 rue des Lilas, 75020 Paris", kick_drawer=True)


@dataclass(frozen=True)
class Built:
    latencies_ms: list[float]
    cpu_ms: float


def build_receipts() -> Built:
    from caisse_contracts.config import NetworkPrinter, PrinterFields  # noqa: PLC0415

    job = a_receipt()
    printer = PrinterFields(connection=NetworkPrinter(host="127.0.0.1"))
    renderer = EscposRenderer()
    renderer.render(document_of(job, paper_width_mm=80), printer)  # python-escpos imported before timing
    latencies: list[float] = []
    cpu = time.process_time()
    for _ in range(BUILDS):
        began = time.perf_counter()
        renderer.render(document_of(job, paper_width_mm=80), printer)
        latencies.append((time.perf_counter() - began) * 1000)
    return Built(latencies, (time.process_time() - cpu) * 1000 / BUILDS)


def _item(name: str, fields: dict[str, Any], version: int = 1) -> tuple[str, str, str]:
    import json  # noqa: PLC0415

    body = {"id": IDS[name], "version": version, "updated_at": AT.isoformat(), **fields}
    return (name if name not in ("cashier",) else "operator", IDS[name], json.dumps(body))


def seed(store: Path, printer_port: int) -> None:
    """The till's store as a synced, enrolled till holds it: its place, a product, its cashier's PIN."""
    items = [
        _item(
            "territory",
            {
                "name": "France",
                "currency": "EUR",
                "currency_exponent": 2,
                "tax_rates": [{"code": "TN", "label": "Normal", "rate_bp": 2000}],
                "denominations": [{"value": 1000, "kind": "note"}, {"value": 100, "kind": "coin"}],
            },
        ),
        _item("company", {"territory_id": IDS["territory"], "name": "Ressourcerie"}),
        _item("shop", {"company_id": IDS["company"], "name": "Le Grenier", "address": "12 rue des Lilas"}),
        _item(
            "pos",
            {
                "shop_id": IDS["shop"],
                "name": "Caisse 1",
                "hostname": "till-1",
                "device_serial": SERIAL,
                "printer": {"connection": {"kind": "network", "host": "127.0.0.1", "port": printer_port}},
            },
        ),
        _item("cashier", {"name": "Alice", "role": "cashier", "shop_id": IDS["shop"]}),
        _item(
            "category",
            {"company_id": IDS["company"], "name": "Mobilier", "revenue_account": "7070", "default_tax_code": "TN"},
        ),
        _item(
            "product", {"company_id": IDS["company"], "category_id": IDS["category"], "name": "Chaise", "price": 1200}
        ),
    ]
    conn = sqlite3.connect(store, isolation_level=None)
    try:
        migrate(conn)
        conn.executemany(
            "insert into config_item (entity_type, entity_id, version, item, position, received_at)"
            " values (?, ?, 1, ?, 1, ?)",
            [(kind, ident, body, AT.isoformat()) for kind, ident, body in items],
        )
        conn.execute(
            "insert into operator_pin (operator_id, pin_hash, learned_at) values (?, ?, ?)",
            (IDS["cashier"], hash_pin(PIN), AT.isoformat()),
        )
    finally:
        conn.close()


@dataclass(frozen=True)
class Printed:
    latencies_ms: list[float]
    agent_ms: float
    before_mb: float
    """Before its first receipt (python-escpos not loaded yet)."""
    idle_mb: float
    """Left alone after its first receipt."""
    after_mb: float


async def print_sales(store: Path) -> Printed:
    printer = VirtualPrinter()
    await printer.start()
    seed(store, printer.port)
    port = free_port()
    env = {
        **os.environ,
        "HW_PROXY_PORT": str(port),
        "HW_PROXY_STORE_PATH": str(store),
        "HW_PROXY_DEVICE_SERIAL": SERIAL,
        "HW_PROXY_DEVICE_SECRET": "bench-secret",
        "HW_PROXY_POS_API_URL": f"http://127.0.0.1:{free_port()}",  # nobody there: the till sells offline
        "HW_PROXY_NOTIFIER_URL": f"ws://127.0.0.1:{free_port()}",
        "HW_PROXY_LOG_LEVEL": "WARNING",
    }
    with store.with_suffix(".log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            executable("hw-proxy"), env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await http.get("/v1/status")).json().get("status") == "READY_OPEN":
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("hw-proxy did not become READY_OPEN")
                    await asyncio.sleep(0.1)
                (
                    await http.post("/v1/cashier/login", json={"operator_id": IDS["cashier"], "pin": PIN})
                ).raise_for_status()
                (
                    await http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})
                ).raise_for_status()
                await asyncio.sleep(IDLE_S)
                before_mb = rss_mb(process.pid)

                async def sell(printed: int) -> float:
                    line = {"line_id": str(uuid.uuid4()), "product_id": IDS["product"], "quantity": 1}
                    payment = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 1200, "tendered": 2000}
                    body = {"version": 0, "content": {"lines": [line], "payments": [payment]}}
                    began = time.perf_counter()
                    (await http.post(f"/v1/baskets/{uuid.uuid4()}/finalize", json=body)).raise_for_status()
                    await printer.wait_for_jobs(printed)
                    return (time.perf_counter() - began) * 1000

                await sell(1)  # the day's first sale and its receipt: python-escpos is loaded from here
                await asyncio.sleep(IDLE_S)  # left alone: what a till that has printed holds at rest
                idle_mb = await asyncio.to_thread(rss_median, process.pid)
                latencies: list[float] = []
                cpu_before = cpu_seconds(process.pid) or 0.0
                for n in range(2, SALES + 2):
                    latencies.append(await sell(n))
                agent_ms = ((cpu_seconds(process.pid) or 0.0) - cpu_before) * 1000 / SALES
                after_mb = rss_mb(process.pid)
                if any(job.cuts != 1 or job.drawer_pulses != [0] for job in printer.jobs):
                    raise RuntimeError("a receipt without its cut or its drawer pulse")
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
            await printer.stop()
    return Printed(latencies, agent_ms, before_mb, idle_mb, after_mb)


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    yardstick = calibration.tpc_b(inst)
    builds: list[Built] = []
    prints: list[Printed] = []
    for n in range(1, RUNS + 1):
        builds.append(build_receipts())
        with tempfile.TemporaryDirectory(prefix="bench-receipts-") as workdir:
            prints.append(asyncio.run(print_sales(Path(workdir) / "till.sqlite3")))
        built, printed = builds[-1], prints[-1]
        say(
            f"receipts, run {n}: built p50 {statistics.median(built.latencies_ms):.2f} ms, p99"
            f" {p99(built.latencies_ms):.2f} ms ({built.cpu_ms:.2f} ms CPU each); finalize → on the paper p50"
            f" {statistics.median(printed.latencies_ms):.1f} ms, p99 {p99(printed.latencies_ms):.1f} ms,"
            f" max {max(printed.latencies_ms):.1f} ms, hw-proxy {printed.agent_ms:.2f} ms CPU per sale and receipt;"
            f" RSS {printed.before_mb:.1f} MB before its first receipt, {printed.idle_mb:.1f} MB idle after it,"
            f" {printed.after_mb:.1f} MB after {SALES} more"
        )
    return figures(builds, prints, yardstick)


def _spread(values: list[float], unit: str, digits: int = 1) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f} {unit}"


def figures(builds: list[Built], prints: list[Printed], yardstick: calibration.Yardstick) -> list[Figure]:
    printed_p99 = [p99(p.latencies_ms) for p in prints]
    printed_p50 = [statistics.median(p.latencies_ms) for p in prints]
    agent_ms = [p.agent_ms for p in prints]
    rate = 1000 / statistics.median([statistics.mean(p.latencies_ms) for p in prints])
    built_p99 = [p99(b.latencies_ms) for b in builds]
    built_p50 = [statistics.median(b.latencies_ms) for b in builds]
    built_cpu = [b.cpu_ms for b in builds]
    idle = [p.idle_mb for p in prints]
    return [
        Figure(
            what="finalize → receipt fully written to the (virtual) printer p99",
            measured=statistics.median(printed_p99),
            unit="ms",
            target=PRINTED_P99_MS,
            runs=len(prints),
            spread=f"{_spread(printed_p99, 'ms')}; p50 {statistics.median(printed_p50):.1f} ms"
            f" ({_spread(printed_p50, 'ms')}); hw-proxy {statistics.median(agent_ms):.2f} ms CPU per sale + receipt"
            f" = {statistics.median(agent_ms) * yardstick.tps / 1000:.2f} pgbench transactions; {SALES} one after"
            f" the other a run; {rate:.0f} receipts/s ÷ pgbench TPC-B {rate / yardstick.tps:.3f}×"
            f" (pgbench {yardstick.tps:.0f} tps)",
        ),
        Figure(
            what="a receipt's ESC/POS bytes built (10 lines, 80 mm, python-escpos Dummy) p99",
            measured=statistics.median(built_p99),
            unit="ms",
            target=BUILT_P99_MS,
            runs=len(builds),
            spread=f"{_spread(built_p99, 'ms', 2)}; p50 {statistics.median(built_p50):.2f} ms"
            f" ({_spread(built_p50, 'ms', 2)}); {statistics.median(built_cpu):.2f} ms CPU per receipt"
            f" ({_spread(built_cpu, 'ms', 2)}); {BUILDS:,} in a row a run",
        ),
        Figure(
            what="hw-proxy RSS idle with a printer configured, after its first receipt (python-escpos loaded)",
            measured=statistics.median(idle),
            unit="MB",
            target=IDLE_MB,
            runs=len(idle),
            spread=f"{_spread(idle, 'MB')}; before its first receipt"
            f" {statistics.median([p.before_mb for p in prints]):.1f} MB; after {SALES} more receipts"
            f" {statistics.median([p.after_mb for p in prints]):.1f} MB",
        ),
    ]
