"""A company's Paheko as the use cases see it, over the contract-checking fake plugin: pushes answered with Caisse's
ids, failures translated to "try later", refusals to "refused", a circuit that opens on a failing Paheko, and the
session's entry read back through `/api/sql`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pos_bridge_fake import BASE, PASSWORD, USER, FakePlugin
from pydantic import SecretStr

from caisse_contracts.config import AccountMapping, Category
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from paheko_bridge.adapters.paheko.client import PahekoPluginClient
from paheko_bridge.adapters.paheko.target import PahekoSqlReader, PluginTarget, breakers
from paheko_bridge.domain.reconciliation import LedgerLine
from paheko_bridge.service_layer.ports import TargetRejectedError, TargetUnavailableError


class FakeSql:
    """Paheko's `/api/sql` for one session: the lines of its entry, its transaction and its number of tabs."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        sql = dict(httpx.QueryParams(request.content.decode()))["sql"]
        self.queries.append(sql)
        rows: list[dict[str, Any]] = [
            {"kind": "line", "account": "530", "debit": 1075, "credit": 100, "n": None},
            {"kind": "line", "account": "707", "debit": 0, "credit": 1575, "n": None},
            {"kind": "transaction", "account": None, "debit": None, "credit": None, "n": 31},
            {"kind": "tabs", "account": None, "debit": None, "credit": None, "n": 2},
        ]
        return httpx.Response(200, json={"count": len(rows), "results": rows})


@pytest.fixture
def fake() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
async def target(fake: FakePlugin) -> AsyncIterator[tuple[PluginTarget, FakeSql]]:
    sql = FakeSql()
    client = PahekoPluginClient(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(fake.handle))
    reader = PahekoSqlReader(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(sql.handle))
    plugin = PluginTarget(client, reader, breakers(threshold=3, ttl_s=60), circuit="paheko:test")
    await plugin.provision(example_categories(), AccountMapping())
    yield plugin, sql
    await plugin.aclose()


def example_categories() -> list[Category]:
    """The categories of the example ticket's lines, with the fake Paheko's chart accounts."""
    seen = {line.category_id: line.category_label for line in load_example(TicketFinalizedV1).data.lines}
    return [
        Category(
            id=category_id,
            version=1,
            updated_at=datetime(2026, 11, 1, tzinfo=UTC),
            company_id=uuid.uuid4(),
            name=label,
            revenue_account="707",
            default_tax_code="TVA20",
        )
        for category_id, label in seen.items()
    ]


def a_ticket(number: int = 1, session: uuid.UUID | None = None) -> TicketFinalizedV1:
    return load_example(TicketFinalizedV1).data.model_copy(
        update={"ticket_id": uuid.uuid4(), "number": number, "session_id": session or uuid.uuid4()}
    )


async def test_a_pushed_ticket_answers_caisses_session_and_tab_and_a_replay_says_so(
    target: tuple[PluginTarget, FakeSql], fake: FakePlugin
) -> None:
    plugin, _ = target
    ticket = a_ticket()
    first = await plugin.push_ticket(ticket)
    assert (first.paheko_tab_id, first.replayed) == (1, False)
    again = await plugin.push_ticket(ticket)
    assert (again.paheko_tab_id, again.replayed) == (1, True)
    assert fake.violations == []


async def test_a_failing_paheko_is_try_later_and_opens_the_circuit(
    target: tuple[PluginTarget, FakeSql], fake: FakePlugin
) -> None:
    plugin, _ = target
    await plugin.push_ticket(a_ticket())  # a token first, so that the failures below are pushes
    for _ in range(3):
        fake.fail_next(503)
        with pytest.raises(TargetUnavailableError):
            await plugin.push_ticket(a_ticket())
    sent = len(fake.requests)
    with pytest.raises(TargetUnavailableError, match="circuit paheko:test open"):
        await plugin.push_ticket(a_ticket())
    assert len(fake.requests) == sent  # nothing left while the circuit is open


async def test_a_refusal_is_refused_and_does_not_open_the_circuit(
    target: tuple[PluginTarget, FakeSql], fake: FakePlugin
) -> None:
    plugin, _ = target
    ticket = a_ticket()
    await plugin.push_ticket(ticket)
    other = ticket.model_copy(update={"number": 99})
    for _ in range(4):
        with pytest.raises(TargetRejectedError, match="409"):
            await plugin.push_ticket(other)  # same UUID, other content
    assert (await plugin.push_ticket(a_ticket())).replayed is False  # the circuit stayed closed


async def test_the_sessions_entry_is_read_back_through_the_sql_api(
    target: tuple[PluginTarget, FakeSql], fake: FakePlugin
) -> None:
    plugin, sql = target
    session = uuid.uuid4()
    await plugin.push_ticket(a_ticket(1, session))
    closed = load_example(SessionClosedV1).data.model_copy(
        update={"session_id": session, "first_ticket_number": 1, "last_ticket_number": 1}
    )
    await plugin.close_session(closed)
    ledger = await plugin.ledger(closed)
    assert ledger.transaction_reference == "POS-SESSION-1"
    assert (ledger.transaction_id, ledger.tickets) == (31, 2)
    assert ledger.lines == (LedgerLine("530", 1075, 100), LedgerLine("707", 0, 1575))
    [query] = sql.queries  # one call: Paheko checks the credential once
    assert "POS-SESSION-1" in query
    assert "session = 1" in query


class Items:
    """The configuration's shops, tills and operators by id."""

    def __init__(self, items: dict[uuid.UUID, dict[str, Any]]) -> None:
        self.items = items
        self.reads = 0

    async def item(self, entity_id: uuid.UUID) -> dict[str, Any] | None:
        self.reads += 1
        return self.items.get(entity_id)


async def test_the_books_name_the_shop_the_till_the_day_and_the_cashiers_who_opened_and_closed_and_carry_the_shop_s_project(
    fake: FakePlugin,
) -> None:
    sold = load_example(TicketFinalizedV1).data
    opener = uuid.uuid4()
    closed = load_example(SessionClosedV1).data.model_copy(
        update={"first_ticket_number": 1, "last_ticket_number": 1, "opened_by": opener}
    )
    assert closed.closed_by is not None
    assert sold.operator_id is not None
    items = Items(
        {
            sold.shop_id: {"name": "Boutique du centre", "analytic_project": "BOUT-CENTRE"},
            sold.pos_id: {"name": "Caisse 2"},
            sold.operator_id: {"name": "Camille"},
            opener: {"name": "Dominique"},
        }
    )
    client = PahekoPluginClient(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(fake.handle))
    reader = PahekoSqlReader(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(FakeSql().handle))
    plugin = PluginTarget(client, reader, breakers(), circuit="paheko:names", label="Ressourcerie", items=items)
    await plugin.provision(example_categories(), AccountMapping())
    await plugin.push_ticket(sold.model_copy(update={"number": 1}))
    await plugin.push_ticket(sold.model_copy(update={"ticket_id": uuid.uuid4(), "number": 2}))
    await plugin.close_session(closed.model_copy(update={"last_ticket_number": 2}))
    await plugin.aclose()
    bodies = [
        json.loads(r.content)
        for r in fake.requests
        if r.content and r.url.path.endswith(("close", str(sold.ticket_id)))
    ]
    push, close = bodies[0], bodies[-1]
    assert (push["label"], push["cashier"]) == ("Caisse 2", "Camille")
    assert (close["label"], close["opened_by"], close["closed_by"], close["project"]) == (
        "Boutique du centre — Caisse 2 — 21/11/2026",  # closed at 18:05 UTC, 19:05 in Paris
        "Caisse 2 — Dominique",
        "Caisse 2 — Camille",
        "BOUT-CENTRE",
    )
    assert items.reads == 4  # each name read once
    assert fake.violations == []


async def test_a_deposit_is_booked_once_after_its_session_s_close_on_the_shop_s_project_and_named_like_it(
    fake: FakePlugin,
) -> None:
    sold = load_example(TicketFinalizedV1).data.model_copy(update={"number": 1})
    closed = load_example(SessionClosedV1).data.model_copy(update={"first_ticket_number": 1, "last_ticket_number": 1})
    deposit = load_example(SessionDepositConfirmedV1).data.model_copy(update={"session_id": sold.session_id})
    items = Items(
        {
            sold.shop_id: {"name": "Boutique du centre", "analytic_project": "BOUT-CENTRE"},
            sold.pos_id: {"name": "Caisse 2"},
        }
    )
    client = PahekoPluginClient(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(fake.handle))
    reader = PahekoSqlReader(BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(FakeSql().handle))
    plugin = PluginTarget(client, reader, breakers(), circuit="paheko:deposit", items=items)
    await plugin.provision(example_categories(), AccountMapping(cash="530"))
    await plugin.push_ticket(sold)
    with pytest.raises(TargetRejectedError, match="deposited once closed"):
        await plugin.book_deposit(deposit)
    await plugin.close_session(closed.model_copy(update={"session_id": sold.session_id}))
    await plugin.book_deposit(deposit)
    await plugin.book_deposit(deposit)  # the bridge retries after a lost answer: the first entry answers
    await plugin.aclose()
    [(_, booked)] = fake.deposits.values()
    entry = booked["transaction"]
    assert entry["reference"] == "POS-DEPOSIT-1"
    assert entry["date"] == "2026-11-23"
    assert entry["label"] == "Boutique du centre — Caisse 2 — 21/11/2026 — Remise BR-2026-0457"
    assert [(line["account"], line["debit"], line["credit"]) for line in entry["lines"]] == [
        ("512", 42850, 0),
        ("530", 0, 38350),
        ("5112", 0, 2500),
        ("5112", 0, 2000),
    ]
    assert {line["project"] for line in entry["lines"]} == {"BOUT-CENTRE"}
    replays = [r for r in fake.requests if r.url.path.endswith(f"deposits/{deposit.deposit_id}")]
    assert len(replays) == 3
    assert fake.violations == []
