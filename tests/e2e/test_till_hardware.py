"""The till's hardware on the real stack (issue 18): session-service, pos-api, the notifier and the till's hw-proxy as
real processes on real Kafka and PostgreSQL, with our virtual ESC/POS printer and our Caisse-AP terminal simulator
listening on 127.0.0.1 in the test.

Ops configures the POS's printer and card terminal (and the shop's logo) through pos-api's back office, as they
would; the config reaches the till through the notifier. Then: a cash sale's receipt prints with the shop's header
and logo, its lines, total, number and the QR code of its id, one cut and one drawer pulse; a card sale through the
terminal prints the terminal's slip and opens no drawer, and reaches pos-api once; a declined card payment leaves
the basket unpaid with the reason in the cashier's words; a credit note paid back by card prints AVOIR with the
refund's slip; a reprint is DUPLICATA n° 1; and once the session is closed, the bank deposit slip prints from
session-service's ESC/POS bytes, through pos-api.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from till_support import PIN, PRODUCT, central_kinds, counts_of, ticket_events, wait_for

from caisse_contracts.config import PosFields, ShopFields
from caisse_devices.card_terminal import CardTerminalSimulator, Outcome
from caisse_devices.printer import Job, VirtualPrinter
from harness import ServiceProcess, Stack, Till

TAG = "_hardware"
LOGO = (Path(__file__).parents[2] / "services/hw-proxy/tests/unit/goldens/logo_48x16.png").read_bytes()
"""The shop's small logo, 48 × 16 pixels (the one of hw-proxy's golden receipts)."""
HEADER = "Merci de donner une seconde vie aux objets"
"""The second line of the demo shop's receipt header."""
T = TypeVar("T")


class Devices:
    """The shop's printer and card terminal: our virtual printer and terminal simulator, served by an event loop of
    their own in a thread (the test drives the till over blocking HTTP meanwhile)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="devices", daemon=True)
        self.printer = VirtualPrinter()
        self.terminal = CardTerminalSimulator()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self.run(self.printer.start())
        self.run(self.terminal.start())

    def stop(self) -> None:
        self.run(self.terminal.stop())
        self.run(self.printer.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def script(self, *outcomes: Outcome) -> None:
        self.loop.call_soon_threadsafe(self.terminal.script, *outcomes)


@dataclass
class HardwareTill:
    """The till at work: its agent, the back office, the devices, and what the paper shows."""

    stack: Stack
    till: Till
    pos_api: ServiceProcess
    http: httpx.Client
    devices: Devices
    session_id: str
    cash_taken: list[int] = field(default_factory=list)

    def next_job(self, seen: int | None = None) -> Job:
        """The next job the printer prints after the `seen` first (by default: every job printed so far)."""
        jobs = self.devices.printer.jobs
        count = len(jobs) if seen is None else seen
        wait_for(lambda: len(jobs) > count, f"print job {count + 1}", timeout_s=10, every_s=0.02)
        return jobs[count]

    def basket(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """A basket of two bags saved on the till (version 1): its id, its line and its computed totals."""
        ident = str(uuid.uuid4())
        line = {"line_id": str(uuid.uuid4()), "product_id": self.till.demo.products["FR"][PRODUCT], "quantity": 2}
        saved = self.http.put(f"/v1/baskets/{ident}", json={"version": 0, "content": {"lines": [line]}})
        assert saved.status_code == 200, saved.text
        computed: dict[str, Any] = saved.json()["computed"]
        return ident, line, computed

    def card_payment(self, basket: str, amount: int) -> dict[str, Any]:
        paid = self.http.post(
            f"/v1/baskets/{basket}/card-payments", json={"operation_id": str(uuid.uuid4()), "amount": amount}
        )
        assert paid.status_code == 201, paid.text
        body: dict[str, Any] = paid.json()
        return body

    def finalize(self, basket: str) -> httpx.Response:
        version = self.http.get(f"/v1/baskets/{basket}").json()["version"]
        return self.http.post(f"/v1/baskets/{basket}/finalize", json={"version": version})

    def sell_by_card(self) -> dict[str, Any]:
        """Two bags paid by card on the terminal and finalized: the ticket."""
        basket, _, computed = self.basket()
        paid = self.card_payment(basket, computed["remaining"])
        assert paid["status"] == "approved", paid
        sold = self.finalize(basket)
        assert sold.status_code == 201, sold.text
        ticket: dict[str, Any] = sold.json()["ticket"]
        return ticket


def configure(admin: httpx.Client, path: str, fields: type[PosFields | ShopFields], **changes: Any) -> None:
    """Ops changes an item in the back office: read it, PUT it back changed, with the version read."""
    read = admin.get(path)
    read.raise_for_status()
    body = {k: v for k, v in read.json()["item"].items() if k in fields.model_fields}
    written = admin.put(path, json={**body, **changes}, headers={"If-Match": read.headers["ETag"]})
    assert written.status_code == 200, written.text


@pytest.fixture(scope="module")
def hardware(stack: Stack) -> Iterator[HardwareTill]:
    stack.service("session-service", tag=TAG, close_wait_s="1").start()
    pos_api = stack.service("pos-api", tag=TAG)
    pos_api.start()
    stack.service("notifier", tag=TAG).start()
    till = Till.of(stack.demo(pos_api), 0)
    devices = Devices()
    devices.start()
    admin = httpx.Client(
        base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token(TAG)}"}, timeout=10
    )
    cashier = till.demo.cashiers[till.till.shop_id]
    assert admin.put(f"/v1/operators/{cashier}/pin", json={"pin": PIN}).status_code == 204
    hw_proxy = stack.service(
        "hw-proxy",
        tag=TAG,
        pos_api_url=pos_api.url,
        device_serial=till.till.serial,
        device_secret=till.till.secret,
        store_path=str(stack.workdir / "till-hardware.sqlite3"),
        forward_timeout_s="5",
        send_retry_max_s="1",
        print_retry_max_s="1",
    )
    hw_proxy.start()
    http = httpx.Client(base_url=hw_proxy.url, timeout=30)
    try:
        wait_for(lambda: http.get("/v1/status").json()["status"] == "READY_OPEN", "the till's config", timeout_s=30)
        printer = {"connection": {"kind": "network", "host": "127.0.0.1", "port": devices.printer.port}}
        terminal = {"host": "127.0.0.1", "port": devices.terminal.port, "timeout_s": 10}
        configure(admin, f"/v1/pos/{till.till.pos_id}", PosFields, printer=printer, card_terminal=terminal)
        configure(admin, f"/v1/shops/{till.till.shop_id}", ShopFields, receipt_logo_png=base64.b64encode(LOGO).decode())

        def configured() -> bool:
            pos = http.get(f"/v1/config/pos/{till.till.pos_id}").json()["item"]
            shop = http.get(f"/v1/config/shop/{till.till.shop_id}").json()["item"]
            return bool(pos.get("printer") and pos.get("card_terminal") and shop.get("receipt_logo_png"))

        wait_for(configured, "the printer, the terminal and the logo on the till", timeout_s=15)
        login = http.post("/v1/cashier/login", json={"operator_id": cashier, "pin": PIN})
        assert login.status_code == 200, login.text
        opened = http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 2}]})
        assert opened.status_code == 201, opened.text
        yield HardwareTill(stack, till, pos_api, http, devices, opened.json()["session_id"], [2000])
    finally:
        http.close()
        admin.close()
        hw_proxy.stop()
        devices.stop()


def test_a_cash_sale_prints_its_receipt_with_the_shop_s_header_logo_and_qr_code_and_opens_the_drawer(
    hardware: HardwareTill,
) -> None:
    basket, line, computed = hardware.basket()
    cash = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": computed["cash_due"]}
    seen = len(hardware.devices.printer.jobs)
    sold = hardware.http.post(
        f"/v1/baskets/{basket}/finalize", json={"version": 1, "content": {"lines": [line], "payments": [cash]}}
    )
    assert sold.status_code == 201, sold.text
    hardware.cash_taken.append(computed["cash_due"])
    ticket = sold.json()["ticket"]
    job = hardware.next_job(seen)
    assert "Bressuire" in job.text
    assert HEADER in job.text
    assert job.images == [(48, 16)], "the shop's logo, as a raster image"
    assert PRODUCT in job.text
    assert f"Ticket n° {ticket['number']}" in job.text
    total = f"{ticket['total_incl_tax'] // 100},{ticket['total_incl_tax'] % 100:02d} €"
    assert any(line.startswith("TOTAL TTC") and line.endswith(total) for line in job.text.splitlines())
    assert job.qr_codes == [ticket["ticket_id"]]
    assert (job.cuts, job.drawer_pulses, job.unknown) == (1, [0], [])


def test_a_card_sale_prints_the_terminal_s_slip_opens_no_drawer_and_reaches_pos_api_once(
    hardware: HardwareTill,
) -> None:
    seen = len(hardware.devices.printer.jobs)
    ticket = hardware.sell_by_card()
    [payment] = ticket["payments"]
    assert payment["method"] == "card"
    job = hardware.next_job(seen)
    assert f"Ticket n° {ticket['number']}" in job.text
    assert "CARTE BANCAIRE" in job.text
    assert "CARTE 497010######" in job.text, "the masked card number of the terminal's answer"
    assert f"AUTORISATION {payment['reference']}" in job.text
    assert (job.cuts, job.drawer_pulses) == (1, []), "never a drawer on a card-only sale"

    ident = ticket["ticket_id"]
    sent = wait_for(
        lambda: (sale := hardware.http.get(f"/v1/sales/{ident}").json())["sync_state"] == "sent" and sale,
        "the card sale sent to pos-api",
        timeout_s=15,
    )
    assert sent["outcome"] == "created"
    pos_id = hardware.till.till.pos_id  # the POS's tickets in pos-api's database and on Kafka: this one once
    assert [t for t, *_ in central_kinds(hardware.stack, hardware.pos_api, pos_id)].count(ident) == 1
    events = wait_for(
        lambda: (found := Counter(t for t, _ in ticket_events(hardware.stack, pos_id)))[ident] and found,
        "the card sale on Kafka",
        timeout_s=20,
        every_s=0.5,
    )
    assert events[ident] == 1


def test_a_declined_card_payment_leaves_the_basket_unpaid_and_says_why(hardware: HardwareTill) -> None:
    hardware.devices.script(Outcome.REFUSED)
    basket, _, computed = hardware.basket()
    declined = hardware.card_payment(basket, computed["remaining"])
    assert (declined["status"], declined["code"], declined["message"]) == ("declined", "refused", "Carte refusée")
    assert hardware.http.get(f"/v1/baskets/{basket}").json()["computed"]["remaining"] == computed["remaining"]
    assert hardware.finalize(basket).status_code == 422
    again = hardware.card_payment(basket, computed["remaining"])  # the customer tries another card
    assert again["status"] == "approved"
    assert hardware.finalize(basket).status_code == 201
    hardware.next_job()


def test_a_credit_note_paid_back_by_card_prints_avoir_with_the_refund_s_slip(hardware: HardwareTill) -> None:
    sale = hardware.sell_by_card()
    hardware.next_job()
    [line] = sale["lines"]
    unit = line["total_incl_tax"] // line["quantity"]
    refund = {"operation_id": str(uuid.uuid4()), "amount": unit}
    refunded = hardware.http.post(f"/v1/sales/{sale['ticket_id']}/card-refunds", json=refund)
    assert (refunded.status_code, refunded.json()["status"]) == (201, "approved"), refunded.text
    seen = len(hardware.devices.printer.jobs)
    note = hardware.http.post(
        f"/v1/sales/{sale['ticket_id']}/credit-notes",
        json={
            "credit_note_id": str(uuid.uuid4()),
            "lines": [{"line_id": line["line_id"], "quantity": 1}],
            "payments": [{"payment_id": refund["operation_id"], "method": "card", "amount": unit}],
        },
    )
    assert note.status_code == 201, note.text
    job = hardware.next_job(seen)
    assert "AVOIR" in job.text
    assert f"sur le ticket n° {sale['number']}" in job.text
    assert "REMBOURSEMENT" in job.text
    assert f"AUTORISATION {refunded.json()['authorisation_number']}" in job.text
    assert (job.cuts, job.drawer_pulses) == (1, [])


def test_a_reprint_is_duplicata_1(hardware: HardwareTill) -> None:
    ticket = hardware.sell_by_card()
    hardware.next_job()
    seen = len(hardware.devices.printer.jobs)
    again = hardware.http.post(f"/v1/sales/{ticket['ticket_id']}/reprint")
    assert (again.status_code, again.json()["duplicate_number"]) == (200, 1), again.text
    job = hardware.next_job(seen)
    assert "DUPLICATA n° 1" in job.text
    assert f"Ticket n° {ticket['number']}" in job.text
    assert job.drawer_pulses == []


def test_once_the_session_is_closed_the_bank_deposit_slip_prints_from_session_service_s_bytes(
    hardware: HardwareTill,
) -> None:
    territory = hardware.http.get(f"/v1/config/territory/{hardware.till.territory_id}").json()["item"]
    values = [d["value"] for d in territory["denominations"]]
    counts = counts_of(sum(hardware.cash_taken), values)
    closed = hardware.http.post("/v1/session/close", json={"counts": counts})
    assert closed.status_code == 200, closed.text
    device = httpx.Client(base_url=hardware.pos_api.url, headers=hardware.till.headers, timeout=10)
    sid = hardware.session_id
    wait_for(
        lambda: device.get(f"/v1/sessions/{sid}").json()["status"] == "closed",
        "the session closed at session-service",
        timeout_s=20,
    )
    slip = device.get(f"/v1/sessions/{sid}/deposit-slip.escpos")
    device.close()
    assert slip.status_code == 200, slip.text
    seen = len(hardware.devices.printer.jobs)
    printing = hardware.http.post(f"/v1/sessions/{sid}/deposit-slip/print")
    assert (printing.status_code, printing.json()["kind"]) == (202, "deposit_slip"), printing.text
    job = hardware.next_job(seen)
    assert "BORDEREAU DE REMISE" in job.text
    assert job.data in slip.content, "session-service's bytes, as they came"
    assert (job.cuts, job.drawer_pulses) == (1, [])
