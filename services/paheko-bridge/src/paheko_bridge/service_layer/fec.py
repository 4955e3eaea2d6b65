"""Book into the FEC journal of a company without Paheko: a finalized ticket, a closed session's variance, a
confirmed bank deposit, each as one numbered entry of its fiscal year.

The domain makes the entries (`ticket_entry` and its siblings) and numbers them (`number_entries`: each source
once, no gap, in the order of validation); the journal (`FecJournal`) only stores them, one company and fiscal year
at a time. Booking is idempotent: a replayed event answers `ALREADY_BOOKED` with its entry's number and writes
nothing. A `FecError` is not worth a retry: the forwarder's callers (`book_*_for`) turn it into a refusal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from caisse_contracts.events.sessions import SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.events.tickets import TicketFinalizedV1
from paheko_bridge.domain.fec import (
    FecBooks,
    FecEntry,
    FecError,
    FiscalYear,
    deposit_entry,
    fec_file_name,
    number_entries,
    session_variance_entry,
    ticket_entry,
)
from paheko_bridge.service_layer.ports import FecJournal, TargetRejectedError
from paheko_bridge.service_layer.services import BridgeServices


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


async def book_tickets_to_fec(
    tickets: Sequence[TicketFinalizedV1], books: FecBooks, journal: FecJournal, now: datetime
) -> list[FecBooking]:
    """Book several finalized tickets of one company, in order: one entry each, written together."""
    return await _book([ticket_entry(ticket, books, now) for ticket in tickets], books, journal)


async def book_ticket_to_fec(
    ticket: TicketFinalizedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book one finalized ticket (sale or credit note) as one balanced FEC entry, validated `now` (aware)."""
    [booking] = await _book([ticket_entry(ticket, books, now)], books, journal)
    return booking


async def book_session_close_to_fec(
    closed: SessionClosedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book a closed session's cash variance, validated `now` (aware); its tickets are booked one by one."""
    [booking] = await _book([session_variance_entry(closed, books, now)], books, journal)
    return booking


async def book_deposit_to_fec(
    deposit: SessionDepositConfirmedV1, books: FecBooks, journal: FecJournal, now: datetime
) -> FecBooking:
    """Book a session's confirmed bank deposit on its day (bank debit; cash and cheques credit), validated `now`."""
    [booking] = await _book([deposit_entry(deposit, books, now)], books, journal)
    return booking


async def _book(entries: Sequence[FecEntry], books: FecBooks, journal: FecJournal) -> list[FecBooking]:
    """Number and store the entries that move money, one fiscal year at a time (each year in its own block, so
    that one writer at a time numbers it)."""
    bookings = [FecBooking(FecBookingStatus.NOTHING_TO_BOOK)] * len(entries)
    by_year: dict[FiscalYear, list[int]] = {}
    for i, entry in enumerate(entries):
        if entry.lines:
            by_year.setdefault(entry.fiscal_year(books.fiscal_year_end_month), []).append(i)
    for year, indexes in by_year.items():
        of_year = [entries[i] for i in indexes]
        async with journal.year(books, year) as held:
            numbering = number_entries(
                of_year,
                year,
                end_month=books.fiscal_year_end_month,
                booked=await held.booked([entry.source for entry in of_year]),
                end=await held.end(),
            )
            if numbering.new:
                await held.add(numbering.new)
        for i, place in zip(indexes, numbering.places, strict=True):
            status = FecBookingStatus.BOOKED if place.new else FecBookingStatus.ALREADY_BOOKED
            bookings[i] = FecBooking(status, place.number, fec_file_name(books, place.year))
    return bookings


@contextmanager
def _refused_by_the_fec() -> Iterator[None]:
    """An entry the FEC's rules refuse is a `TargetRejectedError`: the event is dead-lettered with the reason."""
    try:
        yield
    except FecError as exc:
        raise TargetRejectedError(f"FEC: {exc}") from exc


async def book_tickets_for(tickets: Sequence[TicketFinalizedV1], services: BridgeServices) -> None:
    """The forwarder's booking of tickets of one company without Paheko: refused by the FEC's rules, a
    `TargetRejectedError`; books not known yet, a `TargetUnavailableError` (retried)."""
    if not tickets:
        return
    books = await services.targets.fec_books(tickets[0].company_id)
    with _refused_by_the_fec():
        await book_tickets_to_fec(tickets, books, services.fec, services.clock())


async def book_close_for(closed: SessionClosedV1, services: BridgeServices) -> None:
    """`book_tickets_for` for a closed session's variance."""
    books = await services.targets.fec_books(closed.company_id)
    with _refused_by_the_fec():
        await book_session_close_to_fec(closed, books, services.fec, services.clock())


async def book_deposit_for(deposit: SessionDepositConfirmedV1, services: BridgeServices) -> None:
    """`book_tickets_for` for a session's confirmed bank deposit."""
    books = await services.targets.fec_books(deposit.company_id)
    with _refused_by_the_fec():
        await book_deposit_to_fec(deposit, books, services.fec, services.clock())
