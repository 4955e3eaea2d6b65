"""The `FecJournal` port, alike in memory and on PostgreSQL: it stores the numbered entries it is given, answers a
year's last entry and which sources the company booked, and keeps nothing of a block that fails."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from bridge_stores import Store, database_fixture, infra_fixture, store_fixture  # noqa: F401 - the fixtures

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from paheko_bridge.domain.fec import (
    BookedEntry,
    FecBooks,
    FecEntry,
    FiscalYear,
    JournalEnd,
    NumberedEntry,
    SourceKind,
    render_entry,
    ticket_entry,
)

YEAR_2026 = FiscalYear(date(2026, 1, 1), date(2026, 12, 31))
YEAR_2027 = FiscalYear(date(2027, 1, 1), date(2027, 12, 31))
NOW = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)


class BlockFailedError(Exception):
    """What interrupts a block in these tests."""


def entry(books: FecBooks, on: date = date(2026, 11, 21)) -> FecEntry:
    sold = load_example(TicketFinalizedV1).data.model_copy(
        update={"ticket_id": uuid.uuid4(), "company_id": books.company_id, "local_date": on}
    )
    return ticket_entry(sold, books, NOW)


def numbered(number: int, made: FecEntry) -> NumberedEntry:
    return NumberedEntry(number, made, render_entry(made, number))


async def test_a_year_s_end_is_its_last_entry_stored(store: Store) -> None:
    books = FecBooks(company_id=uuid.uuid4())
    one, two = entry(books), entry(books)

    async with store.journal.year(books, YEAR_2026) as year:
        assert await year.end() is None
        await year.add([numbered(1, one), numbered(2, two)])
    async with store.journal.year(books, YEAR_2026) as year:
        end = await year.end()
    async with store.journal.year(books, YEAR_2027) as year:
        other_year = await year.end()

    assert end == JournalEnd(2, two.valid_date)
    assert other_year is None


async def test_booked_answers_the_company_s_entries_of_any_year_for_the_sources_asked(store: Store) -> None:
    books, other = FecBooks(company_id=uuid.uuid4()), FecBooks(company_id=uuid.uuid4())
    last_year, this_year, not_asked = entry(books, date(2026, 12, 31)), entry(books, date(2027, 1, 2)), entry(books)
    async with store.journal.year(books, YEAR_2026) as year:
        await year.add([numbered(1, last_year), numbered(2, not_asked)])
    async with store.journal.year(books, YEAR_2027) as year:
        await year.add([numbered(1, this_year)])

    unknown = (SourceKind.TICKET, uuid.uuid4())
    async with store.journal.year(books, YEAR_2027) as year:
        found = await year.booked([last_year.source, this_year.source, unknown])
    async with store.journal.year(other, YEAR_2027) as year:
        elsewhere = await year.booked([last_year.source])

    assert found == {
        last_year.source: BookedEntry(1, date(2026, 12, 31)),
        this_year.source: BookedEntry(1, date(2027, 1, 2)),
    }
    assert elsewhere == {}


async def test_a_block_that_fails_keeps_nothing_of_what_it_added(store: Store) -> None:
    books = FecBooks(company_id=uuid.uuid4())
    lost = entry(books)

    async def interrupted() -> None:
        async with store.journal.year(books, YEAR_2026) as year:
            await year.add([numbered(1, lost)])
            raise BlockFailedError

    with pytest.raises(BlockFailedError):
        await interrupted()

    async with store.journal.year(books, YEAR_2026) as year:
        assert await year.end() is None
        assert await year.booked([lost.source]) == {}
