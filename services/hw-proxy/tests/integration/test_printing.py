"""The till's receipts on a printer over a real socket: hw-proxy's app (real SQLite file, the real python-escpos
`Network` printer) prints to our virtual ESC/POS printer on 127.0.0.1 (`caisse_devices.printer`).

A sale's receipt arrives with its text, one cut, one drawer pulse when paid in cash and none by card; a printer
switched off never holds a sale back (finalize answers at once) and the receipt prints once it is back; out of
paper, the job waits, visible, and prints after; a job whose connection dropped mid-way is printed again whole;
a reprint is DUPLICATA n° 1; a cash movement and the drawer route open the drawer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_till_routes import PIN, seed
from test_till_selling import cash, chairs
from till_examples import AT, CASHIER, POS, FakeCentral, place_items

from caisse_contracts.events.config import EntityType
from caisse_devices.printer import VirtualPrinter
from hw_proxy.adapters.store import TillRecords
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.entrypoints.printer_worker import PrinterWorker


@dataclass
class PrintingTill:
    http: httpx.AsyncClient
    printer: VirtualPrinter
    worker: PrinterWorker

    async def sell(self, payments: list[dict[str, Any]]) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        sold = await self.http.post(
            f"/v1/baskets/{uuid.uuid4()}/finalize", json={"version": 0, "content": chairs(1, payments=payments)}
        )
        assert sold.status_code == 201, sold.text
        return sold, time.perf_counter() - started

    async def jobs(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/v1/print-jobs")).json())

    async def until_job(self, state: str, *, attempts: int = 1) -> dict[str, Any]:
        """Poll the jobs route until the newest job is in `state` after `attempts` tries (deadline 10 s)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            newest = (await self.jobs())[0]
            if newest["state"] == state and newest["attempts"] >= attempts:
                return newest
            await asyncio.sleep(0.02)  # a poll with a deadline
        raise AssertionError(f"no job {state} after {attempts} attempt(s): {await self.jobs()}")


async def with_printer(path: str, port: int) -> None:
    """The POS's config as pos-api pushes it, with its printer: network, 127.0.0.1:port, 80 mm, PC858."""
    store = TillRecords(path)
    await store.open()
    pos = next(item for kind, _, item in place_items() if kind is EntityType.POS)
    pos = {**pos, "version": 2, "printer": {"connection": {"kind": "network", "host": "127.0.0.1", "port": port}}}
    await store.record(
        CachedItem(EntityKey(EntityType.POS, POS), 2, pos, position=99), position=99, at=AT, seen_in_reset=False
    )
    await store.close()


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[PrintingTill]:
    printer = VirtualPrinter()
    await printer.start()
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    await with_printer(path, printer.port)
    settings = Settings(
        store_path=path,
        device_serial="TILL-0001",
        device_secret="s3cret",
        notifier_url="ws://127.0.0.1:9",
        print_retry_first_s=0.05,
        print_retry_max_s=0.2,
        printer_timeout_s=2.0,
    )
    app = build_app(settings, central=FakeCentral(pins={CASHIER: PIN}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        assert (await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success
        opened = await http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})
        assert opened.status_code == 201, opened.text
        yield PrintingTill(http, printer, app.state.printing)
    await printer.stop()


async def test_a_cash_sale_prints_its_receipt_with_one_cut_and_opens_the_drawer(till: PrintingTill) -> None:
    sold, _ = await till.sell(cash(1200, 2000))
    [job] = await till.printer.wait_for_jobs(1)
    number = sold.json()["ticket"]["number"]
    assert f"Ticket n° {number}" in job.text
    assert "Chaise" in job.text
    assert "12,00 €" in job.text  # PC858 decoded: the euro sign came through
    assert (job.cuts, job.drawer_pulses, job.qr_codes) == (1, [0], [sold.json()["ticket"]["ticket_id"]])
    assert (await till.until_job("printed"))["kind"] == "receipt"
    status = (await till.http.get("/v1/status")).json()["printer"]
    assert (status["state"], status["jobs_waiting"]) == ("ready", 0)


async def test_a_card_only_sale_prints_but_never_opens_the_drawer(till: PrintingTill) -> None:
    card = [{"payment_id": str(uuid.uuid4()), "method": "card", "amount": 1200, "reference": "A1"}]
    await till.sell(card)
    [job] = await till.printer.wait_for_jobs(1)
    assert (job.cuts, job.drawer_pulses) == (1, [])


async def test_a_printer_switched_off_never_holds_a_sale_back_and_prints_once_back(till: PrintingTill) -> None:
    await till.printer.go_offline()
    sold, took = await till.sell(cash(1200))
    assert took < 0.3  # finalize answers at once, whatever the printer
    waiting = await till.until_job("pending", attempts=2)
    assert "does not answer" in waiting["last_reason"]
    assert (await till.http.get("/v1/status")).json()["printer"]["state"] == "offline"
    await till.printer.go_online()
    [job] = await till.printer.wait_for_jobs(1)
    assert f"Ticket n° {sold.json()['ticket']['number']}" in job.text
    assert (await till.until_job("printed"))["interrupted"] is False


async def test_out_of_paper_the_job_waits_visible_then_prints(till: PrintingTill) -> None:
    till.printer.paper = "out"
    await till.sell(cash(1200))
    waiting = await till.until_job("pending", attempts=2)
    assert waiting["last_reason"] == "the printer is out of paper"
    printer = (await till.http.get("/v1/status")).json()["printer"]
    assert (printer["state"], printer["jobs_waiting"]) == ("paper_out", 1)
    assert till.printer.unprinted == []  # nothing was sent to a printer without paper
    till.printer.paper = "ok"
    [job] = await till.printer.wait_for_jobs(1)
    assert job.cuts == 1


async def test_a_job_cut_mid_way_is_printed_again_whole_and_says_so(till: PrintingTill) -> None:
    till.printer.drop_next_job_after(200)
    sold, _ = await till.sell(cash(1200))
    [job] = await till.printer.wait_for_jobs(1)
    assert len(till.printer.dropped) == 1
    assert till.printer.dropped[0].cuts == 0
    assert "* Impression reprise en entier *" in job.text
    assert f"Ticket n° {sold.json()['ticket']['number']}" in job.text
    assert (job.cuts, job.drawer_pulses) == (1, [0])
    printed = await till.until_job("printed")
    assert (printed["interrupted"], printed["attempts"]) == (True, 2)


async def test_a_reprint_prints_duplicata_1_without_opening_the_drawer(till: PrintingTill) -> None:
    sold, _ = await till.sell(cash(1200))
    await till.printer.wait_for_jobs(1)
    again = await till.http.post(f"/v1/sales/{sold.json()['ticket']['ticket_id']}/reprint")
    assert again.json()["duplicate_number"] == 1
    [_, duplicate] = await till.printer.wait_for_jobs(2)
    assert "DUPLICATA n° 1" in duplicate.text
    assert (duplicate.cuts, duplicate.drawer_pulses) == (1, [])


async def test_a_cash_movement_and_the_drawer_route_open_the_drawer_and_print_nothing(till: PrintingTill) -> None:
    moved = await till.http.post(
        "/v1/session/movements", json={"kind": "withdrawal", "amount": 500, "reason": "banque"}
    )
    assert moved.status_code == 201
    opened = await till.http.post("/v1/drawer/open")
    assert (opened.status_code, opened.json()["kind"]) == (202, "drawer")
    jobs = await till.printer.wait_for_jobs(2)
    assert [(j.drawer_pulses, j.cuts, j.text) for j in jobs] == [([0], 0, ""), ([0], 0, "")]
