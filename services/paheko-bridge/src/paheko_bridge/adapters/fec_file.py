"""The FEC journal on disk: entries numbered and indexed in PostgreSQL, appended to one file per company and year.

Why a table and a file rather than the file alone: the number of an entry and the record that its source (a
ticket, a session's variance) was booked must change together, or a crash between them would either skip a
number or book a ticket twice. PostgreSQL gives that in one transaction (`fec_entries`, migration 0002), under
an advisory lock per company and fiscal year that also serialises every writer of that year — other coroutines,
other replicas. The file is then written from the table, in number order: it is always a prefix of the table,
so whatever a crash interrupts, the next append (or `write_out`) completes it.

Crash safety of the file: each entry is written with one `write` and then `fsync`ed. On opening, a trailing
partial line is cut off, and the last entry is compared byte for byte with the table: if a crash left only its
first lines, its other lines are appended. Nothing complete is ever rewritten, so the file only grows; a file
whose last entry is not the table's is refused (`FecFileMismatchError`) rather than patched.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from paheko_bridge.domain.fec import (
    FEC_ENCODING,
    FEC_HEADER,
    FEC_SEPARATOR,
    FecBooks,
    FecEntry,
    FecError,
    FiscalYear,
    fec_file_name,
    fiscal_year_containing,
    render_entry,
    validated_after,
)
from paheko_bridge.service_layer.fec import FecBooking, FecBookingStatus

_TAIL_BYTES: Final = 1 << 20
"""How far back from the end the last entry is looked for: far more than the few lines of one ticket."""
_NUMBER_FIELD: Final = 2


class FecFileMismatchError(FecError):
    """The file's last entry is not (the beginning of) the one the database holds under its number: the file
    belongs to another database (a restored backup?) or was edited. Nothing is written to it."""

    def __init__(self, path: Path, number: int) -> None:
        super().__init__(f"entry {number} of {path} differs from the database's")
        self.path = path
        self.number = number


@dataclass(frozen=True, slots=True)
class _Tail:
    last_number: int
    """EcritureNum of the file's last entry; 0 when the file has only its header."""
    last_entry: bytes
    """The complete lines of that entry, as on disk."""


def _encode(lines: str) -> bytes:
    return lines.encode(FEC_ENCODING, errors="replace")


def _sync_directory(directory: Path) -> None:
    # A new file's name survives a power cut only once its directory is on disk too.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _open_tail(path: Path) -> _Tail:
    """Make `path` exist with its header, cut a trailing partial line, and find its last entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a+b") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - _TAIL_BYTES)
        file.seek(start)
        tail = file.read()
        complete = tail.rfind(b"\n") + 1
        if start + complete != size:
            file.truncate(start + complete)
            size = start + complete
            tail = tail[:complete]
        if size == 0:
            # A new file, or one cut short inside its header: the header again, alone.
            tail = _encode(FEC_HEADER)
            file.write(tail)
        file.flush()
        os.fsync(file.fileno())
    if created:
        _sync_directory(path.parent)

    lines = tail.splitlines(keepends=True)
    if start > 0:
        lines = lines[1:]  # the chunk may start inside a line
    last_number = 0
    entry_start = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        fields = lines[index].decode(FEC_ENCODING).split(FEC_SEPARATOR)
        number_field = fields[_NUMBER_FIELD] if len(fields) > _NUMBER_FIELD else ""
        if not number_field.isdigit():
            break  # the header
        if last_number and int(number_field) != last_number:
            break
        last_number = int(number_field)
        entry_start = index
    return _Tail(last_number, b"".join(lines[entry_start:]))


def _append(path: Path, entries: list[bytes]) -> None:
    # One write and one fsync for the lot: a crash can only cut the last entry, which the next open completes.
    with path.open("ab") as file:
        file.write(b"".join(entries))
        file.flush()
        os.fsync(file.fileno())


_UNNESTED: Final = {
    "numbers": "number",
    "kinds": "kind",
    "sources": "source",
    "entry_dates": "entry_date",
    "valid_dates": "valid_date",
    "lines": "lines",
}
"""The array parameter of each column of a batch of `fec_entries` rows, in the table's column order."""


class FecFileJournal:
    """`FecJournal` on PostgreSQL (numbers, index) and files under `directory/<company id>/<SIREN>FEC<end>.txt`."""

    def __init__(self, engine: AsyncEngine, directory: Path) -> None:
        self._engine = engine
        self._directory = directory

    def path_of(self, books: FecBooks, year: FiscalYear) -> Path:
        return self._directory / str(books.company_id) / fec_file_name(books, year)

    @staticmethod
    async def _lock(conn: AsyncConnection, books: FecBooks, year_end: date) -> None:
        await conn.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"fec:{books.company_id}:{year_end.isoformat()}"},
        )

    async def append(self, entry: FecEntry, books: FecBooks) -> FecBooking:
        [booking] = await self.append_many([entry], books)
        return booking

    async def append_many(self, entries: Sequence[FecEntry], books: FecBooks) -> list[FecBooking]:
        """`append` for several entries of one company: one transaction per fiscal year, one write of the file."""
        bookings: dict[int, FecBooking] = {}
        by_year: dict[FiscalYear, list[tuple[int, FecEntry]]] = {}
        for i, entry in enumerate(entries):
            by_year.setdefault(entry.fiscal_year(books.fiscal_year_end_month), []).append((i, entry))
        touched: set[FiscalYear] = set()
        for year, numbered in by_year.items():
            async with self._engine.begin() as conn:
                await self._lock(conn, books, year.end)
                for i, (booking, booked_year) in zip(
                    (i for i, _ in numbered),
                    await self._book_many(conn, [e for _, e in numbered], books, year),
                    strict=True,
                ):
                    bookings[i] = booking
                    touched.add(booked_year)
        # Written after the commit, on a replay too: a crash between the two is completed by the next call.
        for year in touched:
            await self.write_out(books, year)
        return [bookings[i] for i in range(len(entries))]

    async def _book_many(
        self, conn: AsyncConnection, entries: list[FecEntry], books: FecBooks, year: FiscalYear
    ) -> list[tuple[FecBooking, FiscalYear]]:
        """Number the entries not booked yet after the year's last one and insert them: three statements in all."""
        earlier = {
            (row.source_kind, row.source_id): row
            for row in await conn.execute(
                text(
                    "select source_kind, source_id, number, entry_date from fec_entries"
                    # all three columns of the unique index, so that PostgreSQL looks each source up
                    " where company_id = :company and (source_kind, source_id) in"
                    " (select * from unnest(cast(:kinds as text[]), cast(:sources as uuid[])))"
                ),
                {
                    "company": books.company_id,
                    "kinds": [e.source_kind.value for e in entries],
                    "sources": [e.source_id for e in entries],
                },
            )
        }
        # The year's last entry, read down its primary key: numbers follow validation (`validated_after`), so
        # the last entry also holds the latest ValidDate, and the read costs the same on the year's last day.
        last = (
            await conn.execute(
                text(
                    "select number, valid_date from fec_entries"
                    " where company_id = :company and fiscal_year_end = :year_end order by number desc limit 1"
                ),
                {"company": books.company_id, "year_end": year.end},
            )
        ).one_or_none()
        number, latest = (int(last.number) + 1, last.valid_date) if last is not None else (1, None)
        done: list[tuple[FecBooking, FiscalYear]] = []
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, Any], tuple[FecBooking, FiscalYear]] = {}
        for entry in entries:
            key = (entry.source_kind.value, entry.source_id)
            if (known := earlier.get(key)) is not None:
                booked_year = fiscal_year_containing(known.entry_date, books.fiscal_year_end_month)
                done.append(
                    (
                        FecBooking(
                            FecBookingStatus.ALREADY_BOOKED, known.number, self.path_of(books, booked_year).name
                        ),
                        booked_year,
                    )
                )
                continue
            if key in seen:  # the same source twice in one batch: booked once
                done.append(seen[key])
                continue
            validated = validated_after(entry, latest)
            latest = validated.valid_date
            rows.append(
                {
                    "number": number,
                    "kind": validated.source_kind.value,
                    "source": validated.source_id,
                    "entry_date": validated.entry_date,
                    "valid_date": validated.valid_date,
                    "lines": render_entry(validated, number),
                }
            )
            seen[key] = (FecBooking(FecBookingStatus.BOOKED, number, self.path_of(books, year).name), year)
            done.append(seen[key])
            number += 1
        if rows:  # one statement for the batch, whatever its size
            await conn.execute(
                text(
                    "insert into fec_entries"
                    " (company_id, fiscal_year_end, number, source_kind, source_id, entry_date, valid_date, lines)"
                    " select :company, :year_end, r.* from unnest(cast(:numbers as integer[]), cast(:kinds as text[]),"
                    " cast(:sources as uuid[]), cast(:entry_dates as date[]), cast(:valid_dates as date[]),"
                    " cast(:lines as text[])) as r"
                ),
                {
                    "company": books.company_id,
                    "year_end": year.end,
                    **{column: [row[key] for row in rows] for column, key in _UNNESTED.items()},
                },
            )
        return done

    async def write_out(self, books: FecBooks, year: FiscalYear) -> Path:
        """Bring the company's file of `year` up to date with the table; returns its path."""
        path = self.path_of(books, year)
        async with self._engine.begin() as conn:
            await self._lock(conn, books, year.end)
            tail = await asyncio.to_thread(_open_tail, path)
            rows = (
                await conn.execute(
                    text(
                        "select number, lines from fec_entries"
                        " where company_id = :company and fiscal_year_end = :year_end and number >= :from_number"
                        " order by number"
                    ),
                    {"company": books.company_id, "year_end": year.end, "from_number": max(tail.last_number, 1)},
                )
            ).all()
            stored = {row.number: _encode(row.lines) for row in rows}
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
                await asyncio.to_thread(_append, path, missing)
        return path
