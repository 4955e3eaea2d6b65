"""What every port of pos-api promises, held alike by the in-memory fakes and by PostgreSQL through asyncpg.

Every test runs against both (the `store` fixture), so that what the unit tests learn from the fakes holds for
the service. PostgreSQL is a new database of pos-api's schema on the launcher's `test` instance, one per run of
this module; each test names a fresh till, ticket or item, so that the tests share it without seeing each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

import pos_api
from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, StockReason, TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from caisse_contracts.till_reports import NumberingRelease, TillReport
from caisse_contracts.tills import BasketContent
from caisse_runtime.database import create_engine, migrate, migrations_beside
from caisse_runtime.outbox import OUTBOX_COLUMNS, OutboxRow
from caisse_stack import Infra, ensure_up
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.adapters.sql import SqlPool
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.errors import TicketConflict
from pos_api.domain.stock import DocumentType, LevelChange, StockMovement, StockRule
from pos_api.domain.tickets import gaps_of
from pos_api.service_layer.ports import (
    CheckoutView,
    ClosingMark,
    DeviceCredential,
    MovementFilter,
    PinState,
    SessionState,
    StockDocument,
    StockLevel,
    StoredBasket,
    StoredTicket,
    UnitOfWork,
)


@dataclass(frozen=True, slots=True)
class Store:
    """One implementation of the ports: its units of work (in a transaction, and statement by statement) and a
    look at the outbox rows it stored, which no port reads back."""

    name: str
    work: Callable[[], UnitOfWork]
    steps: Callable[[], UnitOfWork]
    outbox_rows: Callable[[Sequence[uuid.UUID]], Awaitable[list[OutboxRow]]]


async def _migrated(infra: Infra, name: str) -> None:
    engine = create_engine(infra.database_url(name), pool_size=1)
    try:
        await migrate(engine, migrations_beside(pos_api.__file__))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[Infra, str]]:
    """A new database with every migration of pos-api applied; dropped at the end of the module."""
    infra = ensure_up("test")
    name = f"caisse_pos_api_ports_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)
    with ThreadPoolExecutor(1) as aside:  # the tests' event loop runs this fixture: migrate on a loop of its own
        aside.submit(asyncio.run, _migrated(infra, name)).result()
    yield infra, name
    infra.drop_database(name)


@pytest_asyncio.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        state = MemoryState()

        async def memory_rows(ids: Sequence[uuid.UUID]) -> list[OutboxRow]:
            return [e.row for e in state.events if e.row.id in ids]

        yield Store("memory", lambda: InMemoryUnitOfWork(state), lambda: InMemoryUnitOfWork(state), memory_rows)
        return
    infra, name = request.getfixturevalue("database")
    pool = SqlPool(infra.dsn(name), size=2)
    await pool.start()
    columns = ", ".join(c + "::text" if c in ("payload", "headers") else c for c in OUTBOX_COLUMNS)

    async def sql_rows(ids: Sequence[uuid.UUID]) -> list[OutboxRow]:
        async with pool.opened().acquire() as conn:
            rows = await conn.fetch(f"select {columns} from outbox where id = any($1) order by seq", ids)  # noqa: S608
        return [OutboxRow(*row) for row in rows]

    try:
        yield Store("postgresql", pool.work, pool.steps, sql_rows)
    finally:
        await pool.stop()


EXAMPLE = load_example(TicketFinalizedV1).data
NOW = datetime(2026, 11, 21, 14, 32, 6, tzinfo=UTC)
CONTENT = BasketContent.model_validate({"lines": [], "payments": []})


def later(seconds: int) -> datetime:
    return NOW + timedelta(seconds=seconds)


def ticket(pos_id: uuid.UUID, number: int, **update: Any) -> StoredTicket:
    made = EXAMPLE.model_copy(update={"ticket_id": uuid.uuid4(), "pos_id": pos_id, "number": number, **update})
    return StoredTicket.new(made, later(number))


def event(stored: StoredTicket) -> Envelope[TicketFinalizedV1]:
    return Envelope[TicketFinalizedV1].wrap(stored.ticket, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


async def stored(store: Store, *tickets: StoredTicket) -> None:
    """The tickets, each added and its gaps noted as the use cases do."""
    for t in tickets:
        async with store.work() as work:
            last = await work.tickets.last_number(t.ticket.pos_id)
            assert await work.tickets.add(t)
            await work.tickets.note_gaps(t.ticket.pos_id, gaps_of(t.ticket.number, last), t.received_at)
            await work.commit()


async def open_session(store: Store, pos_id: uuid.UUID) -> SessionState:
    session_id = uuid.uuid4()
    async with store.work() as work:
        await work.sessions.opened(pos_id, session_id, NOW)
        await work.commit()
        state = await work.sessions.of_pos(pos_id)
    assert state is not None
    return state


# tickets


async def test_a_ticket_added_is_found_by_number_and_by_id_as_stored(store: Store) -> None:
    pos = uuid.uuid4()
    first = ticket(pos, 1)
    await stored(store, first)
    async with store.work() as work:
        by_number = await work.tickets.by_number(pos, 1)
        by_id = await work.tickets.by_id(first.ticket.ticket_id, for_update=True)
        assert await work.tickets.by_number(pos, 2) is None
        assert await work.tickets.by_id(uuid.uuid4()) is None
    for found in (by_number, by_id):
        assert found is not None
        assert (found.ticket, found.content_hash, found.received_at) == (
            first.ticket,
            first.content_hash,
            first.received_at,
        )


async def test_a_number_or_an_id_used_already_adds_nothing(store: Store) -> None:
    pos = uuid.uuid4()
    first = ticket(pos, 1)
    await stored(store, first)
    again = ticket(pos, 1)
    same_id = ticket(pos, 2, ticket_id=first.ticket.ticket_id)
    async with store.work() as work:
        assert not await work.tickets.add(again)
        assert not await work.tickets.add(same_id)
        await work.commit()
    async with store.work() as work:
        holder = await work.tickets.by_number(pos, 1)
        assert holder is not None
        assert holder.ticket.ticket_id == first.ticket.ticket_id
        assert await work.tickets.by_number(pos, 2) is None
        assert await work.tickets.by_id(again.ticket.ticket_id) is None


async def test_a_ticket_not_committed_is_not_kept(store: Store) -> None:
    pos = uuid.uuid4()
    async with store.work() as work:
        assert await work.tickets.add(ticket(pos, 1))
    async with store.work() as work:
        assert await work.tickets.by_number(pos, 1) is None
        assert await work.tickets.last_number(pos) is None


async def test_a_savepoint_undone_leaves_the_rest_of_the_unit_of_work_to_be_committed(store: Store) -> None:
    pos = uuid.uuid4()
    first, refused, third = ticket(pos, 1), ticket(pos, 2), ticket(pos, 3)
    kept, dropped = event(first), event(refused)
    where = {"topic": "caisse.ticket.v1", "key": str(pos), "aggregate_type": "ticket"}
    async with store.work() as work:
        async with work.savepoint():
            assert await work.tickets.add(first)
            await work.outbox.add(kept, aggregate_id=str(first.ticket.ticket_id), **where)

        async def refused_after_its_first_writes() -> None:
            async with work.savepoint():
                assert await work.tickets.add(refused)
                await work.outbox.add(dropped, aggregate_id=str(refused.ticket.ticket_id), **where)
                await work.tickets.note_gaps(pos, gaps_of(5, 2), NOW)
                raise LookupError("this sale is refused after its first writes")

        with pytest.raises(LookupError):
            await refused_after_its_first_writes()
        async with work.savepoint():
            assert await work.tickets.add(third)
        await work.commit()
    async with store.work() as work:
        assert await work.tickets.by_number(pos, 1) is not None
        assert await work.tickets.by_number(pos, 2) is None
        assert await work.tickets.by_number(pos, 3) is not None
        assert await work.tickets.open_gaps([pos]) == []
    assert await store.outbox_rows([kept.id, dropped.id]) == [
        OutboxRow.of(kept, aggregate_id=str(first.ticket.ticket_id), **where)
    ]


async def test_the_last_number_is_the_tills_highest(store: Store) -> None:
    pos, other = uuid.uuid4(), uuid.uuid4()
    await stored(store, ticket(pos, 3), ticket(pos, 1), ticket(other, 9))
    async with store.work() as work:
        assert await work.tickets.last_number(pos) == 3
        assert await work.tickets.last_number(other) == 9
        assert await work.tickets.last_number(uuid.uuid4()) is None


async def test_the_credit_notes_of_a_ticket_are_its_own_oldest_first(store: Store) -> None:
    pos = uuid.uuid4()
    sale, other_sale = ticket(pos, 1), ticket(pos, 2)
    notes = [ticket(pos, n, kind=TicketKind.CREDIT_NOTE, original_ticket_id=sale.ticket.ticket_id) for n in (4, 3)]
    elsewhere = ticket(pos, 5, kind=TicketKind.CREDIT_NOTE, original_ticket_id=other_sale.ticket.ticket_id)
    await stored(store, sale, other_sale, *notes, elsewhere)
    async with store.work() as work:
        found = await work.tickets.credit_notes_of(sale.ticket.ticket_id)
        assert await work.tickets.credit_notes_of(uuid.uuid4()) == []
    assert [t.ticket.number for t in found] == [3, 4]


async def test_a_number_opens_the_numbers_it_skips_and_a_late_one_closes_its_gap(store: Store) -> None:
    pos, other = uuid.uuid4(), uuid.uuid4()
    await stored(store, ticket(pos, 2), ticket(pos, 6), ticket(other, 3))
    async with store.work() as work:
        gaps = await work.tickets.open_gaps([pos, other])
    assert [(p, n) for p, n, _ in gaps] == sorted([(pos, 1), (pos, 3), (pos, 4), (pos, 5), (other, 1), (other, 2)])
    assert {at for p, n, at in gaps if p == pos and n > 2} == {later(6)}, "open since the number that skipped them"
    await stored(store, ticket(pos, 4))
    async with store.work() as work:
        assert [n for _, n, _ in await work.tickets.open_gaps([pos])] == [1, 3, 5]
        assert await work.tickets.open_gaps([uuid.uuid4()]) == []


async def test_a_number_read_as_free_and_taken_since_is_no_gap(store: Store) -> None:
    """A sale whose read is older than another process's sale: the numbers it believes skipped are not all free."""
    pos = uuid.uuid4()
    await stored(store, ticket(pos, 1), ticket(pos, 2))
    async with store.work() as work:
        late = ticket(pos, 5)
        assert await work.tickets.add(late)
        await work.tickets.note_gaps(pos, gaps_of(5, 1), late.received_at)  # read before 2 was sold
        await work.commit()
    async with store.work() as work:
        assert [n for _, n, _ in await work.tickets.open_gaps([pos])] == [3, 4]


async def test_a_gap_opened_twice_keeps_its_first_time(store: Store) -> None:
    pos = uuid.uuid4()
    async with store.work() as work:
        await work.tickets.note_gaps(pos, gaps_of(3, None), NOW)
        await work.tickets.note_gaps(pos, gaps_of(4, None), later(1))
        await work.commit()
    async with store.work() as work:
        assert await work.tickets.open_gaps([pos]) == [(pos, 1, NOW), (pos, 2, NOW), (pos, 3, later(1))]


async def test_a_conflict_is_kept_once_per_attempt_and_listed_for_its_till_oldest_first(store: Store) -> None:
    pos, other = uuid.uuid4(), uuid.uuid4()

    def conflict(pos_id: uuid.UUID, number: int, quantity: int, at: datetime) -> TicketConflict:
        attempt = {"lines": [{"line_id": "a", "quantity": quantity}]}
        return TicketConflict(pos_id, number, uuid.uuid4(), uuid.uuid4(), "finalize", attempt, at)

    first, same, second = conflict(pos, 2, 2, later(2)), conflict(pos, 2, 2, later(3)), conflict(pos, 1, 3, later(1))
    async with store.work() as work:
        for kept in (first, same, second, conflict(other, 2, 2, NOW)):
            await work.tickets.keep_conflict(kept)
        await work.commit()
    async with store.work() as work:
        mine = await work.tickets.conflicts([pos])
        assert len(await work.tickets.conflicts([other])) == 1
    assert mine == [second, first]


# sessions


async def test_a_session_opened_is_the_tills_until_a_newer_one_opens(store: Store) -> None:
    pos = uuid.uuid4()
    current = await open_session(store, pos)
    assert (current.is_open, current.closing, current.opened_at) == (True, False, NOW)
    newer, older = uuid.uuid4(), uuid.uuid4()
    async with store.work() as work:
        await work.sessions.opened(pos, newer, later(10))
        await work.sessions.opened(pos, older, later(5))  # a late `session.opened` of an older session
        await work.commit()
    async with store.work() as work:
        state = await work.sessions.of_pos(pos, lock=True)
        assert await work.sessions.of_pos(uuid.uuid4()) is None
    assert state == SessionState(pos, newer, True, later(10))


async def test_a_closing_session_awaits_the_highest_number_and_a_late_open_does_not_reopen_it(store: Store) -> None:
    pos = uuid.uuid4()
    session = await open_session(store, pos)
    await stored(store, ticket(pos, 1, session_id=session.session_id), ticket(pos, 4, session_id=session.session_id))
    async with store.work() as work:
        assert await work.sessions.mark_closing(pos, uuid.uuid4(), 9) is None
        assert await work.sessions.mark_closing(pos, session.session_id, 2) == ClosingMark(True, 4)
        await work.commit()
    async with store.work() as work:
        assert await work.sessions.mark_closing(pos, session.session_id, 3) == ClosingMark(False, 4)
        await work.sessions.opened(pos, session.session_id, NOW)
        await work.commit()
    async with store.work() as work:
        closing = await work.sessions.of_pos(pos)
    assert closing == SessionState(pos, session.session_id, False, NOW, True, 4)
    assert closing.takes(4)
    assert not closing.takes(5)


async def test_a_refused_close_reopens_the_session_and_a_close_ends_it(store: Store) -> None:
    pos = uuid.uuid4()
    session = await open_session(store, pos)
    async with store.work() as work:
        assert await work.sessions.mark_closing(pos, session.session_id, None) == ClosingMark(True, None)
        await work.sessions.reopen(pos, session.session_id)
        await work.commit()
    async with store.work() as work:
        assert await work.sessions.of_pos(pos) == session
        await work.sessions.closed(pos, session.session_id, later(60), 7)
        await work.sessions.reopen(pos, session.session_id)  # only a closing session reopens
        await work.commit()
    async with store.work() as work:
        assert await work.sessions.of_pos(pos) == SessionState(pos, session.session_id, False, NOW)
        assert await work.sessions.mark_closing(pos, session.session_id, 3) == ClosingMark(False, 3)


# baskets and seats


async def test_a_basket_put_is_got_again_and_the_tills_latest_open_one_is_found(store: Store) -> None:
    pos = uuid.uuid4()
    older = StoredBasket(uuid.uuid4(), pos, 1, CONTENT, False, None, NOW)
    newer = StoredBasket(uuid.uuid4(), pos, 2, CONTENT, False, None, later(1))
    async with store.work() as work:
        for basket in (older, newer):
            await work.baskets.put(basket)
        await work.commit()
    async with store.work() as work:
        assert await work.baskets.get(older.id, for_update=True) == older
        assert await work.baskets.open_of_pos(pos) == newer
        ended = StoredBasket(newer.id, pos, 2, CONTENT, True, uuid.uuid4(), later(2))
        await work.baskets.put(ended)
        await work.commit()
    async with store.work() as work:
        assert await work.baskets.get(newer.id) == ended
        assert await work.baskets.open_of_pos(pos) == older
        assert await work.baskets.get(uuid.uuid4()) is None
        assert await work.baskets.open_of_pos(uuid.uuid4()) is None


async def test_seats_are_taken_until_the_event_is_full(store: Store) -> None:
    workshop = uuid.uuid4()
    async with store.work() as work:
        assert await work.seats.left(workshop, 8) == 8
        assert await work.seats.take(workshop, 8, 6) == 2
        assert await work.seats.take(workshop, 8, 3) is None
        assert await work.seats.left(workshop, 8) == 2
        assert await work.seats.left(workshop, 4) == 0, "never below none when the capacity shrinks"
        assert await work.seats.take(workshop, 8, 2) == 0
        await work.commit()


# outbox and inbox


async def test_an_event_queued_is_stored_as_its_outbox_row_once_committed(store: Store) -> None:
    sale = ticket(uuid.uuid4(), 1)
    kept, dropped = event(sale), event(sale)
    where = {"topic": "caisse.ticket.v1", "key": str(sale.ticket.pos_id), "aggregate_type": "ticket"}
    async with store.work() as work:
        await work.outbox.add(kept, aggregate_id=str(sale.ticket.ticket_id), **where)
        await work.commit()
    async with store.work() as work:
        await work.outbox.add(dropped, aggregate_id=str(sale.ticket.ticket_id), **where)
    rows = await store.outbox_rows([kept.id, dropped.id])
    assert rows == [OutboxRow.of(kept, aggregate_id=str(sale.ticket.ticket_id), **where)]


async def test_an_event_is_claimed_once(store: Store) -> None:
    event_id = uuid.uuid4()
    async with store.work() as work:
        assert await work.inbox.claim(event_id, "session.opened")
        await work.commit()
    async with store.work() as work:
        assert not await work.inbox.claim(event_id, "session.opened")


# configuration and credentials


def item(entity_type: EntityType, company_id: uuid.UUID, shop_id: uuid.UUID | None = None, **fields: Any) -> StoredItem:
    return StoredItem(entity_type, uuid.uuid4(), 1, Hierarchy(None, company_id, shop_id, None), {"name": "x", **fields})


async def test_items_put_are_got_and_listed_live_in_the_order_of_their_last_change(store: Store) -> None:
    company, shop = uuid.uuid4(), uuid.uuid4()
    first, second = item(EntityType.PRODUCT, company), item(EntityType.PRODUCT, company, shop)
    gone, other = item(EntityType.PRODUCT, company), item(EntityType.CATEGORY, company)
    changed = StoredItem(first.entity_type, first.id, 2, first.hierarchy, {"name": "y"})
    deleted = StoredItem(gone.entity_type, gone.id, 2, gone.hierarchy, gone.item, deleted=True)
    async with store.work() as work:
        for at, put in enumerate((first, second, gone, other, changed, deleted)):
            await work.config.put(
                put, patch=[{"op": "add", "path": "/name", "value": "x"}], changed_by=None, changed_at=later(at)
            )
        await work.commit()
    async with store.work() as work:
        assert await work.config.get(first.id, for_update=True) == changed
        assert await work.config.get(gone.id) == deleted
        assert await work.config.get(uuid.uuid4()) is None
        assert await work.config.list(EntityType.PRODUCT, company_id=company) == [second, changed]
        assert await work.config.list(EntityType.PRODUCT, shop_id=shop) == [second]
        assert await work.config.list(EntityType.CATEGORY, company_id=company) == [other]


async def test_versions_are_read_from_the_history_as_they_were_and_a_version_never_stored_is_left_out(
    store: Store,
) -> None:
    company = uuid.uuid4()
    product = item(EntityType.PRODUCT, company, price=500)
    repriced = StoredItem(product.entity_type, product.id, 2, product.hierarchy, {**product.item, "price": 600})
    deleted = StoredItem(product.entity_type, product.id, 3, product.hierarchy, repriced.item, deleted=True)
    async with store.work() as work:
        for at, put in enumerate((product, repriced, deleted)):
            await work.config.put(put, patch=[], changed_by=None, changed_at=later(at))
        await work.commit()
    async with store.steps() as work:
        found = await work.config.versions([(product.id, 1), (product.id, 3), (product.id, 4), (uuid.uuid4(), 1)])
    assert sorted(found, key=lambda v: v.version) == [product, deleted]


async def test_the_tickets_matching_a_batch_are_the_tills_numbers_and_the_ids_of_any_till(store: Store) -> None:
    pos, other = uuid.uuid4(), uuid.uuid4()
    first, second, third, elsewhere = ticket(pos, 1), ticket(pos, 2), ticket(pos, 3), ticket(other, 2)
    await stored(store, first, second, third, elsewhere)
    async with store.steps() as work:
        found = await work.tickets.matching(pos, [1, 2, 7], [first.ticket.ticket_id, elsewhere.ticket.ticket_id])
        assert await work.tickets.matching(pos, [], []) == []
    assert sorted((t.ticket.pos_id == pos, t.ticket.number) for t in found) == [(False, 2), (True, 1), (True, 2)]
    assert {t.content_hash for t in found} == {first.content_hash, second.content_hash, elsewhere.content_hash}


async def test_the_generation_moves_with_every_item_and_every_device_secret(store: Store) -> None:
    async with store.work() as work:
        seen = [await work.config.generation()]
        await work.config.put(item(EntityType.COMPANY, uuid.uuid4()), patch=[], changed_by=None, changed_at=NOW)
        seen.append(await work.config.generation())
        await work.credentials.set_device(uuid.uuid4(), f"SER-{uuid.uuid4()}", "digest", NOW)
        seen.append(await work.config.generation())
        await work.commit()
    assert len(set(seen)) == 3


async def test_a_device_is_found_by_its_current_serial_only(store: Store) -> None:
    pos = uuid.uuid4()
    old, new = f"SER-{uuid.uuid4()}", f"SER-{uuid.uuid4()}"
    async with store.work() as work:
        await work.credentials.set_device(pos, old, "one", NOW)
        await work.credentials.set_device(pos, new, "two", later(1))
        await work.commit()
    async with store.work() as work:
        assert await work.credentials.device(new) == DeviceCredential(pos, new, "two")
        assert await work.credentials.device(old) is None


async def test_an_operator_is_found_by_its_current_token_only(store: Store) -> None:
    operator = uuid.uuid4()
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    async with store.work() as work:
        await work.credentials.hold_bootstrap()
        await work.credentials.set_operator_token(operator, old, NOW)
        await work.credentials.set_operator_token(operator, new, later(1))
        await work.commit()
    async with store.work() as work:
        assert await work.credentials.operator_for_token(new) == operator
        assert await work.credentials.operator_for_token(old) is None


async def test_a_pin_counts_its_failures_until_set_again(store: Store) -> None:
    with_token, with_pin = uuid.uuid4(), uuid.uuid4()
    async with store.work() as work:
        await work.credentials.set_operator_token(with_token, uuid.uuid4().hex, NOW)
        await work.credentials.set_pin(with_pin, "hash-1", NOW)
        await work.credentials.pin_tried(with_pin, failed_pins=3, locked_until=later(300))
        await work.credentials.pin_tried(uuid.uuid4(), failed_pins=1, locked_until=None)
        await work.commit()
    async with store.work() as work:
        assert await work.credentials.pin_state(with_token) == PinState(None, 0, None)
        assert await work.credentials.pin_state(with_pin) == PinState("hash-1", 3, later(300))
        assert await work.credentials.pin_state(uuid.uuid4()) is None
        await work.credentials.set_pin(with_pin, "hash-2", later(1))
        await work.commit()
    async with store.work() as work:
        assert await work.credentials.pin_state(with_pin) == PinState("hash-2", 0, None)


async def test_a_companys_paheko_credentials_are_kept_sealed_and_replaced(store: Store) -> None:
    company = uuid.uuid4()
    async with store.work() as work:
        assert not await work.credentials.has_paheko(company)
        await work.credentials.set_paheko(company, "api", "sealed-1", NOW)
        await work.credentials.set_paheko(company, "api2", "sealed-2", later(1))
        await work.commit()
    async with store.work() as work:
        assert await work.credentials.has_paheko(company)
        assert await work.credentials.paheko(company) == ("api2", "sealed-2")
        assert await work.credentials.paheko(uuid.uuid4()) is None


# checkout


def sale(seen: CheckoutView, basket_id: uuid.UUID, pos: uuid.UUID, number: int) -> tuple[StoredTicket, StoredBasket]:
    assert seen.session is not None
    t = ticket(pos, number, ticket_id=basket_id, session_id=seen.session.session_id)
    return t, StoredBasket(
        basket_id, pos, (seen.basket.version if seen.basket else 0) + 1, CONTENT, True, basket_id, NOW
    )


async def record(work: UnitOfWork, stored_ticket: StoredTicket, basket: StoredBasket, seen: CheckoutView) -> bool:
    return await work.checkout.record(stored_ticket, basket, event(stored_ticket), topic="caisse.ticket.v1", seen=seen)


async def test_the_checkout_reads_the_basket_the_holder_of_the_number_the_session_and_the_last_number(
    store: Store,
) -> None:
    pos = uuid.uuid4()
    async with store.work() as work:
        assert await work.checkout.read(uuid.uuid4(), pos, 1) == CheckoutView(None, None, None, None)
    session = await open_session(store, pos)
    basket = StoredBasket(uuid.uuid4(), pos, 3, CONTENT, False, None, NOW)
    holder = ticket(pos, 2, session_id=session.session_id)
    await stored(store, holder)
    async with store.work() as work:
        await work.baskets.put(basket)
        await work.commit()
    async with store.steps() as work:
        seen = await work.checkout.read(basket.id, pos, 2)
    assert (seen.basket, seen.session, seen.last_number) == (basket, session, 2)
    assert seen.holder is not None
    assert seen.holder.ticket == holder.ticket


@pytest.mark.parametrize("mode", ["in a transaction", "statement by statement"])
async def test_a_sale_as_read_stores_its_ticket_gaps_and_event_and_ends_its_basket(store: Store, mode: str) -> None:
    pos = uuid.uuid4()
    await stored(store, ticket(pos, 1, session_id=(await open_session(store, pos)).session_id))
    unit = store.work if mode == "in a transaction" else store.steps
    basket_id = uuid.uuid4()
    async with unit() as work:
        seen = await work.checkout.read(basket_id, pos, 4)
        sold, ended = sale(seen, basket_id, pos, 4)
        announced = event(sold)
        assert await work.checkout.record(sold, ended, announced, topic="caisse.ticket.v1", seen=seen)
        await work.commit()
    async with store.work() as work:
        found = await work.tickets.by_id(basket_id)
        assert found is not None
        assert found.ticket == sold.ticket
        assert await work.baskets.get(basket_id) == ended
        assert [n for _, n, _ in await work.tickets.open_gaps([pos])] == [2, 3]
    row = OutboxRow.of(
        announced,
        topic="caisse.ticket.v1",
        key=str(pos),
        aggregate_type="ticket",
        aggregate_id=str(basket_id),
        data_json=sold.body,
    )
    assert await store.outbox_rows([announced.id]) == [row]


async def test_a_sale_whose_basket_session_or_number_moved_since_its_read_writes_nothing(store: Store) -> None:
    pos = uuid.uuid4()
    session = await open_session(store, pos)
    saved = StoredBasket(uuid.uuid4(), pos, 1, CONTENT, False, None, NOW)
    async with store.steps() as work:
        await work.baskets.put(saved)
        seen_new = await work.checkout.read(uuid.uuid4(), pos, 1)
        seen_saved = await work.checkout.read(saved.id, pos, 1)
        outcomes: dict[str, bool] = {}
        # the basket read as new was saved since, or the saved one is named at another version
        t, b = sale(seen_new, saved.id, pos, 1)
        outcomes["basket saved since"] = await record(work, t, b, seen_new)
        stale = CheckoutView(StoredBasket(saved.id, pos, 2, CONTENT, False, None, NOW), None, session, None)
        t, b = sale(stale, saved.id, pos, 1)
        outcomes["basket at another version"] = await record(work, t, b, stale)
        t, b = sale(seen_saved, uuid.uuid4(), pos, 1)
        other_basket = CheckoutView(saved, None, session, None)
        outcomes["basket never saved, named at a version"] = await record(work, t, b, other_basket)
        # the session was marked closing since the read
        assert await work.sessions.mark_closing(pos, session.session_id, 5) is not None
        t, b = sale(seen_new, uuid.uuid4(), pos, 1)
        outcomes["session closing since"] = await record(work, t, b, seen_new)
        await work.sessions.reopen(pos, session.session_id)
        # the number was taken since
        winner, winner_basket = sale(seen_new, uuid.uuid4(), pos, 1)
        outcomes["as read"] = await record(work, winner, winner_basket, seen_new)
        t, b = sale(seen_new, uuid.uuid4(), pos, 1)
        outcomes["number taken since"] = await record(work, t, b, seen_new)
        t, b = sale(seen_new, winner.ticket.ticket_id, pos, 2)
        outcomes["basket already a ticket"] = await record(work, t, b, seen_new)
        await work.commit()
    assert outcomes == {
        "basket saved since": False,
        "basket at another version": False,
        "basket never saved, named at a version": False,
        "session closing since": False,
        "as read": True,
        "number taken since": False,
        "basket already a ticket": False,
    }
    async with store.work() as work:
        assert await work.baskets.get(saved.id) == saved
        assert await work.tickets.last_number(pos) == 1
        assert await work.tickets.open_gaps([pos]) == []


# stock


def movement(shop: uuid.UUID, product: uuid.UUID, change: int, before: int, **update: Any) -> StockMovement:
    made = StockMovement(
        id=uuid.uuid4(),
        shop_id=shop,
        product_id=product,
        change=change,
        level_before=before,
        level_after=before + change,
        reason=StockReason.DELIVERY,
        document_type=DocumentType.DELIVERY,
        document_id=None,
        document_ref=None,
        pos_id=None,
        moved_by=None,
        moved_at=NOW,
    )
    return dataclasses.replace(made, **update)


async def test_levels_start_at_zero_add_in_the_order_of_the_products_and_are_kept_once_committed(
    store: Store,
) -> None:
    shop = uuid.uuid4()
    a, b = sorted((uuid.uuid4(), uuid.uuid4()))
    async with store.work() as work:
        assert await work.stock.add(shop, [(b, 4), (a, -1)], NOW) == [LevelChange(a, 0, -1), LevelChange(b, 0, 4)]
    async with store.work() as work:
        assert await work.stock.levels(shop) == []  # not committed: not kept
        await work.stock.add(shop, [(b, 4), (a, -1)], NOW)
        await work.commit()
    async with store.work() as work:
        assert await work.stock.add(shop, [(b, -3)], later(1)) == [LevelChange(b, 4, 1)]
        await work.commit()
    async with store.work() as work:
        assert await work.stock.levels(shop) == [StockLevel(shop, a, -1, NOW), StockLevel(shop, b, 1, later(1))]
        assert await work.stock.levels(shop, [b]) == [StockLevel(shop, b, 1, later(1))]
        assert await work.stock.levels(uuid.uuid4()) == []


async def test_levels_held_for_an_inventory_are_read_and_a_new_one_is_zero(store: Store) -> None:
    shop, counted, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with store.work() as work:
        await work.stock.add(shop, [(counted, 7)], NOW)
        await work.commit()
    async with store.work() as work:
        assert await work.stock.hold(shop, [new, counted], later(1)) == {counted: 7, new: 0}
        assert await work.stock.add(shop, [(counted, -2)], later(1)) == [LevelChange(counted, 7, 5)]
        await work.commit()
    async with store.work() as work:
        assert [level.level for level in await work.stock.levels(shop, [counted])] == [5]


async def test_the_rules_are_those_of_the_stock_tracked_products_only(store: Store) -> None:
    company = uuid.uuid4()
    bulb = item(EntityType.PRODUCT, company, stock_tracked=True, stock_threshold=2, stock_refuse_below_zero=True)
    bag = item(EntityType.PRODUCT, company, stock_tracked=True)
    card = item(EntityType.PRODUCT, company, stock_tracked=False)
    async with store.work() as work:
        for put in (bulb, bag, card):
            await work.config.put(
                StoredItem(put.entity_type, put.id, 1, put.hierarchy, {**put.item, "id": str(put.id)}),
                patch=[],
                changed_by=None,
                changed_at=NOW,
            )
        await work.commit()
    async with store.work() as work:
        assert await work.stock.rules([bulb.id, bag.id, card.id, uuid.uuid4()]) == {
            bulb.id: StockRule(bulb.id, "x", 2, True),
            bag.id: StockRule(bag.id, "x", None, False),
        }


async def test_movements_are_kept_once_and_listed_newest_first_by_filter_and_cursor(store: Store) -> None:
    shop, bulb, bag, document = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = movement(shop, bulb, 5, 0, document_id=document, document_ref="BL-1")
    second = movement(shop, bag, 2, 0, document_id=document, document_ref="BL-1")
    sale = movement(
        shop,
        bulb,
        -1,
        5,
        reason=StockReason.SALE,
        document_type=DocumentType.TICKET,
        document_id=uuid.uuid4(),
        document_ref="Caisse 1/000001",
        pos_id=uuid.uuid4(),
        moved_by=uuid.uuid4(),
        moved_at=later(60),
    )
    async with store.work() as work:
        await work.stock.record([first, second])
        await work.commit()
    async with store.work() as work:
        await work.stock.record([sale, first])  # `first` again: kept once
        await work.commit()
    async with store.work() as work:
        everything = await work.stock.movements(shop, MovementFilter(), before_seq=None, limit=10)
        assert [dataclasses.replace(m, seq=None) for m in everything] == [sale, second, first]
        seqs = [m.seq or 0 for m in everything]
        assert seqs == sorted(seqs, reverse=True)
        assert 0 not in seqs
        [page] = await work.stock.movements(shop, MovementFilter(), before_seq=None, limit=1)
        rest = await work.stock.movements(shop, MovementFilter(), before_seq=page.seq, limit=10)
        assert [m.id for m in rest] == [second.id, first.id]
        of_bulb = await work.stock.movements(shop, MovementFilter(product_id=bulb), before_seq=None, limit=10)
        assert [m.id for m in of_bulb] == [sale.id, first.id]
        sales = await work.stock.movements(shop, MovementFilter(reason="sale"), before_seq=None, limit=10)
        assert [m.id for m in sales] == [sale.id]
        of_document = await work.stock.movements(shop, MovementFilter(document_id=document), before_seq=None, limit=10)
        assert {m.id for m in of_document} == {first.id, second.id}
        window = MovementFilter(since=later(60), until=later(61))
        assert [m.id for m in await work.stock.movements(shop, window, before_seq=None, limit=10)] == [sale.id]
        before = MovementFilter(until=later(60))
        assert len(await work.stock.movements(shop, before, before_seq=None, limit=10)) == 2
        assert [m.id for m in await work.stock.document_movements(document)] == [first.id, second.id]
        assert await work.stock.movements(uuid.uuid4(), MovementFilter(), before_seq=None, limit=10) == []


async def test_a_stock_document_is_kept_once_under_its_id(store: Store) -> None:
    document = StockDocument(uuid.uuid4(), uuid.uuid4(), "delivery", "delivery", "BL-1", None, "abc", None, NOW)
    async with store.work() as work:
        assert await work.stock.claim_document(document) is None
    async with store.work() as work:  # not committed: not kept
        assert await work.stock.claim_document(document) is None
        await work.commit()
    async with store.work() as work:
        other = dataclasses.replace(document, content_sha256="def", reference="BL-2")
        assert await work.stock.claim_document(other) == document


@pytest.mark.integration
async def test_two_sales_of_the_same_products_in_opposite_orders_wait_for_each_other_and_lose_no_unit(
    database: tuple[Infra, str],
) -> None:
    """PostgreSQL only: the fakes never run two units of work at once. The second sale waits for the first to
    commit and adds to what it left; its other order takes the locks in the same order, so neither waits in a
    circle (PostgreSQL would abort one as a deadlock)."""
    infra, name = database
    pool = SqlPool(infra.dsn(name), size=3)
    await pool.start()
    shop = uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    try:
        async with pool.work() as work:
            await work.stock.add(shop, [(a, 10), (b, 10)], NOW)
            await work.commit()
        first = pool.work()
        await first.__aenter__()
        await first.stock.add(shop, [(a, -1), (b, -2)], NOW)
        second_done = asyncio.Event()

        async def second_sale() -> list[LevelChange]:
            async with pool.work() as work:
                moved = await work.stock.add(shop, [(b, -3), (a, -4)], NOW)
                await work.commit()
            second_done.set()
            return moved

        second = asyncio.create_task(second_sale())
        with pytest.raises(TimeoutError):  # it waits for the first sale's locks
            await asyncio.wait_for(asyncio.shield(second_done.wait()), 0.5)
        await first.commit()
        await first.__aexit__(None, None, None)
        moved = await asyncio.wait_for(second, 10)
        assert sorted(moved, key=lambda m: m.product_id) == sorted(
            [LevelChange(a, 9, 5), LevelChange(b, 8, 5)], key=lambda m: m.product_id
        )
    finally:
        await pool.stop()


async def test_the_last_numbers_of_several_tills_are_read_at_once_and_a_till_without_tickets_has_none(
    store: Store,
) -> None:
    busy, other, idle = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await stored(store, ticket(busy, 1), ticket(busy, 4), ticket(other, 2))
    async with store.work() as work:
        assert await work.tickets.last_numbers([busy, other, idle]) == {busy: 4, other: 2}


async def test_a_till_report_is_replaced_by_a_newer_one_only(store: Store) -> None:
    pos_id = uuid.uuid4()
    newer = TillReport(reported_at=later(60), local_last_number=7, pending=2)
    older = TillReport(reported_at=later(30), local_last_number=5, number_clash="clash")
    async with store.work() as work:
        assert await work.till_reports.save(pos_id, newer, later(61))
        assert not await work.till_reports.save(pos_id, older, later(62))
        await work.commit()
    async with store.work() as work:
        [kept] = await work.till_reports.of([pos_id, uuid.uuid4()])
    assert (kept.pos_id, kept.report, kept.received_at) == (pos_id, newer, later(61))


async def test_a_numbering_release_is_kept_once_and_the_latest_is_the_one_for_the_highest_number(
    store: Store,
) -> None:
    pos_id, by = uuid.uuid4(), uuid.uuid4()
    first = NumberingRelease(pos_id=pos_id, resume_after=5, reason="restored", released_by=by, released_at=later(1))
    async with store.work() as work:
        assert await work.till_reports.release(first) == first
        again = first.model_copy(update={"reason": "again", "released_at": later(2)})
        assert await work.till_reports.release(again) == first, "the release given stands"
        second = first.model_copy(update={"resume_after": 9, "released_at": later(3)})
        assert await work.till_reports.release(second) == second
        await work.commit()
    async with store.work() as work:
        assert await work.till_reports.last_releases([pos_id, uuid.uuid4()]) == {pos_id: second}
