"""Card payments through hw-proxy run as its console script, against our Caisse-AP terminal simulator over real TCP
on 127.0.0.1 (issue 18): approved in both answer modes, contactless, refused, abandoned, timed out on the terminal,
no answer within the client timeout, the connection dropped; and hw-proxy SIGKILLed (its fault hook) after the
terminal charged the card and before the till recorded it: at restart the payment is pending, a retry never charges
the card again, and the cashier confirms or voids it from the terminal's slip.

pos-api is out of reach on purpose: the till sells offline, its cashier's PIN checked against the hash it learned.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from till_examples import AT, CASHIER, POS, PRODUCT, SERIAL, place_items

from caisse_contracts.caisse_ap import Action, AnswerMode
from caisse_contracts.pins import hash_pin
from caisse_devices.card_terminal import CardTerminalSimulator, Outcome
from hw_proxy.adapters.store import TillRecords
from hw_proxy.domain.config_cache import CachedItem, EntityKey

PIN = "4821"
TIMEOUT_S = 1.5
"""The till's client timeout in these tests: short, so that a terminal that never answers is given up quickly."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found is not None, f"the {name} console script is not installed"
    return found


async def seed(path: Path, terminal_port: int, answer_mode: str) -> None:
    """The till's config (its POS with the simulator as its card terminal) and its cashier's PIN, as learned online."""
    store = TillRecords(str(path))
    await store.open()
    try:
        card = {"host": "127.0.0.1", "port": terminal_port, "answer_mode": answer_mode, "timeout_s": TIMEOUT_S}
        for position, (entity_type, ident, given) in enumerate(place_items(), start=1):
            item = {**given, "card_terminal": card} if ident == POS else given
            await store.record(
                CachedItem(EntityKey(entity_type, ident), int(item["version"]), item, position=position),
                position=position,
                at=AT,
                seen_in_reset=False,
            )
        await store.learn_pin(CASHIER, hash_pin(PIN), AT)
    finally:
        await store.close()


@dataclass
class Agent:
    """hw-proxy as a process on this till, and what the test drives it with."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, **settings: str) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HW_PROXY_")},
            "HW_PROXY_HOST": "127.0.0.1",
            "HW_PROXY_PORT": str(self.port),
            "HW_PROXY_STORE_PATH": str(self.folder / "till.sqlite3"),
            "HW_PROXY_POS_API_URL": f"http://127.0.0.1:{free_port()}",
            "HW_PROXY_NOTIFIER_URL": f"ws://127.0.0.1:{free_port()}",
            "HW_PROXY_DEVICE_SERIAL": SERIAL,
            "HW_PROXY_DEVICE_SECRET": "device-secret-of-the-till",
            "HW_PROXY_FORWARD_TIMEOUT_S": "0.2",
            **{f"HW_PROXY_{k.upper()}": v for k, v in settings.items()},
        }
        self.process = self._spawn(env)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                assert self.process.poll() is None, (self.folder / "hw-proxy.log").read_text()
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "hw-proxy is not ready"
                await asyncio.sleep(0.1)
            login = await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
            assert login.status_code == 200, login.text
            status = (await http.get("/v1/status")).json()["status"]
            path = "/v1/session/open" if status == "READY_OPEN" else "/v1/session/continue"
            body = {"float_counts": [{"value": 1000, "count": 5}]} if status == "READY_OPEN" else None
            assert (await http.post(path, json=body)).is_success

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / "hw-proxy.log").open("ab") as log:
            return subprocess.Popen(
                [executable("hw-proxy")], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )

    async def died(self) -> int:
        """Wait for the process to end by itself (its fault hook); its exit code."""
        assert self.process is not None
        deadline = time.monotonic() + 30
        while (code := self.process.poll()) is None:
            assert time.monotonic() < deadline, "hw-proxy did not die"
            await asyncio.sleep(0.05)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
async def terminal() -> AsyncIterator[CardTerminalSimulator]:
    async with CardTerminalSimulator(slow_s=0.3) as simulator:
        yield simulator


async def agent_for(tmp_path: Path, terminal: CardTerminalSimulator, answer_mode: str = "at_end") -> Agent:
    await seed(tmp_path / "till.sqlite3", terminal.port, answer_mode)
    return Agent(tmp_path, free_port())


@pytest.fixture
async def agent(tmp_path: Path, terminal: CardTerminalSimulator) -> AsyncIterator[Agent]:
    running = await agent_for(tmp_path, terminal)
    await running.start()
    yield running
    running.stop()


async def basket(http: httpx.AsyncClient) -> str:
    """Two chairs at 12.00 €: 24.00 € to pay."""
    ident = str(uuid.uuid4())
    content = {"lines": [{"line_id": str(uuid.uuid4()), "product_id": str(PRODUCT), "quantity": 2}]}
    saved = await http.put(f"/v1/baskets/{ident}", json={"version": 0, "content": content})
    assert saved.status_code == 200, saved.text
    return ident


async def pay(http: httpx.AsyncClient, basket_id: str, amount: int = 2400, operation: str | None = None) -> Any:
    body = {"operation_id": operation or str(uuid.uuid4()), "amount": amount}
    answered = await http.post(f"/v1/baskets/{basket_id}/card-payments", json=body)
    assert answered.status_code in (200, 201), answered.text
    return answered.json()


async def finalize(http: httpx.AsyncClient, basket_id: str) -> httpx.Response:
    version = (await http.get(f"/v1/baskets/{basket_id}")).json()["version"]
    return await http.post(f"/v1/baskets/{basket_id}/finalize", json={"version": version})


@pytest.mark.parametrize("mode", ["at_end", "immediate"])
async def test_a_payment_approved_by_the_terminal_is_sold_in_both_answer_modes(
    tmp_path: Path, terminal: CardTerminalSimulator, mode: str
) -> None:
    running = await agent_for(tmp_path, terminal, mode)
    await running.start()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            ident = await basket(http)
            paid = await pay(http, ident)
            assert (paid["status"], paid["code"], paid["contactless"]) == ("approved", "approved", False)
            [received] = terminal.requests
            assert received.request.answer_mode is (AnswerMode.IMMEDIATE if mode == "immediate" else AnswerMode.AT_END)
            assert (received.request.amount, received.request.currency_numeric) == (2400, 978)
            sold = await finalize(http, ident)
            assert sold.status_code == 201, sold.text
            [payment] = sold.json()["ticket"]["payments"]
            assert (payment["method"], payment["reference"]) == ("card", paid["authorisation_number"])
    finally:
        running.stop()


async def test_a_contactless_payment_says_so_on_its_slip(agent: Agent, terminal: CardTerminalSimulator) -> None:
    terminal.script(Outcome.CONTACTLESS)
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        paid = await pay(http, await basket(http))
        assert (paid["status"], paid["contactless"]) == ("approved", True)
        assert "SANS CONTACT" in paid["slip_text"]


async def test_a_slow_answer_is_waited_for(agent: Agent, terminal: CardTerminalSimulator) -> None:
    terminal.script(Outcome.SLOW)
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        assert (await pay(http, await basket(http)))["status"] == "approved"


@pytest.mark.parametrize(
    ("outcome", "code", "message"),
    [
        (Outcome.REFUSED, "refused", "Carte refusée"),
        (Outcome.ABANDONED, "abandoned", "Paiement abandonné sur le terminal"),
        (Outcome.TIMED_OUT, "card_timeout", "Délai dépassé sur le terminal : la carte n'a pas été présentée"),
    ],
)
async def test_a_declined_payment_leaves_the_basket_unpaid_and_says_why(
    agent: Agent, terminal: CardTerminalSimulator, outcome: Outcome, code: str, message: str
) -> None:
    terminal.script(outcome)
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        ident = await basket(http)
        refused = await pay(http, ident)
        assert (refused["status"], refused["code"], refused["message"]) == ("declined", code, message)
        assert (await http.get(f"/v1/baskets/{ident}")).json()["computed"]["remaining"] == 2400
        assert (await finalize(http, ident)).status_code == 422


async def test_no_answer_within_the_client_timeout_is_pending_until_voided(
    agent: Agent, terminal: CardTerminalSimulator
) -> None:
    terminal.script(Outcome.SILENT)
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        ident = await basket(http)
        began = time.monotonic()
        unknown = await pay(http, ident)
        assert time.monotonic() - began >= TIMEOUT_S
        assert (unknown["status"], unknown["code"]) == ("pending", "no_answer")
        assert unknown["message"].startswith("Le terminal n'a pas répondu")
        assert (await finalize(http, ident)).status_code == 409
        voided = await http.post(f"/v1/card-operations/{unknown['operation_id']}/void")
        assert voided.json()["status"] == "voided"
        assert (await pay(http, ident))["status"] == "approved"
        assert (await finalize(http, ident)).status_code == 201


async def test_a_connection_dropped_is_pending_until_confirmed_from_the_slip(
    agent: Agent, terminal: CardTerminalSimulator
) -> None:
    terminal.script(Outcome.DROPPED)
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        ident = await basket(http)
        unknown = await pay(http, ident)
        assert (unknown["status"], unknown["code"]) == ("pending", "connection_lost")
        confirmed = await http.post(
            f"/v1/card-operations/{unknown['operation_id']}/confirm", json={"authorisation_number": "A1B2C3"}
        )
        assert confirmed.json()["status"] == "approved"
        sold = await finalize(http, ident)
        assert sold.status_code == 201, sold.text
        assert sold.json()["ticket"]["payments"][0]["reference"] == "A1B2C3"
        assert len(terminal.requests) == 1


async def test_a_refund_on_the_terminal_for_a_sale_paid_by_card(agent: Agent, terminal: CardTerminalSimulator) -> None:
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as http:
        ident = await basket(http)
        await pay(http, ident)
        assert (await finalize(http, ident)).status_code == 201
        body = {"operation_id": str(uuid.uuid4()), "amount": 1200}
        refunded = await http.post(f"/v1/sales/{ident}/card-refunds", json=body)
        assert refunded.status_code == 201, refunded.text
        assert refunded.json()["status"] == "approved"
        assert terminal.requests[-1].request.action is Action.REFUND


@pytest.mark.parametrize("settle", ["confirm", "void"])
async def test_a_till_killed_after_the_terminal_charged_the_card_finds_it_pending_and_never_charges_again(
    tmp_path: Path, terminal: CardTerminalSimulator, settle: str
) -> None:
    running = await agent_for(tmp_path, terminal)
    await running.start(fault_kill_after_card_answers="1")
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            ident = await basket(http)
            operation = str(uuid.uuid4())
            with pytest.raises(httpx.HTTPError):
                await http.post(f"/v1/baskets/{ident}/card-payments", json={"operation_id": operation, "amount": 2400})
        assert await running.died() == -signal.SIGKILL
        assert [r.outcome for r in terminal.requests] == [Outcome.SUCCESS]  # the card was charged

        await running.start()
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            assert (await http.get("/v1/status")).json()["card_operations_pending"] == 1
            [pending] = (await http.get("/v1/card-operations", params={"status": "pending"})).json()
            assert (pending["operation_id"], pending["code"], pending["with_terminal"]) == (
                operation,
                "interrupted",
                False,
            )
            shown = (await http.get(f"/v1/card-operations/{operation}")).json()
            assert shown["message"].startswith("Paiement interrompu")
            again = await http.post(
                f"/v1/baskets/{ident}/card-payments", json={"operation_id": operation, "amount": 2400}
            )
            assert (again.status_code, again.json()["status"]) == (200, "pending")
            other = await http.post(
                f"/v1/baskets/{ident}/card-payments", json={"operation_id": str(uuid.uuid4()), "amount": 2400}
            )
            assert other.status_code == 409
            assert (await finalize(http, ident)).status_code == 409
            assert len(terminal.requests) == 1  # never charged twice
            if settle == "confirm":
                confirmed = await http.post(
                    f"/v1/card-operations/{operation}/confirm", json={"authorisation_number": "100001"}
                )
                assert (confirmed.json()["status"], confirmed.json()["confirmed_by_cashier"]) == ("approved", True)
                assert (await finalize(http, ident)).status_code == 201
            else:
                voided = await http.post(f"/v1/card-operations/{operation}/void")
                assert voided.json()["status"] == "voided"
                assert (await http.get(f"/v1/baskets/{ident}")).json()["computed"]["remaining"] == 2400
                assert (await pay(http, ident))["status"] == "approved"
                assert (await finalize(http, ident)).status_code == 201
            assert len(terminal.requests) == (1 if settle == "confirm" else 2)
    finally:
        running.stop()
    assert "device-secret-of-the-till" not in (tmp_path / "hw-proxy.log").read_text()
