"""Counting tickets on real PostgreSQL through the service's asyncpg unit of work: each ticket once, read back
as the domain folds them, nothing kept of a batch that fails, and a close that waits for a batch counting into
its session.

The module gets a new database of session-service's schema on the launcher's `test` PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

import session_service
from caisse_contracts.events import PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from caisse_runtime.database import create_engine, migrate, migrations_beside
from caisse_stack import Infra, ensure_up
from session_service.adapters.sql import SqlDatabase
from session_service.domain.sessions import Cheque
from session_service.domain.totals import RunningTotals, apply_tickets
from session_service.service_layer.ports import AppliedTicket, LateTicketsOf
from session_service.service_layer.totals import TicketEvent, count_tickets

pytestmark = pytest.mark.integration

EXAMPLE = load_example(TicketFinalizedV1).data
"""10.00 €: 8.00 € textile 1250 g + 2.00 € books 180 g, 20 € cash tendered, 10 € change."""
NOW = datetime(2026, 11, 21, 14, 32, 7, tzinfo=UTC)


@pytest.fixture(scope="session")
def infra() -> Infra:
    """Real Kafka and PostgreSQL (the launcher's `test` instance), started if they do not run yet."""
    return ensure_up("test")


@pytest_asyncio.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[str]:
    """A new database with every migration of session-service applied; dropped at the end of the module."""
    name = f"caisse_session_service_it_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)
    engine = create_engine(infra.database_url(name), pool_size=2)
    try:
        await migrate(engine, migrations_beside(session_service.__file__))
    finally:
        await engine.dispose()
    yield name
    infra.drop_database(name)


@pytest_asyncio.fixture
async def pool(infra: Infra, database: str) -> AsyncIterator[SqlDatabase]:
    created = SqlDatabase(infra.dsn(database), size=3, what="test")
    await created.start()
    yield created
    await created.stop()


def ticket(session_id: uuid.UUID, number: int, **update: Any) -> TicketFinalizedV1:
    return EXAMPLE.model_copy(update={"ticket_id": uuid.uuid4(), "session_id": session_id, "number": number} | update)


def cheque(amount: int, number: str) -> PaymentV1:
    return PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=amount, reference=number, bank="LBP")


def event(t: TicketFinalizedV1) -> TicketEvent:
    return TicketEvent(uuid.uuid4(), "ticket.finalized", t)


async def stored(pool: SqlDatabase, session_id: uuid.UUID) -> RunningTotals | None:
    async with pool.work() as work:
        return await work.totals.get(session_id)


async def test_batches_counted_through_asyncpg_read_back_as_the_domain_folds_them(pool: SqlDatabase) -> None:
    session_id = uuid.uuid4()
    first = [ticket(session_id, 1), ticket(session_id, 2, payments=(cheque(1000, "0000123"),), change_given=0)]
    second = [
        ticket(session_id, 4, kind=TicketKind.CREDIT_NOTE, total_incl_tax=-1000, change_given=0),
        ticket(session_id, 3),
    ]
    assert (await count_tickets([event(t) for t in first], uow=pool.work, clock=lambda: NOW)).sessions == {session_id}
    assert (await count_tickets([event(t) for t in second], uow=pool.work, clock=lambda: NOW)).sessions == {session_id}

    expected = apply_tickets(RunningTotals.empty_for(first[0]), first + second)
    assert await stored(pool, session_id) == expected
    async with pool.work() as work:
        assert await work.totals.numbers_in(session_id, 1, 10) == [1, 2, 3, 4]
        applied = await work.totals.applied_ticket(first[1].ticket_id)
        cheques = await work.totals.cheques(session_id)
    assert applied is not None
    assert (applied.session_id, applied.number, applied.applied_at) == (session_id, 2, NOW)
    payment = first[1].payments[0]
    assert cheques == [Cheque(payment.payment_id, first[1].ticket_id, "0000123", "LBP", 1000)]


async def test_a_redelivered_batch_and_a_ticket_under_another_event_id_count_once(pool: SqlDatabase) -> None:
    session_id = uuid.uuid4()
    one, two = ticket(session_id, 1), ticket(session_id, 2)
    batch = [event(one), event(one), event(two)]
    assert (await count_tickets(batch, uow=pool.work, clock=lambda: NOW)).sessions == {session_id}
    assert (await count_tickets(batch, uow=pool.work, clock=lambda: NOW)).sessions == set()
    assert (await count_tickets([event(two)], uow=pool.work, clock=lambda: NOW)).sessions == set()
    totals = await stored(pool, session_id)
    assert totals is not None
    assert (totals.ticket_count, totals.total_incl_tax) == (2, 2000)


async def test_totals_of_a_batch_whose_ticket_was_recorded_meanwhile_are_not_kept(pool: SqlDatabase) -> None:
    session_id = uuid.uuid4()
    counted = ticket(session_id, 1)
    assert (await count_tickets([event(counted)], uow=pool.work, clock=lambda: NOW)).sessions == {session_id}
    before = await stored(pool, session_id)
    assert before is not None
    late_event = uuid.uuid4()
    again = AppliedTicket(counted.ticket_id, session_id, counted.pos_id, 1, 1000, late_event, NOW)
    async with pool.work() as work:
        assert await work.inbox.claim_many([(late_event, "ticket.finalized")]) == {late_event}
        with pytest.raises(asyncpg.UniqueViolationError):
            await work.totals.save_many([apply_tickets(before, [counted])], [again], [])
    assert await stored(pool, session_id) == before
    async with pool.work() as work:
        assert await work.inbox.claim_many([(late_event, "ticket.finalized")]) == {late_event}


async def test_a_cheque_already_recorded_is_skipped_by_the_batch_insert(pool: SqlDatabase) -> None:
    session_id = uuid.uuid4()
    paid = ticket(session_id, 1, payments=(cheque(1000, "0000777"),), change_given=0)
    assert (await count_tickets([event(paid)], uow=pool.work, clock=lambda: NOW)).sessions == {session_id}
    payment = paid.payments[0]
    other = ticket(session_id, 2)
    applied = AppliedTicket(other.ticket_id, session_id, other.pos_id, 2, 1000, uuid.uuid4(), NOW)
    async with pool.work() as work:
        await work.totals.save_many(
            [], [applied], [Cheque(payment.payment_id, other.ticket_id, "0000888", "Autre", 5000)]
        )
        await work.commit()
    async with pool.work() as work:
        assert await work.totals.cheques(session_id) == [
            Cheque(payment.payment_id, paid.ticket_id, "0000777", "LBP", 1000)
        ]
        assert await work.totals.numbers_in(session_id, 1, 2) == [1, 2]


async def test_the_sessions_waiting_to_close_are_the_closing_ones(
    pool: SqlDatabase, infra: Infra, database: str
) -> None:
    statuses = {uuid.uuid4(): status for status in ("open", "closing", "closed", "closing")}
    conn = await asyncpg.connect(infra.dsn(database))
    try:
        await conn.execute("delete from cash_sessions")
        for session_id, status in statuses.items():
            await conn.execute(
                """
                insert into cash_sessions (session_id, pos_id, pos_name, shop_id, company_id, territory_id, currency,
                    exponent, denominations, status, opened_at, operator_ids, float_counts, opening_float,
                    first_ticket_number)
                values ($1, $2, 'Caisse', $2, $2, $2, 'EUR', 2, '[]', $3, now(), '[]', '[]', 0, 1)
                """,
                session_id,
                uuid.uuid4(),
                status,
            )
    finally:
        await conn.close()
    closing = {s for s, status in statuses.items() if status == "closing"}
    async with pool.work() as work:
        assert set(await work.sessions.closing()) == closing


async def test_a_unit_of_work_left_without_commit_keeps_nothing_and_one_that_only_reads_commits_nothing(
    pool: SqlDatabase,
) -> None:
    event_id = uuid.uuid4()
    async with pool.work() as work:
        assert await work.inbox.claim_many([(event_id, "ticket.finalized")]) == {event_id}
    async with pool.work() as work:
        assert await work.totals.before_counting([], [uuid.uuid4()]) == (set(), set(), set())
        await work.commit()
    async with pool.work() as work:
        assert await work.inbox.claim_many([(event_id, "ticket.finalized")]) == {event_id}
        await work.commit()
    async with pool.work() as work:
        assert await work.inbox.claim_many([(event_id, "ticket.finalized")]) == set()


async def a_session(infra: Infra, database: str, status: str) -> uuid.UUID:
    session_id = uuid.uuid4()
    conn = await asyncpg.connect(infra.dsn(database))
    try:
        await conn.execute(
            """
            insert into cash_sessions (session_id, pos_id, pos_name, shop_id, company_id, territory_id, currency,
                exponent, denominations, status, opened_at, operator_ids, float_counts, opening_float,
                first_ticket_number)
            values ($1, $2, 'Caisse', $2, $2, $2, 'EUR', 2, '[]', $3, now(), '[]', '[]', 0, 1)
            """,
            session_id,
            uuid.uuid4(),
            status,
        )
    finally:
        await conn.close()
    return session_id


async def test_a_ticket_of_a_closed_session_is_kept_aside_in_a_batch_or_alone_and_never_counted(
    pool: SqlDatabase, infra: Infra, database: str
) -> None:
    closed, still_open = await a_session(infra, database, "closed"), await a_session(infra, database, "open")
    late = ticket(closed, 9, payments=(cheque(1000, "0000999"),), change_given=0)
    assert (
        await count_tickets([event(late), event(ticket(still_open, 1))], uow=pool.work, clock=lambda: NOW)
    ).sessions == {still_open}
    assert (await count_tickets([event(late)], uow=pool.work, clock=lambda: NOW)).sessions == set()
    again = ticket(closed, 10)
    assert (await count_tickets([event(again)], uow=pool.work, clock=lambda: NOW)).sessions == set()
    assert await stored(pool, closed) is None
    async with pool.work() as work:
        kept = await work.totals.late_tickets(LateTicketsOf(session_id=closed))
        assert await work.totals.cheques(closed) == []
        assert await work.totals.before_counting([], [closed, still_open]) == (set(), {closed}, set())
    assert sorted((k.number, k.total_incl_tax, k.by_method, k.received_at) for k in kept) == [
        (9, 1000, {"cheque": 1000}, NOW),
        (10, 1000, {"cash": 1000}, NOW),
    ]
    async with pool.work() as work:
        of_shop = await work.totals.late_tickets(LateTicketsOf(shop_id=late.shop_id, company_id=late.company_id))
        assert {k.ticket_id for k in of_shop} >= {late.ticket_id, again.ticket_id}
        assert await work.totals.late_tickets(LateTicketsOf(shop_id=uuid.uuid4())) == []


async def test_a_close_waits_for_a_batch_counting_into_its_session(
    pool: SqlDatabase, infra: Infra, database: str
) -> None:
    session_id = await a_session(infra, database, "open")
    async with pool.work() as counting:
        await counting.inbox.claim_many([(uuid.uuid4(), "ticket.finalized")])
        assert await counting.totals.before_counting([], [session_id]) == (set(), set(), set())
        closer = await asyncpg.connect(infra.dsn(database))
        try:
            with pytest.raises(asyncpg.LockNotAvailableError):  # the batch holds the session's row
                await closer.execute("select 1 from cash_sessions where session_id = $1 for update nowait", session_id)
        finally:
            await closer.close()
