"""Card payments on the till over a real SQLite file, a fake pos-api and a fake terminal (PRODUCT.md capability 12,
issue 18): the payment written pending before the terminal is called; approved (AE=10) it goes into the basket and
the finalize accepts it; declined, abandoned or unreachable the basket stays unpaid and says why; no answer leaves it
pending until the cashier confirms or voids it from the terminal's slip; a retry never calls the terminal twice;
and a finalize takes no card payment the terminal did not approve."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_till_routes import PIN, Till
from till_examples import AT, CASHIER, POS, SERIAL, TERRITORY, FakeCentral, place_items

from caisse_contracts.caisse_ap import Action, AnswerMode, PaymentRequest, Status, TerminalAnswer
from caisse_contracts.config import CardTerminalFields
from caisse_contracts.events.config import EntityType
from caisse_contracts.tills import RefundIn
from hw_proxy.adapters.store import TillRecords, claim_card_refunds, migrate
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.domain.card_payments import CardCode, CardOperation
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.domain.errors import BasketRefusedError
from hw_proxy.service_layer.ports import TerminalUnansweredError, TerminalUnreachableError

TERMINAL = {"host": "127.0.0.1", "port": 8888, "till_number": 3}


@dataclass
class FakeTerminal:
    """The terminal in memory: it answers each request with the next scripted answer (an exception for one that
    is out of reach or never answers), DONE by default; `gate` holds the answers back while cleared."""

    script: list[TerminalAnswer | Exception] = field(default_factory=list)
    requests: list[PaymentRequest] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    async def transact(self, setup: CardTerminalFields, request: PaymentRequest) -> TerminalAnswer:
        self.requests.append(request)
        self.asked.set()
        await self.gate.wait()
        answer = self.script.pop(0) if self.script else done()
        if isinstance(answer, Exception):
            raise answer
        sent = request.fields()
        return TerminalAnswer(
            answer.status,
            failure=answer.failure,
            authorisation=answer.authorisation,
            masked_pan=answer.masked_pan,
            read_mode=answer.read_mode,
            echo={t: sent[t] for t in ("CA", "CB", "CD", "CE")},
        )


def done(read_mode: str = "1") -> TerminalAnswer:
    return TerminalAnswer(Status.DONE, authorisation="654321", masked_pan="497010######0042", read_mode=read_mode)


def declined(reason: str) -> TerminalAnswer:
    return TerminalAnswer(Status.NOT_DONE, failure=reason)


@dataclass
class CardTill(Till):
    terminal: FakeTerminal = field(default_factory=FakeTerminal)


async def seed_with(path: str, pos_changes: dict[str, Any], territory_changes: dict[str, Any] | None = None) -> None:
    store = TillRecords(path)
    await store.open()
    changes = {POS: pos_changes, TERRITORY: territory_changes or {}}
    for position, (entity_type, ident, given) in enumerate(place_items(), start=1):
        item = {**given, **changes.get(ident, {})}
        await store.record(
            CachedItem(EntityKey(entity_type, ident), int(item["version"]), item, position=position),
            position=position,
            at=AT,
            seen_in_reset=False,
        )
    await store.close()


async def open_till(
    tmp_path: Path, pos_changes: dict[str, Any], territory_changes: dict[str, Any] | None = None
) -> AsyncIterator[CardTill]:
    path = str(tmp_path / "till.sqlite3")
    await seed_with(path, pos_changes, territory_changes)
    central = FakeCentral(pins={CASHIER: PIN})
    terminal = FakeTerminal()
    app = build_app(
        Settings(store_path=path, device_serial=SERIAL, device_secret="s3cret", notifier_url="ws://127.0.0.1:9"),
        central=central,
        terminal=terminal,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        till = CardTill(http, central, app, terminal)
        assert (await http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success
        assert (await http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})).is_success
        yield till


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[CardTill]:
    async for opened in open_till(tmp_path, {"card_terminal": TERMINAL}):
        yield opened


def chairs(quantity: int = 2) -> dict[str, Any]:
    """Chairs at 12.00 € each."""
    return {"lines": [{"line_id": str(uuid.uuid4()), "product_id": str(_product()), "quantity": quantity}]}


def _product() -> uuid.UUID:
    return next(i for t, i, _ in place_items() if t is EntityType.PRODUCT)


async def basket_of(till: CardTill, quantity: int = 2) -> str:
    basket = str(uuid.uuid4())
    saved = await till.http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": chairs(quantity)})
    assert saved.status_code == 200, saved.text
    return basket


async def pay(till: CardTill, basket: str, amount: int, operation_id: str | None = None) -> httpx.Response:
    body = {"operation_id": operation_id or str(uuid.uuid4()), "amount": amount}
    return await till.http.post(f"/v1/baskets/{basket}/card-payments", json=body)


async def test_an_approved_payment_goes_into_the_basket_and_the_sale_references_the_terminals_transaction(
    till: CardTill,
) -> None:
    basket = await basket_of(till)
    operation = str(uuid.uuid4())
    paid = await pay(till, basket, 2400, operation)
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert (body["status"], body["code"], body["message"]) == ("approved", "approved", "Paiement accepté")
    assert (body["authorisation_number"], body["masked_pan"], body["contactless"]) == (
        "654321",
        "497010######0042",
        False,
    )
    assert "AUTORISATION 654321" in body["slip_text"]
    assert body["basket_version"] == 2
    [request] = till.terminal.requests
    assert (request.amount, request.currency_numeric, request.action, request.till_number) == (
        2400,
        978,
        Action.DEBIT,
        3,
    )
    assert request.answer_mode is AnswerMode.AT_END
    saved = (await till.http.get(f"/v1/baskets/{basket}")).json()
    assert saved["content"]["payments"] == [
        {
            "payment_id": operation,
            "method": "card",
            "amount": 2400,
            "tendered": None,
            "reference": "654321",
            "bank": None,
        }
    ]
    assert saved["computed"]["remaining"] == 0
    sold = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 2})
    assert sold.status_code == 201, sold.text
    [payment] = sold.json()["ticket"]["payments"]
    assert (payment["payment_id"], payment["method"], payment["reference"]) == (operation, "card", "654321")


async def test_a_retry_with_the_same_id_never_calls_the_terminal_again(till: CardTill) -> None:
    basket = await basket_of(till)
    operation = str(uuid.uuid4())
    first = await pay(till, basket, 1000, operation)
    again = await pay(till, basket, 1000, operation)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "approved"
    assert len(till.terminal.requests) == 1
    other = await pay(till, basket, 1400, operation)
    assert other.status_code == 422
    assert [p["name"] for p in other.json()["invalid_params"]] == ["operation_id"]


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (declined("04"), "refused", "Carte refusée"),
        (declined("11"), "abandoned", "Paiement abandonné sur le terminal"),
        (declined("08"), "card_timeout", "Délai dépassé sur le terminal : la carte n'a pas été présentée"),
        (declined("13"), "not_done", "Le terminal n'a pas fait l'opération"),
        (
            TerminalUnreachableError("refused"),
            "unreachable",
            "Terminal injoignable : vérifiez qu'il est allumé et relié",
        ),
    ],
)
async def test_a_declined_payment_leaves_the_basket_unpaid_and_says_why(
    till: CardTill, answer: TerminalAnswer | Exception, code: str, message: str
) -> None:
    basket = await basket_of(till)
    till.terminal.script.append(answer)
    refused = await pay(till, basket, 2400)
    assert refused.status_code == 201
    assert (refused.json()["status"], refused.json()["code"], refused.json()["message"]) == ("declined", code, message)
    assert refused.json()["basket_version"] is None
    saved = (await till.http.get(f"/v1/baskets/{basket}")).json()
    assert (saved["version"], saved["content"]["payments"], saved["computed"]["remaining"]) == (1, [], 2400)
    again = await pay(till, basket, 2400)
    assert again.json()["status"] == "approved"


async def test_a_card_payment_typed_in_without_the_terminals_success_is_refused_at_finalize(till: CardTill) -> None:
    basket = await basket_of(till)
    till.terminal.script.append(declined("04"))
    refused = await pay(till, basket, 2400)
    typed = {"payment_id": refused.json()["operation_id"], "method": "card", "amount": 2400, "reference": "X"}
    content = {**chairs(), "payments": [typed]}
    sold = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 1, "content": content})
    assert sold.status_code == 422
    assert [p["name"] for p in sold.json()["invalid_params"]] == ["content.payments[0].payment_id"]
    assert await till.store.last_number() == 0


async def test_an_approved_payment_left_out_of_the_finalize_is_refused(till: CardTill) -> None:
    basket = await basket_of(till)
    await pay(till, basket, 1000)
    cash = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 2400}
    sold = await till.http.post(
        f"/v1/baskets/{basket}/finalize", json={"version": 2, "content": {**chairs(), "payments": [cash]}}
    )
    assert sold.status_code == 422
    assert [p["name"] for p in sold.json()["invalid_params"]] == ["content.payments"]


async def test_more_than_is_left_to_pay_is_refused_without_calling_the_terminal(till: CardTill) -> None:
    basket = await basket_of(till)
    refused = await pay(till, basket, 2401)
    assert refused.status_code == 422
    assert [p["name"] for p in refused.json()["invalid_params"]] == ["amount"]
    assert till.terminal.requests == []
    assert (await pay(till, str(uuid.uuid4()), 100)).status_code == 404


@pytest.mark.parametrize("code", ["no_answer", "connection_lost", "invalid_answer"])
async def test_no_answer_leaves_the_payment_pending_until_the_cashier_voids_it(till: CardTill, code: str) -> None:
    basket = await basket_of(till)
    till.terminal.script.append(TerminalUnansweredError(code, "…"))
    unknown = await pay(till, basket, 2400)
    body = unknown.json()
    assert (body["status"], body["code"]) == ("pending", code)
    assert body["message"].endswith("regardez le ticket du terminal, puis confirmez ou annulez")
    finalize = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 1})
    assert finalize.status_code == 409
    assert finalize.json()["operation_id"] == body["operation_id"]
    blocked = await pay(till, basket, 2400)
    assert blocked.status_code == 409
    assert blocked.json()["operation_id"] == body["operation_id"]
    assert len(till.terminal.requests) == 1
    pending = (await till.http.get("/v1/card-operations", params={"status": "pending"})).json()
    assert [p["operation_id"] for p in pending] == [body["operation_id"]]
    voided = await till.http.post(f"/v1/card-operations/{body['operation_id']}/void")
    assert (voided.json()["status"], voided.json()["message"]) == ("voided", "Paiement annulé")
    assert (await till.http.post(f"/v1/card-operations/{body['operation_id']}/void")).status_code == 409
    saved = (await till.http.get(f"/v1/baskets/{basket}")).json()
    assert saved["content"]["payments"] == []
    assert (await pay(till, basket, 2400)).json()["status"] == "approved"


async def test_a_pending_payment_confirmed_from_the_slip_goes_into_the_basket(till: CardTill) -> None:
    basket = await basket_of(till)
    till.terminal.script.append(TerminalUnansweredError("no_answer", "…"))
    operation = (await pay(till, basket, 2400)).json()["operation_id"]
    confirmed = await till.http.post(
        f"/v1/card-operations/{operation}/confirm", json={"authorisation_number": "778899"}
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["status"], body["code"], body["confirmed_by_cashier"], body["basket_version"]) == (
        "approved",
        "confirmed",
        True,
        2,
    )
    sold = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 2})
    assert sold.status_code == 201, sold.text
    assert sold.json()["ticket"]["payments"][0]["reference"] == "778899"
    assert len(till.terminal.requests) == 1


async def test_a_payment_with_the_terminal_cannot_be_confirmed_nor_voided_meanwhile(till: CardTill) -> None:
    basket = await basket_of(till)
    till.terminal.gate.clear()
    operation = str(uuid.uuid4())
    paying = asyncio.create_task(pay(till, basket, 2400, operation))
    await till.terminal.asked.wait()
    shown = (await till.http.get(f"/v1/card-operations/{operation}")).json()
    assert (shown["status"], shown["code"], shown["with_terminal"]) == ("pending", "in_progress", True)
    assert (await till.http.post(f"/v1/card-operations/{operation}/void")).status_code == 409
    again = await pay(till, basket, 2400, operation)
    assert (again.status_code, again.json()["status"]) == (200, "pending")
    till.terminal.gate.set()
    assert (await paying).json()["status"] == "approved"
    assert len(till.terminal.requests) == 1


async def test_a_payment_cut_short_by_a_restart_shows_as_interrupted(till: CardTill) -> None:
    basket = await basket_of(till)
    cut = CardOperation(
        uuid.uuid4(), "payment", 2400, "EUR", "pending", CardCode.IN_PROGRESS, AT, basket_id=uuid.UUID(basket)
    )
    await till.store.begin_card_operation(cut)
    [shown] = (await till.http.get("/v1/card-operations", params={"status": "pending"})).json()
    assert (shown["code"], shown["with_terminal"]) == ("interrupted", False)
    assert shown["message"] == "Paiement interrompu : regardez le ticket du terminal, puis confirmez ou annulez"


async def test_the_immediate_answer_mode_of_the_config_is_asked_of_the_terminal(tmp_path: Path) -> None:
    async for till in open_till(tmp_path, {"card_terminal": {**TERMINAL, "answer_mode": "immediate"}}):
        await pay(till, await basket_of(till), 1200)
        assert till.terminal.requests[0].answer_mode is AnswerMode.IMMEDIATE


async def test_the_currency_sent_is_the_territorys_iso_4217_number(tmp_path: Path) -> None:
    xpf = {"currency": "XPF", "currency_exponent": 0}
    async for till in open_till(tmp_path, {"card_terminal": TERMINAL}, xpf):
        await pay(till, await basket_of(till), 1200)
        assert till.terminal.requests[0].currency_numeric == 953


async def test_a_pos_without_a_terminal_takes_no_terminal_payment_but_a_typed_in_one(tmp_path: Path) -> None:
    async for till in open_till(tmp_path, {}):
        basket = await basket_of(till)
        refused = await pay(till, basket, 1200)
        assert refused.status_code == 409
        assert refused.json()["reason"] == "this POS has no card terminal in its config"
        typed = {"payment_id": str(uuid.uuid4()), "method": "card", "amount": 2400, "reference": "A1"}
        sold = await till.http.post(
            f"/v1/baskets/{basket}/finalize", json={"version": 1, "content": {**chairs(), "payments": [typed]}}
        )
        assert sold.status_code == 201, sold.text


async def sold_by_card(till: CardTill) -> str:
    basket = await basket_of(till)
    await pay(till, basket, 2400)
    assert (await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 2})).status_code == 201
    return basket


async def test_a_refund_gives_back_at_most_what_the_sale_took_by_card(till: CardTill) -> None:
    sale = await sold_by_card(till)
    refund = {"operation_id": str(uuid.uuid4()), "amount": 1200}
    done = await till.http.post(f"/v1/sales/{sale}/card-refunds", json=refund)
    assert done.status_code == 201, done.text
    assert (done.json()["kind"], done.json()["status"], done.json()["ticket_id"]) == ("refund", "approved", sale)
    assert till.terminal.requests[-1].action is Action.REFUND
    assert "REMBOURSEMENT" in done.json()["slip_text"]
    too_much = await till.http.post(
        f"/v1/sales/{sale}/card-refunds", json={"operation_id": str(uuid.uuid4()), "amount": 1201}
    )
    assert too_much.status_code == 422
    assert [p["name"] for p in too_much.json()["invalid_params"]] == ["amount"]
    assert len(till.terminal.requests) == 2
    missing = await till.http.post(
        f"/v1/sales/{uuid.uuid4()}/card-refunds", json={"operation_id": str(uuid.uuid4()), "amount": 100}
    )
    assert missing.status_code == 404


async def test_a_credit_note_may_reference_an_approved_card_refund_of_its_sale_once(till: CardTill) -> None:
    sale = await sold_by_card(till)
    refund_id = str(uuid.uuid4())
    await till.http.post(f"/v1/sales/{sale}/card-refunds", json={"operation_id": refund_id, "amount": 1200})
    conn = sqlite3.connect(till.app.state.store._path, isolation_level=None)
    try:
        migrate(conn)
        back = RefundIn(payment_id=uuid.UUID(refund_id), method="card", amount=1200)
        note = uuid.uuid4()
        claim_card_refunds(conn, uuid.UUID(sale), note, [back])
        claim_card_refunds(conn, uuid.UUID(sale), note, [back])  # the same credit note again: a retry
        with pytest.raises(BasketRefusedError) as twice:
            claim_card_refunds(conn, uuid.UUID(sale), uuid.uuid4(), [back])
        assert twice.value.problems[0][0] == "payments[0].payment_id"
        with pytest.raises(BasketRefusedError) as typed:
            claim_card_refunds(conn, uuid.UUID(sale), note, [back.model_copy(update={"payment_id": uuid.uuid4()})])
        assert typed.value.problems == [
            ("payments[0].payment_id", "is not a card refund the terminal approved for this sale")
        ]
        with pytest.raises(BasketRefusedError) as other_amount:
            claim_card_refunds(conn, uuid.UUID(sale), note, [back.model_copy(update={"amount": 1000})])
        assert other_amount.value.problems == [("payments[0].amount", "the terminal refunded 1200")]
    finally:
        conn.close()


def test_the_pending_limit_is_one_operation_for_the_whole_till() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    insert = (
        "insert into card_operation (operation_id, kind, basket_id, amount, currency, status, code, created_at)"
        " values (?, 'payment', 'b', 100, 'EUR', 'pending', 'in_progress', ?)"
    )
    conn.execute(insert, ("a", (AT + timedelta(seconds=1)).isoformat()))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("b", AT.isoformat()))


async def print_payload(till: CardTill, ref: str, kind: str) -> dict[str, Any]:
    """The stored print job of a ticket's receipt, as the printer worker will print it."""
    jobs = [j for j in await till.store.print_jobs(100) if j.ref == ref and j.kind == kind]
    assert len(jobs) == 1, jobs
    payload: dict[str, Any] = json.loads(jobs[0].payload)
    return payload


async def test_a_card_sale_s_receipt_carries_the_terminal_s_slip_and_so_does_its_duplicate(till: CardTill) -> None:
    sale = await sold_by_card(till)
    [slip] = await till.store.card_slips(uuid.UUID(sale))
    assert "1234" in slip or slip.strip(), slip
    printed = await print_payload(till, sale, "receipt")
    assert (printed["slips"], printed["kick_drawer"]) == ([slip], False), "card only: no drawer"
    assert (await till.http.post(f"/v1/sales/{sale}/reprint")).status_code == 200
    assert (await print_payload(till, sale, "duplicate"))["slips"] == [slip]


def credit_by_card(sale: dict[str, Any], refund_id: str, amount: int = 1200) -> dict[str, Any]:
    line = sale["lines"][0]["line_id"]
    return {
        "credit_note_id": str(uuid.uuid4()),
        "lines": [{"line_id": line, "quantity": 1}],
        "payments": [{"payment_id": refund_id, "method": "card", "amount": amount}],
    }


async def test_a_credit_note_paid_back_by_card_claims_its_approved_refund_once_through_the_route(
    till: CardTill,
) -> None:
    sale_id = await sold_by_card(till)
    sale = (await till.http.get(f"/v1/sales/{sale_id}")).json()["ticket"]
    typed_in = await till.http.post(f"/v1/sales/{sale_id}/credit-notes", json=credit_by_card(sale, str(uuid.uuid4())))
    assert typed_in.status_code == 422, typed_in.text
    assert [p["name"] for p in typed_in.json()["invalid_params"]] == ["payments[0].payment_id"]
    assert await till.store.last_number() == 1, "no number taken"

    refund_id = str(uuid.uuid4())
    refunded = await till.http.post(
        f"/v1/sales/{sale_id}/card-refunds", json={"operation_id": refund_id, "amount": 1200}
    )
    assert refunded.status_code == 201, refunded.text
    first = credit_by_card(sale, refund_id)
    made = await till.http.post(f"/v1/sales/{sale_id}/credit-notes", json=first)
    assert made.status_code == 201, made.text
    note_id = made.json()["ticket"]["ticket_id"]
    assert (await print_payload(till, note_id, "credit_note"))["slips"] == [refunded.json()["slip_text"]]
    again = await till.http.post(f"/v1/sales/{sale_id}/credit-notes", json=first)
    assert again.status_code == 200, "the same credit note retried"
    other = await till.http.post(f"/v1/sales/{sale_id}/credit-notes", json=credit_by_card(sale, refund_id))
    assert other.status_code == 422, other.text
    assert [p["name"] for p in other.json()["invalid_params"]] == ["payments[0].payment_id"]
    assert await till.store.last_number() == 2
