"""Use cases of a company without Paheko: book a finalized ticket, a closed session's variance or its confirmed bank
deposit into its FEC.

The bridge's consumer calls `book_ticket_to_fec` for each `ticket.finalized` and `book_session_close_to_fec`
for each `session.closed` of a company that has no Paheko configured. Both are idempotent: a replayed event
answers `ALREADY_BOOKED` with the entry's number and writes nothing. A `FecError` is not worth a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from caisse_contracts.events.sessions import SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.events.tickets import TicketFinalizedV1
from paheko_bridge.domain.fec import FecBooks, FecEntry, deposit_entry, session_variance_entry, ticket_entry


class FecBookingStatus(StrEnum):
    BOOKED = "booked"
    ALREADY_BOOKED = "already_booked"
    NOTHING_TO_BOOK = "nothing_to_book"
    """The event moves no money (a session whose count matched, a ticket of zero): the FEC gets no entry."""


@dataclass(frozen=True, slots=True)
class FecBooking:
    """What became of an event: its EcritureNum in its company's FEC of the year, unless there was nothing to book."""

    status: FecBookingStatus
    number: int | None = None
    file_name: str | None = None


class FecJournal(Protocol):
    """The FEC files of the companies without Paheko: numbered, append-only, one entry per source at most."""

    async def append(self, entry: FecEntry, books: FecBooks) -> FecBooking:
        """Give `entry` the next EcritureNum of its company's fiscal year and append it to that year's file.

        When an entry of the same source (`entry.source_kind`, `entry.source_id`) was appended before, append
        nothing and answer `ALREADY_BOOKED` with that entry's number. Once this returns, the entry is durable.
        """
        ...

    async def append_many(self, entries: Sequence[FecEntry], books: FecBooks) -> list[FecBooking]:
        """`append` for several entries of one company, in order, at the cost of one."""
        ...


async def book_tickets_to_fec(
    tickets: Sequence[TicketFinalizedV1], books: FecBooks, journal: FecJournal, now: datetime
) -> list[FecBooking]:
    """Book several finalized tickets of one company, in order: one entry each, written together."""
    entries = [ticket_entry(ticket, books, now) for ticket in tickets]
    kept = [entry for entry in entries if entry.lines]
    booked = iter(await journal.append_many(kept, books) if kept else [])
    return [next(booked) if entry.lines else FecBooking(FecBookingStatus.NOTHING_TO_BOOK) for entry in entries]


async def book_ticket_to_fec(
    ticket: TicketFinalizedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book one finalized ticket (sale or credit note) as one balanced FEC entry, validated `now` (aware)."""
    entry = ticket_entry(ticket, books, now)
    if not entry.lines:
        return FecBooking(FecBookingStatus.NOTHING_TO_BOOK)
    return await journal.append(entry, books)


async def book_session_close_to_fec(
    closed: SessionClosedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book a closed session's cash variance, validated `now` (aware); its tickets are booked one by one."""
    entry = session_variance_entry(closed, books, now)
    if not entry.lines:
        return FecBooking(FecBookingStatus.NOTHING_TO_BOOK)
    return await journal.append(entry, books)


async def book_deposit_to_fec(
    deposit: SessionDepositConfirmedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book a session's confirmed bank deposit on its day (bank debit; cash and cheques credit), validated `now`."""
    entry = deposit_entry(deposit, books, now)
    if not entry.lines:
        return FecBooking(FecBookingStatus.NOTHING_TO_BOOK)
    return await journal.append(entry, books)
