"""The `Pushes` port, alike in memory and on PostgreSQL: each ticket kept once, due in number order per POS, marked
pushed, failed, refused and replayed, and read back whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from bridge_stores import Store, database_fixture, infra_fixture, store_fixture  # noqa: F401 - the fixtures

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from paheko_bridge.domain.pushes import REASON_KEPT, PushStatus

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
EXAMPLE = load_example(TicketFinalizedV1).data


def ticket(pos: UUID, number: int, *, session: UUID | None = None, company: UUID | None = None) -> TicketFinalizedV1:
    return EXAMPLE.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "pos_id": pos,
            "number": number,
            "session_id": session or uuid.uuid4(),
            "company_id": company or uuid.uuid4(),
        }
    )


async def add(store: Store, *tickets: TicketFinalizedV1, at: datetime = NOW) -> int:
    async with store.uow() as work:
        added = await work.pushes.add_many(tickets, at)
        await work.commit()
    return added


async def test_a_ticket_is_kept_once_and_add_many_answers_how_many_were_new(store: Store) -> None:
    pos = uuid.uuid4()
    first, second, third = ticket(pos, 1), ticket(pos, 2), ticket(pos, 3)

    assert await add(store, first, second) == 2
    assert await add(store, second, third) == 1

    async with store.uow() as work:
        kept = await work.pushes.get(second.ticket_id)
        unknown = await work.pushes.get(uuid.uuid4())
    assert kept is not None
    row, stored = kept
    assert stored == second
    assert (row.ticket_id, row.company_id, row.pos_id, row.session_id, row.number) == (
        second.ticket_id,
        second.company_id,
        pos,
        second.session_id,
        2,
    )
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error, row.received_at, row.pushed_at) == (
        PushStatus.PENDING,
        0,
        NOW,
        None,
        NOW,
        None,
    )
    assert unknown is None


async def test_due_tickets_come_in_order_of_pos_then_number_up_to_the_limit(store: Store) -> None:
    a, b = sorted((uuid.uuid4(), uuid.uuid4()), key=str)
    await add(store, ticket(b, 1), ticket(a, 2), ticket(a, 1), ticket(b, 2))

    async with store.uow() as work:
        due = await work.pushes.due(NOW, 10)
        first_three = await work.pushes.due(NOW, 3)
        before_arrival = await work.pushes.due(NOW - timedelta(seconds=1), 10)

    assert [(p.ticket.pos_id, p.ticket.number, p.attempts) for p in due] == [(a, 1, 0), (a, 2, 0), (b, 1, 0), (b, 2, 0)]
    assert [(p.ticket.pos_id, p.ticket.number) for p in first_three] == [(a, 1), (a, 2), (b, 1)]
    assert before_arrival == []


async def test_a_ticket_never_overtakes_an_earlier_one_of_its_pos_that_backs_off(store: Store) -> None:
    pos, other = uuid.uuid4(), uuid.uuid4()
    one, two, elsewhere = ticket(pos, 1), ticket(pos, 2), ticket(other, 1)
    await add(store, one, two, elsewhere)
    async with store.uow() as work:
        await work.pushes.failed(one.ticket_id, attempts=1, next_attempt_at=LATER, reason="503")
        await work.commit()

    async with store.uow() as work:
        now = await work.pushes.due(NOW, 10)
        later = await work.pushes.due(LATER, 10)

    assert [p.ticket.ticket_id for p in now] == [elsewhere.ticket_id]
    assert {(p.ticket.ticket_id, p.attempts) for p in later} == {
        (one.ticket_id, 1),
        (two.ticket_id, 0),
        (elsewhere.ticket_id, 0),
    }


async def test_a_failure_keeps_its_attempts_its_next_try_and_the_start_of_its_reason(store: Store) -> None:
    pos = uuid.uuid4()
    one = ticket(pos, 1)
    await add(store, one)
    page = "<html>" + "x" * (REASON_KEPT * 2)

    async with store.uow() as work:
        await work.pushes.failed(one.ticket_id, attempts=3, next_attempt_at=LATER, reason=page)
        await work.commit()

    async with store.uow() as work:
        kept = await work.pushes.get(one.ticket_id)
    assert kept is not None
    assert (kept[0].attempts, kept[0].next_attempt_at, kept[0].status) == (3, LATER, PushStatus.PENDING)
    assert kept[0].last_error == page[:REASON_KEPT]


async def test_pushed_tickets_count_one_more_attempt_and_are_the_session_s_in_number_order(store: Store) -> None:
    pos, session = uuid.uuid4(), uuid.uuid4()
    three, one, two = (ticket(pos, n, session=session) for n in (3, 1, 2))
    other_session = ticket(pos, 4)
    await add(store, three, one, two, other_session)
    async with store.uow() as work:
        await work.pushes.failed(one.ticket_id, attempts=2, next_attempt_at=NOW, reason="503")
        await work.pushes.pushed_many([three.ticket_id, one.ticket_id, other_session.ticket_id], LATER)
        await work.pushes.pushed_many([], LATER)
        await work.commit()

    async with store.uow() as work:
        numbers = await work.pushes.pushed_numbers(session)
        tickets = await work.pushes.tickets_of_session(session)
        rows = await work.pushes.of_session(session)
        due = await work.pushes.due(LATER, 10)

    assert numbers == [1, 3]
    assert tickets == [one, three]
    assert [(r.number, r.status, r.attempts, r.last_error, r.pushed_at) for r in rows] == [
        (1, PushStatus.PUSHED, 3, None, LATER),
        (2, PushStatus.PENDING, 0, None, None),
        (3, PushStatus.PUSHED, 1, None, LATER),
    ]
    assert [p.ticket.ticket_id for p in due] == [two.ticket_id]


async def test_a_refused_ticket_waits_in_the_dead_letters_until_replayed(store: Store) -> None:
    pos = uuid.uuid4()
    one, two, three = ticket(pos, 1), ticket(pos, 2), ticket(pos, 3)
    await add(store, one, two)
    await add(store, three, at=LATER)
    async with store.uow() as work:
        for refused in (three, one, two):
            await work.pushes.rejected(refused.ticket_id, attempts=1, reason="422 " + "y" * (REASON_KEPT * 2))
        await work.commit()

    async with store.uow() as work:
        dead = await work.pushes.rejected_ones()
        due = await work.pushes.due(LATER, 10)
    assert [(r.number, r.status, r.attempts) for r in dead] == [
        (1, PushStatus.REJECTED, 1),
        (2, PushStatus.REJECTED, 1),
        (3, PushStatus.REJECTED, 1),
    ]
    assert {len(r.last_error or "") for r in dead} == {REASON_KEPT}
    assert due == []

    async with store.uow() as work:
        assert await work.pushes.replay(two.ticket_id, LATER) == 1
        assert await work.pushes.replay(two.ticket_id, LATER) == 0  # pending again: not a dead letter any more
        assert await work.pushes.replay(None, LATER) == 2
        await work.commit()
    async with store.uow() as work:
        again = await work.pushes.due(LATER, 10)
        left = await work.pushes.rejected_ones()
    assert [p.ticket.number for p in again] == [1, 2, 3]
    assert left == []


async def test_resume_makes_a_company_s_backing_off_tickets_due_now_and_no_other(store: Store) -> None:
    company, other = uuid.uuid4(), uuid.uuid4()
    waiting = ticket(uuid.uuid4(), 1, company=company)
    due_already = ticket(uuid.uuid4(), 1, company=company)
    elsewhere = ticket(uuid.uuid4(), 1, company=other)
    await add(store, waiting, due_already, elsewhere)
    async with store.uow() as work:
        await work.pushes.failed(waiting.ticket_id, attempts=1, next_attempt_at=LATER, reason="503")
        await work.pushes.failed(elsewhere.ticket_id, attempts=1, next_attempt_at=LATER, reason="503")
        await work.commit()

    async with store.uow() as work:
        assert await work.pushes.resume(company, NOW) == 1
        await work.commit()

    async with store.uow() as work:
        due = await work.pushes.due(NOW, 10)
    assert {p.ticket.ticket_id for p in due} == {waiting.ticket_id, due_already.ticket_id}
