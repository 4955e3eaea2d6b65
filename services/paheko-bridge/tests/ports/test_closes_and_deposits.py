"""The `Closes` and `Deposits` ports, alike in memory and on PostgreSQL: each session's close and deposit kept once,
waiting in order of arrival until settled, backing off with the start of the reason, and resumed per company."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from bridge_stores import Store, database_fixture, infra_fixture, store_fixture  # noqa: F401 - the fixtures

from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.snapshots import load_example
from paheko_bridge.domain.pushes import REASON_KEPT, CloseStatus, DepositStatus
from paheko_bridge.service_layer.ports import CloseSettled

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def closed(company: UUID | None = None) -> SessionClosedV1:
    return load_example(SessionClosedV1).data.model_copy(
        update={"session_id": uuid.uuid4(), "company_id": company or uuid.uuid4(), "pos_id": uuid.uuid4()}
    )


def deposit() -> SessionDepositConfirmedV1:
    return load_example(SessionDepositConfirmedV1).data.model_copy(
        update={"session_id": uuid.uuid4(), "deposit_id": uuid.uuid4(), "company_id": uuid.uuid4()}
    )


async def test_a_close_is_kept_once_and_read_back_whole(store: Store) -> None:
    close = closed()
    async with store.uow() as work:
        assert await work.closes.add(close, NOW) is True
        assert await work.closes.add(close, LATER) is False
        await work.commit()

    async with store.uow() as work:
        row = await work.closes.get(close.session_id)
        unknown = await work.closes.get(uuid.uuid4())
    assert row is not None
    assert (row.closed, row.status, row.attempts, row.next_attempt_at, row.last_error, row.differences) == (
        close,
        CloseStatus.WAITING,
        0,
        NOW,
        None,
        (),
    )
    assert unknown is None


async def test_closes_wait_in_order_of_arrival_until_settled_or_backing_off(store: Store) -> None:
    second, first, backing_off, settled = closed(), closed(), closed(), closed()
    async with store.uow() as work:
        await work.closes.add(first, NOW - timedelta(minutes=2))
        await work.closes.add(second, NOW - timedelta(minutes=1))
        await work.closes.add(backing_off, NOW)
        await work.closes.add(settled, NOW)
        await work.closes.failed(backing_off.session_id, attempts=2, next_attempt_at=LATER, reason="z" * 5000)
        differences = ({"what": "account:530", "ours": -100, "theirs": 0},)
        await work.closes.settle(
            settled.session_id, CloseSettled(CloseStatus.MISMATCH, NOW, differences, reason="530 differs")
        )
        await work.commit()

    async with store.uow() as work:
        waiting = await work.closes.waiting(NOW)
        later = await work.closes.waiting(LATER)
        failed = await work.closes.get(backing_off.session_id)
        done = await work.closes.get(settled.session_id)
    assert [r.closed.session_id for r in waiting] == [first.session_id, second.session_id]
    assert [r.closed.session_id for r in later] == [first.session_id, second.session_id, backing_off.session_id]
    assert failed is not None
    assert (failed.attempts, failed.next_attempt_at, failed.last_error) == (2, LATER, "z" * REASON_KEPT)
    assert done is not None
    assert (done.status, done.differences, done.last_error) == (CloseStatus.MISMATCH, differences, "530 differs")


async def test_resume_makes_a_company_s_backing_off_closes_due_now_and_no_other(store: Store) -> None:
    company = uuid.uuid4()
    mine, other = closed(company), closed()
    async with store.uow() as work:
        for close in (mine, other):
            await work.closes.add(close, NOW)
            await work.closes.failed(close.session_id, attempts=1, next_attempt_at=LATER, reason="503")
        await work.commit()

    async with store.uow() as work:
        assert await work.closes.resume(company, NOW) == 1
        assert await work.closes.resume(company, NOW) == 0
        await work.commit()

    async with store.uow() as work:
        assert [r.closed.session_id for r in await work.closes.waiting(NOW)] == [mine.session_id]


async def test_a_deposit_is_kept_once_per_session_and_waits_in_order_until_settled(store: Store) -> None:
    first, second, backing_off = deposit(), deposit(), deposit()
    async with store.uow() as work:
        assert await work.deposits.add(second, NOW) is True
        assert await work.deposits.add(first, NOW - timedelta(minutes=1)) is True
        assert await work.deposits.add(second, NOW) is False
        await work.deposits.add(backing_off, NOW + timedelta(seconds=1))
        await work.deposits.failed(backing_off.session_id, attempts=1, next_attempt_at=LATER, reason="d" * 5000)
        await work.commit()

    async with store.uow() as work:
        waiting = await work.deposits.waiting(NOW)
        failed = await work.deposits.get(backing_off.session_id)
        unknown = await work.deposits.get(uuid.uuid4())
    assert [(r.deposit, r.status, r.attempts) for r in waiting] == [
        (first, DepositStatus.WAITING, 0),
        (second, DepositStatus.WAITING, 0),
    ]
    assert failed is not None
    assert (failed.attempts, failed.next_attempt_at, failed.last_error) == (1, LATER, "d" * REASON_KEPT)
    assert unknown is None

    async with store.uow() as work:
        await work.deposits.settle(first.session_id, DepositStatus.MISMATCH, at=LATER, reason="5112 differs")
        await work.commit()
    async with store.uow() as work:
        settled = await work.deposits.get(first.session_id)
        still = await work.deposits.waiting(LATER)
    assert settled is not None
    assert (settled.status, settled.last_error) == (DepositStatus.MISMATCH, "5112 differs")
    assert [r.deposit.session_id for r in still] == [second.session_id, backing_off.session_id]
