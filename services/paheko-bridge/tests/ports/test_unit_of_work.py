"""The unit of work, the inbox and the outbox, alike in memory and on PostgreSQL: what is committed stays, what is
not is undone; each event is claimed once; the outbox queues its events only with the commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from bridge_stores import Store, database_fixture, infra_fixture, store_fixture  # noqa: F401 - the fixtures

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import PahekoSessionSyncedV1, SessionClosedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import PAHEKO
from caisse_runtime.outbox import OutboxItem

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


class WorkFailedError(Exception):
    """What interrupts a unit of work in these tests."""


def synced() -> OutboxItem:
    event = PahekoSessionSyncedV1(session_id=uuid.uuid4(), pos_id=uuid.uuid4(), target="fec", synced_at=NOW)
    company = uuid.uuid4()
    envelope = Envelope[PahekoSessionSyncedV1].wrap(
        event, event_id=uuid.uuid4(), occurred_at=NOW, source="test", tenant=TenantKeys(company_id=company)
    )
    return OutboxItem(envelope, PAHEKO.name, str(company), "paheko", str(event.session_id))


async def test_each_event_is_claimed_once_and_a_redelivery_is_not_new(store: Store) -> None:
    one, two, three = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with store.uow() as work:
        assert await work.inbox.claim_many([(one, "ticket.finalized"), (two, "session.closed")]) == {one, two}
        await work.commit()

    async with store.uow() as work:
        assert await work.inbox.claim_many([(two, "session.closed"), (three, "ticket.finalized")]) == {three}
        assert await work.inbox.claim_many([]) == set()
        await work.commit()


async def test_the_outbox_queues_each_event_for_its_topic_and_key_once_committed(store: Store) -> None:
    first, second, dropped = synced(), synced(), synced()
    async with store.uow() as work:
        await work.outbox.add_many([first, second])
        await work.outbox.add_many([])
        await work.commit()
    async with store.uow() as work:
        await work.outbox.add_many([dropped])  # never committed

    assert await store.queued() == [
        (PAHEKO.name, item.key, PahekoSessionSyncedV1.EVENT_TYPE, item.aggregate_id) for item in (first, second)
    ]


async def test_what_a_unit_of_work_does_not_commit_is_undone(store: Store) -> None:
    close = load_example(SessionClosedV1).data.model_copy(update={"session_id": uuid.uuid4()})
    event = uuid.uuid4()

    async def interrupted() -> None:
        async with store.uow() as work:
            await work.closes.add(close, NOW)
            await work.inbox.claim_many([(event, "session.closed")])
            raise WorkFailedError

    with pytest.raises(WorkFailedError):
        await interrupted()

    async with store.uow() as work:
        assert await work.closes.get(close.session_id) is None
        assert await work.inbox.claim_many([(event, "session.closed")]) == {event}
