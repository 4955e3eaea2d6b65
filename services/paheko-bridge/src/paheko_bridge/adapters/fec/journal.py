"""The FEC journal on disk: entries stored and indexed in PostgreSQL, appended to one file per company and year.

Why a table and a file rather than the file alone: the number of an entry and the record that its source (a
ticket, a session's variance) was booked must change together, or a crash between them would either skip a
number or book a ticket twice. PostgreSQL gives that in one transaction (`fec_entries`, migration 0002), under
an advisory lock per company and fiscal year that also serialises every writer of that year — other coroutines,
other replicas — while the use case reads the year's end, numbers its entries and adds them. The file is then
written from the table, in number order: it is always a prefix of the table, so whatever a crash interrupts, the
next block of the year (or `write_out`) completes it (`adapters.fec.file`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import asyncpg

from caisse_runtime.pg import HotPool
from paheko_bridge.adapters.fec.file import FecFileMismatchError, append, encode, open_tail
from paheko_bridge.domain import fec
from paheko_bridge.domain.fec import BookedEntry, FecBooks, FecSource, FiscalYear, JournalEnd, NumberedEntry, SourceKind

LOCK_SQL: Final = "select pg_advisory_xact_lock(hashtextextended($1, 0))"

BOOKED_SQL: Final = """
select source_kind, source_id, number, entry_date from fec_entries
where company_id = $1 and (source_kind, source_id) in (select * from unnest($2::text[], $3::uuid[]))
"""
"""All three columns of the unique index, so that PostgreSQL looks each source up."""

END_SQL: Final = """
select number, valid_date from fec_entries
where company_id = $1 and fiscal_year_end = $2 order by number desc limit 1
"""
"""The year's last entry, read down its primary key: numbers follow validation, so the last entry also holds the
latest ValidDate, and the read costs the same on the year's last day."""

ADD_SQL: Final = """
insert into fec_entries (company_id, fiscal_year_end, number, source_kind, source_id, entry_date, valid_date, lines)
select $1, $2, r.* from unnest($3::integer[], $4::text[], $5::uuid[], $6::date[], $7::date[], $8::text[]) as r
"""

LINES_FROM_SQL: Final = """
select number, lines from fec_entries
where company_id = $1 and fiscal_year_end = $2 and number >= $3 order by number
"""


class PgFecYear:
    """`FecYearJournal` on the connection of one transaction that holds the year's lock."""

    def __init__(self, conn: asyncpg.Connection, books: FecBooks, year: FiscalYear) -> None:
        self._conn = conn
        self._company = books.company_id
        self._year_end = year.end

    async def booked(self, sources: Sequence[FecSource]) -> dict[FecSource, BookedEntry]:
        rows = await self._conn.fetch(
            BOOKED_SQL, self._company, [kind.value for kind, _ in sources], [source for _, source in sources]
        )
        return {(SourceKind(r["source_kind"]), r["source_id"]): BookedEntry(r["number"], r["entry_date"]) for r in rows}

    async def end(self) -> JournalEnd | None:
        row = await self._conn.fetchrow(END_SQL, self._company, self._year_end)
        return JournalEnd(row["number"], row["valid_date"]) if row is not None else None

    async def add(self, entries: Sequence[NumberedEntry]) -> None:
        # One statement for the batch, whatever its size.
        await self._conn.execute(
            ADD_SQL,
            self._company,
            self._year_end,
            [e.number for e in entries],
            [e.entry.source_kind.value for e in entries],
            [e.entry.source_id for e in entries],
            [e.entry.entry_date for e in entries],
            [e.entry.valid_date for e in entries],
            [e.text for e in entries],
        )


class FecFileJournal:
    """`FecJournal` on PostgreSQL (entries, index) and files under `directory/<company id>/<SIREN>FEC<end>.txt`."""

    def __init__(self, pool: HotPool, directory: Path) -> None:
        self._pool = pool
        self._directory = directory

    def path_of(self, books: FecBooks, year: FiscalYear) -> Path:
        return self._directory / str(books.company_id) / fec.fec_file_name(books, year)

    @staticmethod
    async def _lock(conn: asyncpg.Connection, books: FecBooks, year: FiscalYear) -> None:
        await conn.execute(LOCK_SQL, f"fec:{books.company_id}:{year.end.isoformat()}")

    @asynccontextmanager
    async def year(self, books: FecBooks, year: FiscalYear) -> AsyncIterator[PgFecYear]:
        async with self._pool.opened().acquire() as conn, conn.transaction():
            await self._lock(conn, books, year)
            yield PgFecYear(conn, books, year)
        # Written after the commit, on a replay too: a crash between the two is completed by the next block.
        await self.write_out(books, year)

    async def write_out(self, books: FecBooks, year: FiscalYear) -> Path:
        """Bring the company's file of `year` up to date with the table; returns its path."""
        path = self.path_of(books, year)
        async with self._pool.opened().acquire() as conn, conn.transaction():
            await self._lock(conn, books, year)
            tail = await asyncio.to_thread(open_tail, path)
            rows = await conn.fetch(LINES_FROM_SQL, books.company_id, year.end, max(tail.last_number, 1))
            stored = {row["number"]: encode(row["lines"]) for row in rows}
            missing = [stored[number] for number in sorted(stored) if number > tail.last_number]
            if tail.last_number:
                last = stored.get(tail.last_number, b"")
                if not last.startswith(tail.last_entry):
                    raise FecFileMismatchError(path, tail.last_number)
                # A crash cut the entry after one of its lines: its other lines follow, nothing is rewritten.
                rest = last[len(tail.last_entry) :]
                if rest:
                    missing.insert(0, rest)
            if missing:
                await asyncio.to_thread(append, path, missing)
        return path
