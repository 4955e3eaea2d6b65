"""The contract of every port of session-service's unit of work, held by the in-memory fake and the PostgreSQL
adapter alike: what each method stores, what it answers, and what a unit of work left without `commit()` keeps
(nothing). Every test runs against both (the `ports` fixture), real PostgreSQL being a database of
session-service's schema on the launcher's `test` instance, emptied before each test: the fake cannot drift from
the adapter the service runs on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import session_service
from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import SessionOpenedV1
from caisse_runtime.database import create_engine, migrate, migrations_beside
from caisse_runtime.outbox import OutboxRow
from caisse_stack import Infra, ensure_up
from session_service.adapters.memory import InMemoryUnitOfWork, MemoryState
from session_service.adapters.sql import SqlDatabase
from session_service.domain.deposits import Deposit
from session_service.domain.report import Names, z_report
from session_service.domain.sessions import (
    CashMovement,
    CashSession,
    Cheque,
    CloseRequest,
    Count,
    MovementKind,
    SessionStatus,
    TillPlace,
    begin_closing,
    close_session,
    open_session,
)
from session_service.domain.totals import CategoryTotal, LateTicket, RunningTotals
from session_service.service_layer.ports import AppliedTicket, ConfigRecord, LateTicketsOf, Mail, UnitOfWork

TABLES = (
    "session_totals, session_tickets, session_cheques, late_tickets, cash_sessions, cash_movements, config_items,"
    " session_reports, session_deposits, mail_queue, inbox, outbox"
)

OUTBOX_ROWS = """
    select id, aggregate_type, aggregate_id, type, topic, key, payload::text, headers::text, traceparent, tracestate
    from outbox order by seq
"""


@dataclass(frozen=True)
class Ports:
    """One implementation of the ports: its units of work, and what its outbox holds (which no port reads)."""

    name: str
    work: Callable[[], UnitOfWork]
    outbox: Callable[[], Awaitable[list[OutboxRow]]]


@pytest.fixture(scope="session")
def postgresql_dsn() -> Iterator[str]:
    """A new database with every migration of session-service applied, dropped at the end of the run."""
    infra: Infra = ensure_up("test")
    name = f"caisse_session_service_ports_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)

    async def migrated() -> None:
        engine = create_engine(infra.database_url(name), pool_size=1)
        try:
            await migrate(engine, migrations_beside(session_service.__file__))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as thread:  # its own event loop, apart from the tests'
        thread.submit(asyncio.run, migrated()).result()
    yield infra.dsn(name)
    infra.drop_database(name)


@pytest_asyncio.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.integration)])
async def ports(request: pytest.FixtureRequest) -> AsyncIterator[Ports]:
    if request.param == "memory":
        state = MemoryState()

        async def memory_outbox() -> list[OutboxRow]:
            return list(state.outbox)

        yield Ports("memory", lambda: InMemoryUnitOfWork(state), memory_outbox)
        return
    dsn: str = request.getfixturevalue("postgresql_dsn")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"truncate {TABLES}")
    finally:
        await conn.close()
    database = SqlDatabase(dsn, size=3, what="ports test")
    await database.start()

    async def postgresql_outbox() -> list[OutboxRow]:
        rows = await database.opened().fetch(OUTBOX_ROWS)
        return [OutboxRow(*row) for row in rows]

    try:
        yield Ports("postgresql", database.work, postgresql_outbox)
    finally:
        await database.stop()


NOW = datetime(2026, 11, 21, 14, 32, 7, tzinfo=UTC)
EUR = (5000, 2000, 1000, 500, 200, 100, 50)


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def place(pos_id: uuid.UUID | None = None) -> TillPlace:
    return TillPlace(pos_id or uuid.uuid4(), "Caisse 1", uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "EUR", 2, EUR)


def a_session(pos_id: uuid.UUID | None = None, *, first: int = 1) -> CashSession:
    return open_session(
        session_id=uuid.uuid4(),
        place=place(pos_id),
        operator_ids=[uuid.uuid4()],
        float_counts=[(5000, 2), (200, 5)],
        first_ticket_number=first,
        now=NOW,
    )


def totals_of(session_id: uuid.UUID, **changes: Any) -> RunningTotals:
    base = RunningTotals(
        session_id=session_id,
        pos_id=uuid.uuid4(),
        currency="EUR",
        ticket_count=3,
        credit_note_count=1,
        credit_note_total=-1000,
        first_number=1,
        last_number=3,
        total_incl_tax=5000,
        cash_received=7000,
        change_given=2000,
        cash_rounding=-2,
        weight_grams=1430,
        by_method={"cash": (5000, 2), "cheque": (1000, 1)},
        by_category={uuid.uuid4(): CategoryTotal("707100", 4000, 1250), uuid.uuid4(): CategoryTotal("707200", 1000)},
    )
    return replace(base, **changes)


def applied(session_id: uuid.UUID, number: int, at: datetime = NOW) -> AppliedTicket:
    return AppliedTicket(uuid.uuid4(), session_id, uuid.uuid4(), number, 1000 * number, uuid.uuid4(), at)


def late(session_id: uuid.UUID, number: int, received_at: datetime, **changes: Any) -> LateTicket:
    base = LateTicket(
        ticket_id=uuid.uuid4(),
        session_id=session_id,
        pos_id=uuid.uuid4(),
        shop_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        number=number,
        kind="sale",
        total_incl_tax=1250,
        currency="EUR",
        by_method={"cash": 1000, "card": 250},
        finalized_at=NOW - timedelta(hours=1),
        event_id=uuid.uuid4(),
        received_at=received_at,
    )
    return replace(base, **changes)


async def test_an_event_is_claimed_once_and_only_a_committed_claim_is_remembered(ports: Ports) -> None:
    one, two, three = ids(3)
    async with ports.work() as work:
        assert await work.inbox.claim(one, "ticket.finalized") is True
        assert await work.inbox.claim(one, "ticket.finalized") is False
        assert await work.inbox.claim_many([(two, "t"), (two, "t"), (one, "t")]) == {two}
        assert await work.inbox.claim_many([]) == set()
    async with ports.work() as work:  # left without commit: nothing was claimed
        assert await work.inbox.claim_many([(one, "t"), (two, "t")]) == {one, two}
        await work.commit()
    async with ports.work() as work:
        assert await work.inbox.claim_many([(one, "t"), (two, "t"), (three, "t")]) == {three}
        assert await work.inbox.claim(one, "t") is False


async def test_totals_saved_with_their_tickets_and_cheques_read_back_as_they_were(ports: Ports) -> None:
    session_id, other = ids(2)
    totals = totals_of(session_id)
    tickets = [applied(session_id, n) for n in (3, 1, 2)]
    cheque = Cheque(uuid.uuid4(), tickets[0].ticket_id, "0000123", "LBP", 1000)
    no_bank = Cheque(uuid.uuid4(), tickets[1].ticket_id, "?", None, 500)
    async with ports.work() as work:
        await work.totals.save_many([totals], tickets, [cheque, no_bank])
        await work.commit()
    async with ports.work() as work:
        assert await work.totals.get(session_id) == totals
        assert await work.totals.for_update(session_id) == totals
        assert await work.totals.for_update_many([other, session_id]) == {session_id: totals}
        assert await work.totals.for_update_many([]) == {}
        assert await work.totals.get(other) is None
        assert await work.totals.for_update(other) is None
        assert await work.totals.applied_ticket(tickets[0].ticket_id) == tickets[0]
        assert await work.totals.applied_ticket(uuid.uuid4()) is None
        assert sorted(await work.totals.cheques(session_id), key=lambda c: c.number) == [cheque, no_bank]
        assert await work.totals.cheques(other) == []


async def test_totals_without_numbers_or_sums_keep_their_nones_and_empty_maps(ports: Ports) -> None:
    session_id = uuid.uuid4()
    empty = RunningTotals(session_id=session_id, pos_id=uuid.uuid4(), currency="XPF")
    async with ports.work() as work:
        await work.totals.save(empty, applied(session_id, 1))
        await work.commit()
    async with ports.work() as work:
        assert await work.totals.get(session_id) == empty


async def test_saving_totals_again_replaces_them_and_a_cheque_already_recorded_stays_as_it_was(ports: Ports) -> None:
    session_id = uuid.uuid4()
    first, second = applied(session_id, 1), applied(session_id, 2)
    payment = uuid.uuid4()
    kept = Cheque(payment, first.ticket_id, "0000777", "LBP", 1000)
    async with ports.work() as work:
        await work.totals.save_many([totals_of(session_id, ticket_count=1)], [first], [kept])
        await work.commit()
    newer = totals_of(session_id, ticket_count=2, by_method={"card": (3000, 1)}, by_category={})
    async with ports.work() as work:
        await work.totals.save_many([newer], [second], [Cheque(payment, second.ticket_id, "0000888", None, 5)])
        await work.commit()
    async with ports.work() as work:
        assert await work.totals.get(session_id) == newer
        assert await work.totals.cheques(session_id) == [kept]


async def test_numbers_in_are_the_session_s_counted_numbers_within_the_bounds_in_order(ports: Ports) -> None:
    session_id, other = ids(2)
    async with ports.work() as work:
        await work.totals.save_many([], [applied(session_id, n) for n in (7, 2, 5, 1, 9)], [])
        await work.totals.save_many([], [applied(other, 3)], [])
        await work.commit()
    async with ports.work() as work:
        assert await work.totals.numbers_in(session_id, 2, 7) == [2, 5, 7]
        assert await work.totals.numbers_in(session_id, 1, 100) == [1, 2, 5, 7, 9]
        assert await work.totals.numbers_in(session_id, 3, 4) == []
        assert await work.totals.numbers_in(other, 1, 9) == [3]


async def test_totals_left_without_commit_are_not_kept(ports: Ports) -> None:
    session_id = uuid.uuid4()
    async with ports.work() as work:
        await work.totals.save_many([totals_of(session_id)], [applied(session_id, 1)], [])
    async with ports.work() as work:
        assert await work.totals.get(session_id) is None
        assert await work.totals.numbers_in(session_id, 1, 1) == []


async def test_before_counting_names_the_tickets_counted_and_the_sessions_closed_or_closing(ports: Ports) -> None:
    opened, closing, closed = a_session(), a_session(), a_session()
    counted = applied(opened.session_id, 1)
    request = CloseRequest(uuid.uuid4(), None, (Count(5000, 2), Count(200, 5)))
    async with ports.work() as work:
        for session in (opened, closing, closed):
            assert await work.sessions.add(session) is True
        await work.sessions.update(begin_closing(closing, request, NOW))
        await work.sessions.update(close_session(closed, request, None, [], comment_threshold=500, now=NOW))
        await work.totals.save_many([], [counted], [])
        await work.commit()
    unknown = uuid.uuid4()
    async with ports.work() as work:
        assert await work.totals.before_counting(
            [counted.ticket_id, uuid.uuid4()], [opened.session_id, closing.session_id, closed.session_id, unknown]
        ) == ({counted.ticket_id}, {closed.session_id}, {closing.session_id})
        assert await work.totals.before_counting([], []) == (set(), set(), set())


async def test_late_tickets_are_kept_once_and_listed_newest_first_per_session_shop_or_company(ports: Ports) -> None:
    session_id, other = ids(2)
    older = late(session_id, 9, NOW)
    newer = late(session_id, 10, NOW + timedelta(minutes=5), shop_id=older.shop_id, company_id=older.company_id)
    elsewhere = late(other, 4, NOW + timedelta(minutes=1), company_id=older.company_id)
    async with ports.work() as work:
        await work.totals.save_late([older, newer, elsewhere])
        await work.totals.save_late([])
        await work.commit()
    async with ports.work() as work:  # the same ticket kept again (a redelivery): the first stays
        await work.totals.save_late([replace(older, received_at=NOW + timedelta(hours=1), total_incl_tax=1)])
        await work.commit()
    async with ports.work() as work:
        assert await work.totals.late_tickets(LateTicketsOf(session_id=session_id)) == [newer, older]
        assert await work.totals.late_tickets(LateTicketsOf(shop_id=older.shop_id)) == [newer, older]
        assert await work.totals.late_tickets(LateTicketsOf(company_id=older.company_id)) == [newer, elsewhere, older]
        assert await work.totals.late_tickets(LateTicketsOf(company_id=older.company_id, limit=2)) == [newer, elsewhere]
        assert await work.totals.late_tickets(
            LateTicketsOf(shop_id=elsewhere.shop_id, company_id=older.company_id)
        ) == [elsewhere]
        assert await work.totals.late_tickets(LateTicketsOf(shop_id=uuid.uuid4())) == []
        assert await work.totals.cheques(session_id) == []
        assert await work.totals.get(session_id) is None


async def test_a_session_is_added_once_and_read_back_with_its_movements_in_order(ports: Ports) -> None:
    session = a_session(first=41)
    withdrawal = CashMovement(uuid.uuid4(), MovementKind.WITHDRAWAL, 3000, "safe", uuid.uuid4(), NOW)
    addition = CashMovement(uuid.uuid4(), MovementKind.ADDITION, 500, "change", uuid.uuid4(), NOW + timedelta(1))
    async with ports.work() as work:
        assert await work.sessions.add(session) is True
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.add(session) is False
        await work.sessions.add_movement(session.session_id, withdrawal)
        await work.sessions.add_movement(session.session_id, addition)
        await work.commit()
    async with ports.work() as work:  # a movement recorded again (the till retries): once
        await work.sessions.add_movement(session.session_id, withdrawal)
        await work.commit()
    expected = replace(session, movements=(withdrawal, addition))
    async with ports.work() as work:
        assert await work.sessions.get(session.session_id) == expected
        assert await work.sessions.get(session.session_id, for_update=True) == expected
        assert await work.sessions.get(uuid.uuid4()) is None
        assert await work.sessions.current_of_pos(session.place.pos_id) == expected
        assert await work.sessions.current_of_pos(session.place.pos_id, for_update=True) == expected


async def test_a_pos_has_one_session_not_closed_at_a_time(ports: Ports) -> None:
    first = a_session()
    second = a_session(first.place.pos_id)
    request = CloseRequest(uuid.uuid4(), 12, (Count(5000, 2), Count(200, 5)))
    async with ports.work() as work:
        assert await work.sessions.add(first) is True
        assert await work.sessions.add(second) is False
        await work.commit()
    async with ports.work() as work:
        await work.sessions.update(begin_closing(first, request, NOW))
        assert await work.sessions.add(second) is False
        await work.commit()
    async with ports.work() as work:
        closing = await work.sessions.current_of_pos(first.place.pos_id)
        assert closing is not None
        assert closing.status is SessionStatus.CLOSING
        await work.sessions.update(close_session(closing, request, None, [], comment_threshold=500, now=NOW))
        assert await work.sessions.add(second) is True
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.current_of_pos(first.place.pos_id) == second
        assert await work.sessions.current_of_pos(uuid.uuid4()) is None


async def test_a_close_stores_its_request_and_figures_and_keeps_the_movements(ports: Ports) -> None:
    session = a_session()
    movement = CashMovement(uuid.uuid4(), MovementKind.ADDITION, 1000, "change", uuid.uuid4(), NOW)
    payment, ticket = ids(2)
    request = CloseRequest(
        closed_by=uuid.uuid4(),
        last_ticket_number=2,
        counts=(Count(5000, 3), Count(200, 5)),
        float_kept=(Count(200, 5),),
        cheques_ticked=frozenset({payment}),
        card_terminal_total=2500,
        comment="one note missing",
    )
    cheques = [Cheque(payment, ticket, "0000123", "LBP", 4200)]
    async with ports.work() as work:
        await work.sessions.add(session)
        await work.sessions.add_movement(session.session_id, movement)
        await work.commit()
    with_movement = replace(session, movements=(movement,))
    waiting = begin_closing(with_movement, request, NOW)
    closed = close_session(waiting, request, totals_of(session.session_id), cheques, comment_threshold=1, now=NOW)
    async with ports.work() as work:
        await work.sessions.update(waiting)
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.get(session.session_id) == waiting
        await work.sessions.update(replace(closed, movements=()))  # an update never touches the movements
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.get(session.session_id) == closed


async def test_the_last_closed_number_is_the_highest_of_the_pos_s_closed_sessions(ports: Ports) -> None:
    pos_id = uuid.uuid4()
    counts = (Count(5000, 2), Count(200, 5))
    async with ports.work() as work:
        assert await work.sessions.last_closed_number(pos_id) is None
        for last in (12, 30):
            session = a_session(pos_id)
            await work.sessions.add(session)
            request = CloseRequest(uuid.uuid4(), last, counts)
            await work.sessions.update(close_session(session, request, None, [], comment_threshold=500, now=NOW))
        closed_without_tickets = a_session(pos_id)
        await work.sessions.add(closed_without_tickets)
        request = CloseRequest(uuid.uuid4(), None, counts)
        await work.sessions.update(
            close_session(closed_without_tickets, request, None, [], comment_threshold=500, now=NOW)
        )
        waiting = a_session(pos_id)
        await work.sessions.add(waiting)
        await work.sessions.update(begin_closing(waiting, CloseRequest(uuid.uuid4(), 99, counts), NOW))
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.last_closed_number(pos_id) == 30
        assert await work.sessions.last_closed_number(uuid.uuid4()) is None


async def test_the_sessions_waiting_to_close_are_the_closing_ones_the_oldest_wait_first(ports: Ports) -> None:
    sessions = [a_session() for _ in range(4)]
    request = CloseRequest(uuid.uuid4(), 5, (Count(5000, 2), Count(200, 5)))
    async with ports.work() as work:
        for session in sessions:
            await work.sessions.add(session)
        await work.sessions.update(begin_closing(sessions[3], request, NOW))
        await work.sessions.update(begin_closing(sessions[1], request, NOW + timedelta(minutes=1)))
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.closing() == [sessions[3].session_id, sessions[1].session_id]


def record(entity_type: str, version: int = 1, *, deleted: bool = False, **item: Any) -> ConfigRecord:
    return ConfigRecord(entity_type, uuid.uuid4(), version, deleted, {"name": f"{entity_type} {version}", **item})


async def test_the_configuration_keeps_the_newest_version_of_each_item(ports: Ports) -> None:
    pos = record("pos", 2, shop_id=str(uuid.uuid4()))
    shop = record("shop", 1)
    async with ports.work() as work:
        assert await work.config.upsert([pos, shop]) == 2
        assert await work.config.upsert([]) == 0
        await work.commit()
    newer = replace(pos, version=3, item={**pos.item, "name": "renamed"})
    async with ports.work() as work:
        assert await work.config.upsert([replace(pos, version=1, item={}), replace(shop, item={})]) == 0
        assert await work.config.upsert([newer]) == 1
        await work.commit()
    async with ports.work() as work:
        assert await work.config.get_many([pos.entity_id, shop.entity_id, uuid.uuid4()]) == {
            pos.entity_id: newer,
            shop.entity_id: shop,
        }
        assert await work.config.get_many([]) == {}


async def test_operators_of_a_shop_are_its_active_records_and_the_federation_s_admins(ports: Ports) -> None:
    shop_id = uuid.uuid4()
    cashier = record("operator", shop_id=str(shop_id))
    written_in_capitals = record("operator", shop_id=str(shop_id).upper())
    admin = record("operator", shop_id=None, role="federation_admin")
    admin_with_empty_shop = record("operator", shop_id="")
    elsewhere = record("operator", shop_id=str(uuid.uuid4()))
    removed = record("operator", deleted=True, shop_id=str(shop_id))
    a_pos = record("pos", shop_id=str(shop_id))
    async with ports.work() as work:
        await work.config.upsert(
            [cashier, written_in_capitals, admin, admin_with_empty_shop, elsewhere, removed, a_pos]
        )
        await work.commit()
    async with ports.work() as work:
        found = await work.config.operators_of(shop_id)
    assert found == {r.entity_id: r for r in (cashier, written_in_capitals, admin, admin_with_empty_shop)}


async def test_categories_of_a_company_are_its_category_records(ports: Ports) -> None:
    company_id = uuid.uuid4()
    food = record("category", company_id=str(company_id), revenue_account="707100")
    other = record("category", company_id=str(uuid.uuid4()))
    shop = record("shop", company_id=str(company_id))
    async with ports.work() as work:
        await work.config.upsert([food, other, shop])
        await work.commit()
    async with ports.work() as work:
        assert await work.config.categories_of(company_id) == {food.entity_id: food}
        assert await work.config.categories_of(uuid.uuid4()) == {}


def closed_with_report() -> tuple[CashSession, RunningTotals]:
    session = a_session()
    request = CloseRequest(uuid.uuid4(), 3, (Count(5000, 2), Count(200, 5), Count(50, 1)), comment="ok")
    totals = totals_of(session.session_id, pos_id=session.place.pos_id)
    return close_session(session, request, totals, [], comment_threshold=100_000, now=NOW), totals


async def test_a_report_is_stored_once_and_read_back_whole(ports: Ports) -> None:
    closed, totals = closed_with_report()
    names = Names("Asso", "Boutique", "1 rue", "Caisse 1", "FR76", "Europe/Paris", {}, {})
    report = z_report(closed, totals, names)
    async with ports.work() as work:
        assert await work.reports.get(closed.session_id) is None
        await work.reports.put(report)
        await work.commit()
    async with ports.work() as work:
        await work.reports.put(replace(report, comment="rewritten"))
        await work.commit()
    async with ports.work() as work:
        assert await work.reports.get(closed.session_id) == report


async def test_a_deposit_is_read_back_as_it_was_confirmed(ports: Ports) -> None:
    session_id = uuid.uuid4()
    cheques = (
        Cheque(uuid.uuid4(), uuid.uuid4(), "0000123", "LBP", 4200),
        Cheque(uuid.uuid4(), uuid.uuid4(), "?", None, 10),
    )
    deposit = Deposit(uuid.uuid4(), session_id, 15000, cheques, "BR-0042", date(2026, 11, 22), NOW, uuid.uuid4())
    by_a_till = replace(deposit, session_id=uuid.uuid4(), deposit_id=uuid.uuid4(), cheques=(), confirmed_by=None)
    async with ports.work() as work:
        assert await work.deposits.get(session_id) is None
        await work.deposits.add(deposit)
        await work.deposits.add(by_a_till)
        await work.commit()
    async with ports.work() as work:
        assert await work.deposits.get(session_id) == deposit
        assert await work.deposits.get(by_a_till.session_id) == by_a_till


async def test_mail_is_due_in_the_order_of_its_turn_until_it_is_sent(ports: Ports) -> None:
    session_id = uuid.uuid4()
    later = Mail(uuid.uuid4(), session_id, ("a@example.org",), next_attempt_at=NOW + timedelta(minutes=2))
    sooner = Mail(uuid.uuid4(), session_id, ("b@example.org", "c@example.org"), next_attempt_at=NOW)
    not_yet = Mail(uuid.uuid4(), uuid.uuid4(), ("d@example.org",), next_attempt_at=NOW + timedelta(hours=1))
    async with ports.work() as work:
        for mail in (later, sooner, not_yet):
            await work.mail.add(mail)
        await work.commit()
    async with ports.work() as work:
        assert await work.mail.due(NOW + timedelta(minutes=5), 10) == [sooner, later]
        assert await work.mail.due(NOW + timedelta(minutes=5), 1) == [sooner]
        assert await work.mail.due(NOW - timedelta(seconds=1), 10) == []
        await work.mail.sent(sooner.mail_id, NOW + timedelta(seconds=3))
        await work.mail.failed(later.mail_id, "connection refused", NOW + timedelta(minutes=30))
        await work.commit()
    async with ports.work() as work:
        assert await work.mail.due(NOW + timedelta(minutes=5), 10) == []
        assert sorted(await work.mail.of_session(session_id), key=lambda m: m.mail_id == later.mail_id) == [
            replace(sooner, attempts=1, sent_at=NOW + timedelta(seconds=3)),
            replace(later, attempts=1, last_error="connection refused", next_attempt_at=NOW + timedelta(minutes=30)),
        ]
        await work.mail.failed(later.mail_id, "timed out", NOW + timedelta(hours=2))
        await work.mail.sent(later.mail_id, NOW + timedelta(hours=2))
        await work.commit()
    async with ports.work() as work:
        [mail] = [m for m in await work.mail.of_session(session_id) if m.mail_id == later.mail_id]
        assert (mail.attempts, mail.last_error, mail.sent_at) == (3, None, NOW + timedelta(hours=2))
        assert await work.mail.of_session(uuid.uuid4()) == []


def opened_envelope() -> Envelope[SessionOpenedV1]:
    session = a_session()
    p = session.place
    event = SessionOpenedV1(
        session_id=session.session_id,
        territory_id=p.territory_id,
        company_id=p.company_id,
        shop_id=p.shop_id,
        pos_id=p.pos_id,
        opened_at=NOW,
        operator_ids=session.operator_ids,
        currency="EUR",
        opening_float=11000,
        float_counts=(),
    )
    tenant = TenantKeys(territory_id=p.territory_id, company_id=p.company_id, shop_id=p.shop_id, pos_id=p.pos_id)
    return Envelope[SessionOpenedV1].wrap(
        event, event_id=uuid.uuid4(), occurred_at=NOW, source="session-service", tenant=tenant
    )


async def test_the_outbox_holds_the_row_computed_from_the_event_with_the_writing_span_s_trace(ports: Ports) -> None:
    untraced, traced, dropped = opened_envelope(), opened_envelope(), opened_envelope()
    where = {"topic": "caisse.sessions.v1", "aggregate_type": "cash_session"}
    span = NonRecordingSpan(
        SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(TraceFlags.SAMPLED))
    )
    async with ports.work() as work:
        await work.outbox.add(untraced, key="pos-1", aggregate_id="s-1", **where)
        with trace.use_span(span):
            await work.outbox.add(traced, key="pos-2", aggregate_id="s-2", **where)
        await work.commit()
    async with ports.work() as work:
        await work.outbox.add(dropped, key="pos-3", aggregate_id="s-3", **where)
    rows = await ports.outbox()
    assert [(r.id, r.key, r.aggregate_id) for r in rows] == [(untraced.id, "pos-1", "s-1"), (traced.id, "pos-2", "s-2")]
    assert rows[0] == OutboxRow.of(untraced, key="pos-1", aggregate_id="s-1", **where)
    assert rows[0].traceparent is None
    assert rows[1].traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with trace.use_span(span):
        assert rows[1] == OutboxRow.of(traced, key="pos-2", aggregate_id="s-2", **where)
    assert json.loads(rows[1].payload)["traceparent"] == rows[1].traceparent
    assert json.loads(rows[1].headers)["ce_type"] == "session.opened"


async def test_a_movement_id_names_the_session_it_was_recorded_in_and_no_other(ports: Ports) -> None:
    session, other = a_session(), a_session()
    at_the_till = datetime(2026, 11, 21, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    movement = CashMovement(uuid.uuid4(), MovementKind.WITHDRAWAL, 3000, "safe", uuid.uuid4(), at_the_till)
    async with ports.work() as work:
        await work.sessions.add(session)
        await work.sessions.add(other)
        await work.sessions.add_movement(session.session_id, movement)
        assert await work.sessions.session_of_movement(movement.movement_id) == session.session_id
        await work.commit()
    async with ports.work() as work:
        assert await work.sessions.session_of_movement(movement.movement_id) == session.session_id
        assert await work.sessions.session_of_movement(uuid.uuid4()) is None
        stored = await work.sessions.get(session.session_id)
        assert stored is not None
        assert stored.movements == (movement,)  # the till's time, the same instant


async def test_a_close_made_offline_keeps_the_till_s_time_of_the_close_in_its_request(ports: Ports) -> None:
    session = a_session()
    closed_at = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    request = CloseRequest(uuid.uuid4(), None, (Count(5000, 2), Count(200, 5)), closed_at=closed_at)
    async with ports.work() as work:
        await work.sessions.add(session)
        await work.sessions.update(begin_closing(session, request, NOW))
        await work.commit()
    async with ports.work() as work:
        waiting = await work.sessions.get(session.session_id)
        assert waiting is not None
        assert waiting.close_request == request
        await work.sessions.update(close_session(waiting, request, None, [], comment_threshold=500, now=NOW))
        await work.commit()
    async with ports.work() as work:
        closed = await work.sessions.get(session.session_id)
        assert closed is not None
        assert (closed.closed_at, closed.closing_since) == (closed_at, NOW)
