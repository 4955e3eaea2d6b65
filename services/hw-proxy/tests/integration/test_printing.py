"""The till's receipts on a printer over a real socket: hw-proxy's app (real SQLite file, the real python-escpos
`Network` printer) prints to our virtual ESC/POS printer on 127.0.0.1 (`caisse_devices.printer`).

A sale's receipt arrives with its text, one cut, one drawer pulse when paid in cash and none by card; a printer
switched off never holds a sale back (finalize answers at once) and the receipt prints once it is back; out of
paper, the job waits, visible, and prints after; a job whose connection dropped mid-way is printed again whole;
a reprint is DUPLICATA n° 1; a cash movement and the drawer route open the drawer. While idle, the printer's state
is asked every poll interval (paper out, off line show before the next sale); the shop's logo prints as a raster
image; a serial printer (a pseudo-terminal's real device file) receives the receipt as a network one does."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_receipt_goldens import LOGO
from test_till_routes import PIN, seed
from test_till_selling import cash, chairs
from till_examples import AT, CASHIER, POS, SHOP, FakeCentral, place_items

from caisse_contracts.events.config import EntityType
from caisse_devices.printer import VirtualPrinter, VirtualSerialPrinter
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


async def with_printer(path: str, connection: dict[str, Any], *, logo: bytes | None = None) -> None:
    """The POS's config as pos-api pushes it, with its printer (80 mm, PC858) and the shop's logo if given."""
    store = TillRecords(path)
    await store.open()
    items = {kind: item for kind, _, item in place_items() if kind in (EntityType.POS, EntityType.SHOP)}
    pos = {**items[EntityType.POS], "version": 2, "printer": {"connection": connection}}
    await store.record(
        CachedItem(EntityKey(EntityType.POS, POS), 2, pos, position=99), position=99, at=AT, seen_in_reset=False
    )
    if logo is not None:
        shop = {**items[EntityType.SHOP], "version": 2, "receipt_logo_png": base64.b64encode(logo).decode()}
        await store.record(
            CachedItem(EntityKey(EntityType.SHOP, SHOP), 2, shop, position=100),
            position=100,
            at=AT,
            seen_in_reset=False,
        )
    await store.close()


@asynccontextmanager
async def printing_till(
    tmp_path: Path, printer: VirtualPrinter, connection: dict[str, Any], *, logo: bytes | None = None, **settings: Any
) -> AsyncIterator[PrintingTill]:
    """hw-proxy's app over a real SQLite file, its POS printing to `connection`, its cashier in a session."""
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    await with_printer(path, connection, logo=logo)
    given = Settings(
        store_path=path,
        device_serial="TILL-0001",
        device_secret="s3cret",
        notifier_url="ws://127.0.0.1:9",
        print_retry_first_s=0.05,
        print_retry_max_s=0.2,
        printer_timeout_s=2.0,
        **settings,
    )
    app = build_app(given, central=FakeCentral(pins={CASHIER: PIN}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        assert (await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success
        opened = await http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})
        assert opened.status_code == 201, opened.text
        yield PrintingTill(http, printer, app.state.printing)


def network(printer: VirtualPrinter) -> dict[str, Any]:
    return {"kind": "network", "host": "127.0.0.1", "port": printer.port}


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[PrintingTill]:
    printer = VirtualPrinter()
    await printer.start()
    async with printing_till(tmp_path, printer, network(printer)) as running:
        yield running
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


async def test_while_idle_the_printer_s_state_is_polled_so_paper_out_and_off_line_show_before_the_next_sale(
    tmp_path: Path,
) -> None:
    printer = VirtualPrinter()
    await printer.start()
    async with printing_till(tmp_path, printer, network(printer), printer_poll_s=0.1) as till:

        async def printer_state(expected: str) -> dict[str, Any]:
            deadline = time.monotonic() + 5  # many poll intervals
            while time.monotonic() < deadline:
                shown: dict[str, Any] = (await till.http.get("/v1/status")).json()["printer"]
                if shown["state"] == expected:
                    return shown
                await asyncio.sleep(0.02)  # a poll with a deadline
            raise AssertionError(f"the status never said {expected}: {shown}")

        await printer_state("ready")  # asked while idle: nothing was printed yet
        till.printer.paper = "out"
        out = await printer_state("paper_out")
        assert (out["reason"], out["jobs_waiting"]) == ("the printer is out of paper", 0)
        till.printer.paper = "ok"
        await printer_state("ready")
        await till.printer.go_offline()
        offline = await printer_state("offline")
        assert offline["reason"].startswith("the printer does not answer")
        await till.printer.go_online()
        await printer_state("ready")
        assert till.printer.jobs == []  # status requests only: nothing printed
    await printer.stop()


async def test_with_polling_off_the_state_is_only_read_when_printing(tmp_path: Path) -> None:
    printer = VirtualPrinter()
    await printer.start()
    async with printing_till(tmp_path, printer, network(printer), printer_poll_s=0) as till:
        await till.worker.idle.wait()
        assert (await till.http.get("/v1/status")).json()["printer"]["state"] == "unknown"
        assert printer.connections == 0
    await printer.stop()


async def test_the_shop_s_logo_prints_as_a_raster_image_above_the_receipt(tmp_path: Path) -> None:
    printer = VirtualPrinter()
    await printer.start()
    async with printing_till(tmp_path, printer, network(printer), logo=LOGO) as till:
        sold, _ = await till.sell(cash(1200))
        [job] = await till.printer.wait_for_jobs(1)
        assert job.images == [(48, 16)]  # the logo's size in dots, under the paper's width: printed as it is
        assert job.unknown == []
        assert job.text.index("Le Grenier") < job.text.index(f"Ticket n° {sold.json()['ticket']['number']}")
    await printer.stop()


async def test_a_serial_printer_on_a_device_file_receives_the_receipt(tmp_path: Path) -> None:
    serial = VirtualSerialPrinter()
    await serial.start()
    assert serial.device.startswith("/dev/")
    connection = {"kind": "serial", "device": serial.device, "baudrate": 115200}
    try:
        async with printing_till(tmp_path, VirtualPrinter(), connection) as till:
            began = time.monotonic()
            sold, _ = await till.sell(cash(1200))
            assert (await till.until_job("printed"))["attempts"] == 1
            assert time.monotonic() - began < 2.0  # each status answer read as it comes, not at the read's timeout
            job = await serial.wait_until(lambda received: received.cuts >= 1)  # printed: its last answer is read
            assert f"Ticket n° {sold.json()['ticket']['number']}" in job.text
            assert "12,00 €" in job.text
            assert (job.drawer_pulses, job.qr_codes) == ([0], [sold.json()["ticket"]["ticket_id"]])
            assert job.status_requests == [4, 1, 1]  # paper and on line before, on line after the job
    finally:
        await serial.stop()
