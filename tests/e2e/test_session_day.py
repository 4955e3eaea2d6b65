"""A till's cash session on the real stack: opened through pos-api, sold into, closed once every ticket is in,
its Z report e-mailed over real SMTP (and retried while the server is down), its deposit slip as PDF and ESC/POS.

The PDFs are checked the way a person would read them: rendered to an image (pdftoppm) and read as text
(pdftotext). Expected figures come from PRODUCT.md §2: expected cash = float + cash received − change given
+ additions − withdrawals; variance = counted − expected.
"""

from __future__ import annotations

import asyncio
import email
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from caisse_stack.demo_data import Demo, DemoTill
from harness import ServiceProcess, Stack, free_port


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts; started when a test says so."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def services(stack: Stack, mailbox: Mailbox) -> tuple[ServiceProcess, ServiceProcess]:
    sessions = stack.service(
        "session-service",
        tag="_cs",
        smtp_port=str(mailbox.port),
        smtp_sender="caisse@ressourcerie.example",
        mail_poll_s="0.2",
        mail_retry_first_s="0.5",
        mail_retry_max_s="1",
        close_wait_s="2",
    )
    sessions.start()
    pos_api = stack.service("pos-api", tag="_cs")
    pos_api.start()
    return pos_api, sessions


@pytest.fixture(scope="module")
def demo(stack: Stack, services: tuple[ServiceProcess, ServiceProcess]) -> Demo:
    return stack.demo(services[0])


def headers(till: DemoTill) -> dict[str, str]:
    return {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def wait_until(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class TillDriver:
    """One demo till driven over pos-api's HTTP API, like the till's UI through hw-proxy."""

    def __init__(self, pos_api: ServiceProcess, demo: Demo, index: int) -> None:
        self.till = demo.tills[index]
        self.cashier = demo.cashiers[self.till.shop_id]
        self.client = httpx.Client(base_url=pos_api.url, headers=headers(self.till), timeout=30)
        self.next_number = 1

    def boot(self) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get("/v1/pos-data").raise_for_status().json()
        return body

    def open(self, float_counts: list[dict[str, int]], session_id: str | None = None) -> httpx.Response:
        body = {
            "session_id": session_id or str(uuid.uuid4()),
            "operator_ids": [self.cashier],
            "float_counts": float_counts,
        }
        return self.client.post("/v1/sessions", json=body)

    def basket(self, payments: list[dict[str, Any]]) -> tuple[str, int]:
        """A coat (Textile, 8.00, 1250 g) and a shopping bag (1.00): 9.00 with the given payments."""
        catalogue = self.boot()["catalogue"]
        textile = next(c["id"] for c in catalogue["categories"] if c["name"] == "Textile")
        bag = next(p["id"] for p in catalogue["products"] if p["name"] == "Sac cabas")
        lines = [
            {"line_id": str(uuid.uuid4()), "category_id": textile, "price": 800, "weight_grams": 1250},
            {"line_id": str(uuid.uuid4()), "product_id": bag},
        ]
        basket_id = str(uuid.uuid4())
        saved = self.client.put(
            f"/v1/baskets/{basket_id}", json={"version": 0, "content": {"lines": lines, "payments": payments}}
        )
        assert saved.status_code == 200, saved.text
        version: int = saved.json()["version"]
        return basket_id, version

    def sell(self, payment: dict[str, Any]) -> int:
        basket_id, version = self.basket([{"payment_id": str(uuid.uuid4()), **payment}])
        number = self.next_number
        done = self.client.post(f"/v1/baskets/{basket_id}/finalize", json={"number": number, "version": version})
        assert done.status_code == 201, done.text
        self.next_number += 1
        return number

    def close(self, session_id: str, counts: list[dict[str, int]], **extra: Any) -> httpx.Response:
        body = {
            "closed_by": self.cashier,
            "last_ticket_number": self.next_number - 1 or None,
            "counts": counts,
            **extra,
        }
        return self.client.post(f"/v1/sessions/{session_id}/close", json=body)

    def session(self, session_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get(f"/v1/sessions/{session_id}").raise_for_status().json()
        return body


def sql(stack: Stack, service: str, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database(service, "_cs")))
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def pdf_text(pdf: bytes, folder: Path, name: str) -> str:
    """The PDF rendered to a PNG page (it must render) and its text as pdftotext reads it."""
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(folder / name)], check=True)
    [png] = list(folder.glob(f"{name}*.png"))
    assert png.read_bytes().startswith(b"\x89PNG"), "pdftoppm rendered the first page"
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    return done.stdout


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


EUR_FLOAT = [{"value": 1000, "count": 5}, {"value": 200, "count": 10}]
"""5 × 10 € + 10 × 2 € = 70.00 €."""


def test_a_till_opens_through_pos_api_boots_ready_continue_and_a_retried_open_continues_it(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    till = TillDriver(services[0], demo, 0)
    assert till.boot()["status"] == "READY_OPEN"
    session_id = str(uuid.uuid4())
    opened = till.open(EUR_FLOAT, session_id)
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert (body["status"], body["opening_float"], body["currency"]) == ("open", 7000, "EUR")
    assert body["operator_ids"] == [till.cashier]
    assert 5000 in body["denominations"], "the territory's notes and coins, from the configuration"
    assert till.boot()["status"] == "READY_CONTINUE"  # at once: pos-api records the session it just forwarded
    assert till.boot()["session"]["session_id"] == session_id
    again = till.open(EUR_FLOAT, session_id)
    assert again.status_code == 200
    assert again.headers["X-Session-Outcome"] == "continued"
    assert till.client.get("/v1/sessions/current").json()["session_id"] == session_id


def test_a_second_open_on_the_same_till_is_refused_and_writes_nothing(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    till = TillDriver(services[0], demo, 0)
    current = till.client.get("/v1/sessions/current").json()["session_id"]
    before = sql(stack, "session-service", "select count(*) from outbox")
    refused = problem(till.open(EUR_FLOAT), 409)
    assert refused["type"].endswith("/session-already-open")
    assert refused["session_id"] == current
    assert refused["invalid_params"][0]["name"] == "pos_id"
    assert sql(stack, "session-service", "select count(*) from outbox") == before
    assert (
        sql(
            stack,
            "session-service",
            "select count(*) from cash_sessions where pos_id = $1",
            uuid.UUID(till.till.pos_id),
        )
        == 1
    )


def test_an_unknown_denomination_is_refused_naming_the_field_and_writes_nothing(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    till = TillDriver(services[0], demo, 1)
    refused = problem(till.open([{"value": 1000, "count": 1}, {"value": 300, "count": 2}]), 422)
    assert refused["invalid_params"][0]["name"] == "float_counts[1].value"
    assert "300 is not a denomination" in refused["invalid_params"][0]["reason"]
    assert (
        sql(
            stack,
            "session-service",
            "select count(*) from cash_sessions where pos_id = $1",
            uuid.UUID(till.till.pos_id),
        )
        == 0
    )


def test_a_negative_count_is_refused_naming_the_field_and_writes_nothing(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    till = TillDriver(services[0], demo, 1)
    refused = problem(till.open([{"value": 1000, "count": -3}]), 422)
    assert refused["invalid_params"][0]["name"] == "float_counts[0].count"
    assert (
        sql(
            stack,
            "session-service",
            "select count(*) from cash_sessions where pos_id = $1",
            uuid.UUID(till.till.pos_id),
        )
        == 0
    )
    assert till.boot()["status"] == "READY_OPEN"


def test_the_close_waits_visibly_for_the_last_tickets_and_completes_when_they_arrive(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    till = TillDriver(services[0], demo, 0)
    session_id = till.client.get("/v1/sessions/current").json()["session_id"]
    till.next_number = 3  # the till says it issued tickets 1 and 2, which pos-api has not received yet
    waiting = problem(till.close(session_id, EUR_FLOAT), 409)
    assert waiting["type"].endswith("/tickets-missing")
    assert waiting["status_text"] == "closing: waiting for tickets 1..2"
    assert waiting["waiting_for"] == [[1, 2]]
    assert waiting["invalid_params"][0]["name"] == "last_ticket_number"
    read = till.session(session_id)
    assert (read["status"], read["status_text"]) == ("closing", "closing: waiting for tickets 1..2")

    till.next_number = 1
    till.sell({"method": "card", "amount": 900, "reference": "AUTH01"})
    till.sell({"method": "card", "amount": 900, "reference": "AUTH02"})
    wait_until(lambda: till.session(session_id)["status"] == "closed", what="the close to complete on its own")
    closed = till.session(session_id)["closing"]
    assert (closed["expected_cash"], closed["counted_cash"], closed["variance"]) == (7000, 7000, 0)
    assert closed["card_total"] == 1800
    wait_until(lambda: till.boot()["status"] == "READY_OPEN", what="pos-api to hear of the close")


def test_a_day_of_sales_closes_with_its_variance_and_its_deposit_slip_as_pdf_and_escpos(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, tmp_path: Path
) -> None:
    till = TillDriver(services[0], demo, 2)
    opened = till.open(EUR_FLOAT)
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["session_id"]
    wait_until(lambda: till.boot()["status"] == "READY_CONTINUE", what="pos-api to hear of the open session")
    cheque_id = str(uuid.uuid4())
    till.sell({"method": "cash", "amount": 900, "tendered": 2000})
    basket_id, version = till.basket(
        [{"payment_id": cheque_id, "method": "cheque", "amount": 900, "reference": "0001234", "bank": "La Poste"}]
    )
    done = till.client.post(f"/v1/baskets/{basket_id}/finalize", json={"number": till.next_number, "version": version})
    assert done.status_code == 201, done.text
    till.next_number += 1
    till.sell({"method": "card", "amount": 900, "reference": "AUTH03"})
    moved = till.client.post(
        f"/v1/sessions/{session_id}/movements",
        json={
            "movement_id": str(uuid.uuid4()),
            "kind": "withdrawal",
            "amount": 1000,
            "reason": "billet au coffre",
            "operator_id": till.cashier,
        },
    )
    assert moved.status_code == 201, moved.text
    # expected = 70.00 float + 20.00 received − 11.00 change − 10.00 withdrawn = 69.00
    counts = [{"value": 1000, "count": 5}, {"value": 200, "count": 9}, {"value": 100, "count": 1}]
    closed = till.close(
        session_id,
        counts,
        float_kept=[{"value": 1000, "count": 5}],
        cheques_ticked=[cheque_id],
        card_terminal_total=900,
    )
    assert closed.status_code == 200, closed.text
    figures = closed.json()["closing"]
    assert (figures["expected_cash"], figures["counted_cash"], figures["variance"]) == (6900, 6900, 0)
    assert (figures["deposit_cash"], figures["cheque_total"], figures["card_difference"]) == (1900, 900, 0)
    assert [(c["number"], c["bank"], c["amount"]) for c in figures["cheques"]] == [("0001234", "La Poste", 900)]

    report = till.client.get(f"/v1/sessions/{session_id}/report").json()
    assert (report["ticket_count"], report["first_ticket_number"], report["last_ticket_number"]) == (3, 1, 3)
    assert report["total_weight_grams"] == 3 * 1250
    assert {m["method"]: m["amount"] for m in report["by_method"]} == {"cash": 900, "cheque": 900, "card": 900}

    slip = till.client.get(f"/v1/sessions/{session_id}/deposit-slip.pdf")
    assert slip.headers["content-type"] == "application/pdf"
    text = pdf_text(slip.content, tmp_path, "slip")
    assert "Bordereau de remise en banque" in text
    assert "Ressourcerie du Bocage" in text
    assert "FR76 3000 4000 0500 0000 0000 002" in text  # the shop's account (demo shop 2)
    assert "0001234" in text
    assert "La Poste" in text
    assert "19,00 EUR" in text  # cash deposited: 9 × 2 € + 1 × 1 €, the 50 € float stays
    assert "28,00 EUR" in text  # cash and the cheque
    assert "Signature du déposant" in text

    z = pdf_text(till.client.get(f"/v1/sessions/{session_id}/report.pdf").content, tmp_path, "z")
    assert "Rapport Z" in z
    assert "Textile" in z

    printed = till.client.get(f"/v1/sessions/{session_id}/deposit-slip.escpos").content
    assert b"BORDEREAU DE REMISE" in printed
    assert b"TOTAL REMIS" in printed
    assert b"\x1dV" in printed[-10:], "the slip is cut"

    wait_until(lambda: till.boot()["status"] == "READY_OPEN", what="pos-api to hear of the close")


def test_a_close_of_a_closed_session_is_refused(services: tuple[ServiceProcess, ServiceProcess], demo: Demo) -> None:
    till = TillDriver(services[0], demo, 2)
    opened = till.open(EUR_FLOAT)
    first = opened.json()["session_id"]
    assert till.close(first, EUR_FLOAT).status_code == 200
    refused = problem(till.close(first, [{"value": 1000, "count": 7}], comment="recompté"), 409)
    assert refused["type"].endswith("/session-not-open")
    assert refused["session_status"] == "closed"


def test_a_close_while_a_basket_is_open_is_refused_by_pos_api_and_the_session_stays_open(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    till = TillDriver(services[0], demo, 3)
    session_id = till.open(EUR_FLOAT).json()["session_id"]
    till.basket([])
    refused = problem(till.close(session_id, EUR_FLOAT), 409)
    assert refused["invalid_params"][0]["name"] == "basket"
    assert till.session(session_id)["status"] == "open"


def test_the_z_report_is_emailed_once_the_mail_server_is_back_and_the_close_did_not_wait(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, mailbox: Mailbox, tmp_path: Path
) -> None:
    pos_api, sessions = services
    till = TillDriver(pos_api, demo, 1)
    session_id = till.open(EUR_FLOAT).json()["session_id"]
    began = time.monotonic()
    closed = till.close(session_id, EUR_FLOAT)
    assert closed.status_code == 200, closed.text
    assert time.monotonic() - began < 5, "the close does not wait for the mail server"

    def mail() -> dict[str, Any]:
        [queued] = httpx.get(f"{sessions.url}/v1/sessions/{session_id}/mail", headers=sessions.as_pos_api).json()
        return dict(queued)

    wait_until(lambda: mail()["attempts"] >= 2, what="two failed attempts while the server is down")
    assert mail()["sent_at"] is None
    assert mail()["last_error"]
    mailbox.start()
    wait_until(lambda: mail()["sent_at"] is not None, what="the report to be sent once the server is back")
    [message] = [m for m in mailbox.messages if session_id in plain_text(m)]
    assert message["To"] == "boutique1@ressourcerie.example"
    assert str(message["Subject"]).startswith("Rapport Z Bocage — Bressuire Caisse 2")
    attachments = {str(a.get_filename()): a.get_content() for a in message.iter_attachments()}
    [report_pdf] = [data for name, data in attachments.items() if name.startswith("rapport-z")]
    text = pdf_text(report_pdf, tmp_path, "mailed")
    assert "Rapport Z" in text
    assert "70,00 EUR" in text  # the float, counted back
    assert any(name.startswith("bordereau-remise") for name in attachments)


def test_the_open_of_a_till_is_one_trace_from_pos_api_through_session_service_to_kafka(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    pos_api, sessions = services
    till = TillDriver(pos_api, demo, 4)  # New Caledonia: francs, no cents
    trace_id = uuid.uuid4().hex
    body = {
        "session_id": str(uuid.uuid4()),
        "operator_ids": [till.cashier],
        "float_counts": [{"value": 1000, "count": 5}, {"value": 5, "count": 20}],
    }
    opened = till.client.post(
        "/v1/sessions", json=body, headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
    )
    assert opened.status_code == 201, opened.text
    assert (opened.json()["currency"], opened.json()["opening_float"]) == ("XPF", 5100)

    def spans(proc: ServiceProcess) -> list[dict[str, Any]]:
        lines = proc.trace_path.read_text().splitlines() if proc.trace_path.exists() else []
        return [s for s in map(json.loads, lines) if s["context"]["trace_id"] == f"0x{trace_id}"]

    wait_until(lambda: any(s["kind"] == "SpanKind.PRODUCER" for s in spans(sessions)), what="the publish span")
    assert any(s["kind"] == "SpanKind.SERVER" for s in spans(pos_api)), "pos-api's span joined the till's trace"
    assert any(s["kind"] == "SpanKind.SERVER" for s in spans(sessions)), "session-service continued it"
