"""The bridge's store on the real PostgreSQL: every ticket kept once, pushed in order per POS, backed off while
Paheko is down, dead-lettered when refused and replayed, and a session closed only when complete."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import paheko_bridge
from caisse_contracts.envelope import Envelope
from caisse_contracts.events import PahekoTicketPushedV1, SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.database import create_engine, migrate, migrations_beside
from harness import Stack
from paheko_bridge.adapters.memory import FakePaheko, FakeTargets, InMemoryFecJournal, InMemoryUnitOfWork, MemoryState
from paheko_bridge.adapters.sql import BridgePool, PgUnitOfWork, TicketMemo
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus
from paheko_bridge.service_layer.accept import accept
from paheko_bridge.service_layer.close import close_ready
from paheko_bridge.service_layer.deposit import deposits_ready
from paheko_bridge.service_layer.ports import UnitOfWork
from paheko_bridge.service_layer.push import push_due, replay
from paheko_bridge.service_layer.services import BridgeServices

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMPANY = uuid.uuid4()


@pytest.fixture
async def database(stack: Stack) -> AsyncIterator[str]:
    name = f"caisse_paheko_bridge_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(stack.infra.create_database, name)
    try:
        yield name
    finally:
        await asyncio.to_thread(stack.infra.drop_database, name)


@pytest.fixture
async def engine(stack: Stack, database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stack.infra.database_url(database), pool_size=2)
    await migrate(engine, migrations_beside(paheko_bridge.__file__))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def pool(stack: Stack, database: str, engine: AsyncEngine) -> AsyncIterator[BridgePool]:
    """The bridge's asyncpg pool on the migrated database (`engine` migrated it)."""
    pool = BridgePool(stack.infra.dsn(database), size=2)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def ticket(pos: uuid.UUID, session: uuid.UUID, number: int) -> Envelope[TicketFinalizedV1]:
    data = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "pos_id": pos,
            "number": number,
            "company_id": COMPANY,
            "session_id": session,
        }
    )
    return Envelope[TicketFinalizedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


async def test_the_store_keeps_order_backs_off_dead_letters_and_replays_on_postgresql(
    engine: AsyncEngine, pool: BridgePool
) -> None:
    paheko, clock = FakePaheko(), Clock()

    def uow() -> UnitOfWork:
        return pool.work()

    services = BridgeServices(
        uow=uow, targets=FakeTargets(paheko, {COMPANY}), fec=InMemoryFecJournal(), clock=clock, new_id=uuid.uuid4
    )
    pos, session = uuid.uuid4(), uuid.uuid4()
    envelopes = [ticket(pos, session, n) for n in (3, 1, 2)]
    assert await accept(envelopes, services) == 3
    assert await accept(envelopes, services) == 0  # redelivered: claimed by the inbox, nothing added

    paheko.down = True
    assert await push_due(services) == 0
    async with uow() as work:
        rows = await work.pushes.of_session(session)
    assert [(r.number, r.attempts) for r in rows] == [(1, 1), (2, 0), (3, 0)]
    assert rows[0].next_attempt_at > NOW
    assert rows[0].last_error == "connection refused"

    paheko.down = False
    paheko.refuse[envelopes[2].data.ticket_id] = "422 invalid: number 2 refused"
    clock.now = NOW + timedelta(minutes=10)
    assert await push_due(services) == 1  # after the outage, the POS's first ticket alone probes Paheko
    assert await push_due(services) == 1  # then the rest: 2 is refused, 3 goes
    assert paheko.tickets == [(pos, 1), (pos, 3)]
    async with uow() as work:
        dead = await work.pushes.rejected_ones()
        numbers = sorted(await work.pushes.pushed_numbers(session))
    assert [(d.number, d.status, d.last_error) for d in dead] == [
        (2, PushStatus.REJECTED, "422 invalid: number 2 refused")
    ]
    assert numbers == [1, 3]

    paheko.refuse.clear()
    assert await replay(None, services) == 1
    assert await push_due(services) == 1
    async with engine.connect() as conn:
        announced = (
            await conn.execute(
                text("select count(*) from outbox where type = :t"), {"t": PahekoTicketPushedV1.EVENT_TYPE}
            )
        ).scalar_one()
    assert announced == 3


async def test_due_tickets_come_from_the_memo_or_the_table_whole_and_in_order(
    engine: AsyncEngine, pool: BridgePool
) -> None:
    """The forwarder's tickets are the stored ones whether the memo still holds them (here: the last one
    stored) or they are read back from the table (the others, beyond the memo's capacity)."""
    memo = TicketMemo(capacity=1)
    pos, session = uuid.uuid4(), uuid.uuid4()
    stored = [ticket(pos, session, n).data for n in (1, 2, 3)]
    async with PgUnitOfWork(pool.opened(), memo) as work:
        assert await work.pushes.add_many(stored, NOW) == 3
        await work.commit()
    assert [memo.get(t.ticket_id) is not None for t in stored] == [False, False, True]
    async with PgUnitOfWork(pool.opened(), memo) as work:
        due = [p for p in await work.pushes.due(NOW + timedelta(seconds=1), 500) if p.ticket.pos_id == pos]
        await work.pushes.pushed_many([t.ticket_id for t in stored], NOW)
        await work.commit()
    assert [p.ticket for p in due] == stored
    assert memo.get(stored[2].ticket_id) is None, "a pushed ticket leaves the memo"


async def test_a_close_waits_in_postgresql_for_its_last_ticket(engine: AsyncEngine, pool: BridgePool) -> None:
    paheko, clock = FakePaheko(), Clock()

    def uow() -> UnitOfWork:
        return pool.work()

    services = BridgeServices(
        uow=uow, targets=FakeTargets(paheko, {COMPANY}), fec=InMemoryFecJournal(), clock=clock, new_id=uuid.uuid4
    )
    pos, session = uuid.uuid4(), uuid.uuid4()
    first = ticket(pos, session, 1)
    example = load_example(SessionClosedV1).data.model_copy(
        update={
            "session_id": session,
            "company_id": COMPANY,
            "pos_id": pos,
            "first_ticket_number": 1,
            "last_ticket_number": 2,
            "totals_by_method": (),
            "totals_by_category": (),
            "variance": 0,
        }
    )
    paheko.tabs = 2
    await accept(
        [first, Envelope[SessionClosedV1].wrap(example, event_id=uuid.uuid4(), occurred_at=NOW, source="t")], services
    )
    await push_due(services)
    assert [(p.status, p.missing) for p in await close_ready(services)] == [(CloseStatus.WAITING, (2,))]
    await accept([ticket(pos, session, 2)], services)
    await push_due(services)
    assert [p.status for p in await close_ready(services)] == [CloseStatus.SYNCED]
    async with uow() as work:
        row = await work.closes.get(session)
    assert row is not None
    assert row.status is CloseStatus.SYNCED
    assert paheko.closed == [session]


@pytest.mark.parametrize("store", ["postgresql", "memory"])
async def test_a_session_s_tickets_are_those_pushed_in_number_order_alike_in_postgresql_and_in_memory(
    pool: BridgePool, store: str
) -> None:
    """What the reconciliation sums the VAT of: the fake and the SQL adapter answer the same."""
    state = MemoryState()

    def uow() -> UnitOfWork:
        return pool.work() if store == "postgresql" else InMemoryUnitOfWork(state)

    pos, session, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    envelopes = [ticket(pos, session, n) for n in (2, 1, 3)]
    async with uow() as work:
        await work.pushes.add_many([e.data for e in [*envelopes, ticket(pos, other, 4)]], NOW)
        await work.pushes.pushed_many([envelopes[0].data.ticket_id, envelopes[1].data.ticket_id], NOW)
        await work.commit()
    async with uow() as work:
        found = await work.pushes.tickets_of_session(session)
    assert [(t.number, t.ticket_id) for t in found] == [
        (1, envelopes[1].data.ticket_id),
        (2, envelopes[0].data.ticket_id),
    ]
    assert found[0] == envelopes[1].data


async def test_once_paheko_answers_a_companys_waiting_tickets_and_close_are_due_at_once_on_postgresql(
    pool: BridgePool,
) -> None:
    """The SQL store resumes as the fake does: the company's pending tickets and waiting close that wait for their
    backoff are due now; another company's, and what is already due, stay as they are."""
    paheko, clock = FakePaheko(), Clock()

    def uow() -> UnitOfWork:
        return pool.work()

    services = BridgeServices(
        uow=uow, targets=FakeTargets(paheko, {COMPANY}), fec=InMemoryFecJournal(), clock=clock, new_id=uuid.uuid4
    )
    till_a, till_b, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    closed = load_example(SessionClosedV1).data.model_copy(
        update={
            "session_id": session,
            "company_id": COMPANY,
            "pos_id": till_a,
            "first_ticket_number": 1,
            "last_ticket_number": 2,
        }
    )
    other = ticket(uuid.uuid4(), uuid.uuid4(), 1).data.model_copy(update={"company_id": uuid.uuid4()})
    later = NOW + timedelta(minutes=5)
    async with uow() as work:
        await work.pushes.add_many([ticket(till_a, session, 1).data, ticket(till_a, session, 2).data, other], NOW)
        await work.closes.add(closed, NOW)
        waiting = [r.ticket_id for r in await work.pushes.of_session(session)] + [other.ticket_id]
        for ticket_id in waiting:
            await work.pushes.failed(ticket_id, attempts=9, next_attempt_at=later, reason="down")
        await work.closes.failed(session, attempts=9, next_attempt_at=later, reason="down")
        await work.commit()
    assert await push_due(services) == 0  # all of them wait for their backoff
    await accept([ticket(till_b, uuid.uuid4(), 1)], services)
    assert await push_due(services) == 1  # till B's ticket: the company's Paheko answers
    async with uow() as work:
        mine = await work.pushes.of_session(session)
        others = await work.pushes.get(other.ticket_id)
        close = await work.closes.get(session)
    assert [r.next_attempt_at for r in mine] == [NOW, NOW]
    assert others is not None
    assert others[0].next_attempt_at == later
    assert close is not None
    assert close.next_attempt_at == NOW
    assert await push_due(services) == 2
    assert [n for pos, n in paheko.tickets if pos == till_a] == [1, 2]


@pytest.mark.parametrize("store", ["postgresql", "memory"])
async def test_a_deposit_waits_for_its_close_backs_off_and_is_booked_once_alike_in_postgresql_and_in_memory(
    pool: BridgePool, store: str
) -> None:
    paheko, clock, state = FakePaheko(), Clock(), MemoryState()

    def uow() -> UnitOfWork:
        return pool.work() if store == "postgresql" else InMemoryUnitOfWork(state)

    services = BridgeServices(
        uow=uow, targets=FakeTargets(paheko, {COMPANY}), fec=InMemoryFecJournal(), clock=clock, new_id=uuid.uuid4
    )
    pos, session = uuid.uuid4(), uuid.uuid4()
    closed = load_example(SessionClosedV1).data.model_copy(
        update={
            "session_id": session,
            "company_id": COMPANY,
            "pos_id": pos,
            "first_ticket_number": None,
            "last_ticket_number": None,
            "totals_by_method": (),
            "totals_by_category": (),
            "variance": 0,
        }
    )
    deposit = load_example(SessionDepositConfirmedV1).data.model_copy(
        update={"session_id": session, "company_id": COMPANY, "pos_id": pos, "deposit_id": uuid.uuid4()}
    )
    confirmed = Envelope[SessionDepositConfirmedV1].wrap(deposit, event_id=uuid.uuid4(), occurred_at=NOW, source="t")
    assert await accept([confirmed, confirmed], services) == 1
    assert await deposits_ready(services) == []  # no close yet
    await accept([Envelope[SessionClosedV1].wrap(closed, event_id=uuid.uuid4(), occurred_at=NOW, source="t")], services)
    await close_ready(services)
    paheko.down = True
    assert await deposits_ready(services) == [(session, DepositStatus.WAITING)]
    async with uow() as work:
        row = await work.deposits.get(session)
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (DepositStatus.WAITING, 1, "connection refused")
    assert row.next_attempt_at > NOW
    assert row.deposit == deposit
    assert await deposits_ready(services) == []  # backing off
    paheko.down = False
    clock.now = NOW + timedelta(minutes=10)
    assert await deposits_ready(services) == [(session, DepositStatus.BOOKED)]
    assert await deposits_ready(services) == []
    async with uow() as work:
        row = await work.deposits.get(session)
    assert row is not None
    assert (row.status, row.last_error) == (DepositStatus.BOOKED, None)
    assert paheko.deposits == [deposit.deposit_id]
