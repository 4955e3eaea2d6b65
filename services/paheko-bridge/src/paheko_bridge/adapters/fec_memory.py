"""An in-memory `FecJournal` for tests: the same numbering and idempotency as the file journal, kept in a dict."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from paheko_bridge.domain.fec import (
    FEC_HEADER,
    FecBooks,
    FecEntry,
    SourceKind,
    fec_file_name,
    render_entry,
    validated_after,
)
from paheko_bridge.service_layer.fec import FecBooking, FecBookingStatus


class InMemoryFecJournal:
    """FEC texts by file name; `text(name)` is what the file journal would have written."""

    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}
        self._booked: dict[tuple[UUID, SourceKind, UUID], FecBooking] = {}
        self._latest_validation: dict[str, date] = {}

    async def append(self, entry: FecEntry, books: FecBooks) -> FecBooking:
        key = (entry.company_id, entry.source_kind, entry.source_id)
        earlier = self._booked.get(key)
        if earlier is not None:
            return FecBooking(FecBookingStatus.ALREADY_BOOKED, earlier.number, earlier.file_name)
        name = fec_file_name(books, entry.fiscal_year(books.fiscal_year_end_month))
        entries = self.files.setdefault(name, [])
        number = len(entries) + 1
        entry = validated_after(entry, self._latest_validation.get(name))
        self._latest_validation[name] = entry.valid_date
        entries.append(render_entry(entry, number))
        booking = FecBooking(FecBookingStatus.BOOKED, number, name)
        self._booked[key] = booking
        return booking

    async def append_many(self, entries: Sequence[FecEntry], books: FecBooks) -> list[FecBooking]:
        return [await self.append(entry, books) for entry in entries]

    def text(self, file_name: str) -> str:
        return FEC_HEADER + "".join(self.files.get(file_name, []))
