"""In-memory fakes of the bridge's ports, for unit tests of the use cases (no server, milliseconds); tests/ports holds
them to the same contract as the asyncpg adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.config import AccountMapping
from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_runtime.outbox import OutboxItem, OutboxRow
from paheko_bridge.adapters.sql import outbox_row
from paheko_bridge.domain.fec import (
    FEC_HEADER,
    BookedEntry,
    FecBooks,
    FecSource,
    FiscalYear,
    JournalEnd,
    NumberedEntry,
    SourceKind,
    fec_file_name,
)
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus, kept_reason
from paheko_bridge.domain.reconciliation import LedgerLine, expected_deposit
from paheko_bridge.service_layer.ports import (
    CloseRow,
    CloseSettled,
    DepositRow,
    PahekoDeposit,
    PahekoLedger,
    PendingPush,
    Pushed,
    PushRow,
    TargetRejectedError,
    TargetUnavailableError,
)


@dataclass
class MemoryState:
    pushes: dict[UUID, tuple[PushRow, TicketFinalizedV1]] = field(default_factory=dict)
    closes: dict[UUID, CloseRow] = field(default_factory=dict)
    deposits: dict[UUID, DepositRow] = field(default_factory=dict)
    received: dict[tuple[str, UUID], datetime] = field(default_factory=dict)
    """When each close and deposit arrived (("closes" or "deposits", session)): their order of waiting."""
    claimed: set[UUID] = field(default_factory=set)
    outbox: list[OutboxRow] = field(default_factory=list)
    events: list[tuple[str, Envelope[Any]]] = field(default_factory=list)
    """The outbox's events as the relay would publish them: (topic, envelope)."""

    def copy(self) -> MemoryState:
        """The tables as they are now (their rows are immutable: copying the containers is enough)."""
        return MemoryState(
            dict(self.pushes), dict(self.closes), dict(self.deposits), dict(self.received), set(self.claimed)
        )

    def restore(self, before: MemoryState) -> None:
        """Undo every write to the tables since `before` was copied (the outbox is only written at commit)."""
        self.pushes, self.closes, self.deposits = before.pushes, before.closes, before.deposits
        self.received, self.claimed = before.received, before.claimed


class InMemoryPushes:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add_many(self, tickets: Sequence[TicketFinalizedV1], received_at: datetime) -> int:
        return sum([await self._add(ticket, received_at) for ticket in tickets])

    async def _add(self, ticket: TicketFinalizedV1, received_at: datetime) -> bool:
        if ticket.ticket_id in self._state.pushes:
            return False
        row = PushRow(
            ticket_id=ticket.ticket_id,
            company_id=ticket.company_id,
            pos_id=ticket.pos_id,
            session_id=ticket.session_id,
            number=ticket.number,
            status=PushStatus.PENDING,
            attempts=0,
            next_attempt_at=received_at,
            last_error=None,
            received_at=received_at,
            pushed_at=None,
        )
        self._state.pushes[ticket.ticket_id] = (row, ticket)
        return True

    def _update(self, ticket_id: UUID, **changes: Any) -> None:
        row, ticket = self._state.pushes[ticket_id]
        self._state.pushes[ticket_id] = (replace(row, **changes), ticket)

    async def due(self, now: datetime, limit: int) -> list[PendingPush]:
        waiting = [
            r for r, _ in self._state.pushes.values() if r.status is PushStatus.PENDING and r.next_attempt_at > now
        ]
        rows = sorted(
            (
                (row, ticket)
                for row, ticket in self._state.pushes.values()
                if row.status is PushStatus.PENDING
                and row.next_attempt_at <= now
                and not any(w.pos_id == row.pos_id and w.number < row.number for w in waiting)
            ),
            key=lambda pair: (str(pair[0].pos_id), pair[0].number),
        )
        return [PendingPush(ticket, row.attempts) for row, ticket in rows[:limit]]

    async def pushed_many(self, ticket_ids: Sequence[UUID], at: datetime) -> None:
        for ticket_id in ticket_ids:
            row = self._state.pushes[ticket_id][0]
            self._update(ticket_id, status=PushStatus.PUSHED, pushed_at=at, attempts=row.attempts + 1, last_error=None)

    async def failed(self, ticket_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        self._update(ticket_id, attempts=attempts, next_attempt_at=next_attempt_at, last_error=kept_reason(reason))

    async def rejected(self, ticket_id: UUID, *, attempts: int, reason: str) -> None:
        self._update(ticket_id, status=PushStatus.REJECTED, attempts=attempts, last_error=kept_reason(reason))

    async def replay(self, ticket_id: UUID | None, now: datetime) -> int:
        chosen = [
            t
            for t, (row, _) in self._state.pushes.items()
            if row.status is PushStatus.REJECTED and ticket_id in (None, t)
        ]
        for t in chosen:
            self._update(t, status=PushStatus.PENDING, next_attempt_at=now)
        return len(chosen)

    async def resume(self, company_id: UUID, now: datetime) -> int:
        chosen = [
            t
            for t, (row, _) in self._state.pushes.items()
            if row.status is PushStatus.PENDING and row.next_attempt_at > now and row.company_id == company_id
        ]
        for t in chosen:
            self._update(t, next_attempt_at=now)
        return len(chosen)

    async def pushed_numbers(self, session_id: UUID) -> list[int]:
        return sorted(
            row.number
            for row, _ in self._state.pushes.values()
            if row.session_id == session_id and row.status is PushStatus.PUSHED
        )

    async def tickets_of_session(self, session_id: UUID) -> list[TicketFinalizedV1]:
        rows = sorted(self._state.pushes.values(), key=lambda pair: pair[0].number)
        return [t for row, t in rows if row.session_id == session_id and row.status is PushStatus.PUSHED]

    async def of_session(self, session_id: UUID) -> list[PushRow]:
        return sorted((r for r, _ in self._state.pushes.values() if r.session_id == session_id), key=lambda r: r.number)

    async def rejected_ones(self) -> list[PushRow]:
        rejected = [r for r, _ in self._state.pushes.values() if r.status is PushStatus.REJECTED]
        return sorted(rejected, key=lambda r: (r.received_at, r.number))

    async def get(self, ticket_id: UUID) -> tuple[PushRow, TicketFinalizedV1] | None:
        return self._state.pushes.get(ticket_id)


class InMemoryCloses:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, closed: SessionClosedV1, received_at: datetime) -> bool:
        if closed.session_id in self._state.closes:
            return False
        self._state.closes[closed.session_id] = CloseRow(closed, CloseStatus.WAITING, 0, received_at, None, ())
        self._state.received["closes", closed.session_id] = received_at
        return True

    async def waiting(self, now: datetime) -> list[CloseRow]:
        waiting = [
            r for r in self._state.closes.values() if r.status is CloseStatus.WAITING and r.next_attempt_at <= now
        ]
        return sorted(
            waiting, key=lambda r: (self._state.received["closes", r.closed.session_id], str(r.closed.session_id))
        )

    async def settle(self, session_id: UUID, settled: CloseSettled) -> None:
        self._state.closes[session_id] = replace(
            self._state.closes[session_id],
            status=settled.status,
            differences=settled.differences,
            last_error=settled.reason,
        )

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        row = self._state.closes[session_id]
        self._state.closes[session_id] = replace(
            row, attempts=attempts, next_attempt_at=next_attempt_at, last_error=kept_reason(reason)
        )

    async def resume(self, company_id: UUID, now: datetime) -> int:
        chosen = [
            s
            for s, row in self._state.closes.items()
            if row.status is CloseStatus.WAITING and row.next_attempt_at > now and row.closed.company_id == company_id
        ]
        for s in chosen:
            self._state.closes[s] = replace(self._state.closes[s], next_attempt_at=now)
        return len(chosen)

    async def get(self, session_id: UUID) -> CloseRow | None:
        return self._state.closes.get(session_id)


class InMemoryDeposits:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, deposit: SessionDepositConfirmedV1, received_at: datetime) -> bool:
        if deposit.session_id in self._state.deposits:
            return False
        self._state.deposits[deposit.session_id] = DepositRow(deposit, DepositStatus.WAITING, 0, received_at, None)
        self._state.received["deposits", deposit.session_id] = received_at
        return True

    async def waiting(self, now: datetime) -> list[DepositRow]:
        waiting = [
            r for r in self._state.deposits.values() if r.status is DepositStatus.WAITING and r.next_attempt_at <= now
        ]
        return sorted(
            waiting, key=lambda r: (self._state.received["deposits", r.deposit.session_id], str(r.deposit.session_id))
        )

    async def settle(self, session_id: UUID, status: DepositStatus, *, at: datetime, reason: str | None = None) -> None:
        self._state.deposits[session_id] = replace(self._state.deposits[session_id], status=status, last_error=reason)

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        row = self._state.deposits[session_id]
        self._state.deposits[session_id] = replace(
            row, attempts=attempts, next_attempt_at=next_attempt_at, last_error=kept_reason(reason)
        )

    async def get(self, session_id: UUID) -> DepositRow | None:
        return self._state.deposits.get(session_id)


class InMemoryInbox:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        fresh = {event_id for event_id, _ in events if event_id not in self._state.claimed}
        self._state.claimed |= fresh
        return fresh


class InMemoryOutbox:
    """Each item's row computed as the PostgreSQL adapter computes it, kept until the unit of work commits."""

    def __init__(self, pending: list[tuple[OutboxRow, Envelope[Any]]]) -> None:
        self._pending = pending

    async def add_many(self, items: Sequence[OutboxItem]) -> None:
        self._pending.extend((outbox_row(item), item.envelope) for item in items)


class InMemoryUnitOfWork:
    """Writes land in the state at once (the fakes' tables) and are undone when the unit of work ends without a
    commit, as a transaction's are; events reach the state only at commit."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._pending: list[tuple[OutboxRow, Envelope[Any]]] = []
        self._before: MemoryState | None = None
        self.pushes = InMemoryPushes(state)
        self.closes = InMemoryCloses(state)
        self.deposits = InMemoryDeposits(state)
        self.inbox = InMemoryInbox(state)
        self.outbox = InMemoryOutbox(self._pending)

    async def __aenter__(self) -> Self:
        self._before = self._state.copy()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._before is not None:
            self._state.restore(self._before)
        self._pending.clear()

    async def commit(self) -> None:
        self._state.outbox.extend(row for row, _ in self._pending)
        self._state.events.extend((row.topic, envelope) for row, envelope in self._pending)
        self._pending.clear()
        self._before = None


@dataclass
class FakePaheko:
    """A Paheko that takes tickets, can be down, can refuse one, and answers a ledger for a closed session."""

    down: bool = False
    refuse: dict[UUID, str] = field(default_factory=dict)
    tickets: list[tuple[UUID, int]] = field(default_factory=list)
    closed: list[UUID] = field(default_factory=list)
    lines: tuple[LedgerLine, ...] = ()
    deposits: list[UUID] = field(default_factory=list)
    deposit_lines: tuple[LedgerLine, ...] | None = None
    """What Paheko answers for a deposit's entry; by default the deposit as booked with the default accounts."""
    tabs: int = 0
    vat_by_rate: dict[int, int] = field(default_factory=dict)

    async def push_ticket(self, ticket: TicketFinalizedV1) -> Pushed:
        if self.down:
            raise TargetUnavailableError("connection refused")
        if ticket.ticket_id in self.refuse:
            raise TargetRejectedError(self.refuse[ticket.ticket_id])
        self.tickets.append((ticket.pos_id, ticket.number))
        return Pushed(paheko_session_id=7, paheko_tab_id=len(self.tickets))

    async def close_session(self, closed: SessionClosedV1) -> None:
        if self.down:
            raise TargetUnavailableError("connection refused")
        self.closed.append(closed.session_id)

    async def ledger(self, closed: SessionClosedV1) -> PahekoLedger:
        return PahekoLedger(7, "POS-SESSION-7", 31, self.lines, self.tabs, dict(self.vat_by_rate))

    async def book_deposit(self, deposit: SessionDepositConfirmedV1) -> PahekoDeposit:
        if self.down:
            raise TargetUnavailableError("connection refused")
        if deposit.deposit_id in self.refuse:
            raise TargetRejectedError(self.refuse[deposit.deposit_id])
        if deposit.deposit_id not in self.deposits:  # the plugin books a deposit once
            self.deposits.append(deposit.deposit_id)
        lines = self.deposit_lines
        if lines is None:
            lines = tuple(
                LedgerLine(account, max(amount, 0), max(-amount, 0))
                for account, amount in expected_deposit(deposit, AccountMapping()).items()
            )
        return PahekoDeposit(7, "POS-DEPOSIT-7", 41, lines)


@dataclass
class FakeTargets:
    """The companies in `paheko_companies` book to `paheko_target`; the others have no Paheko (FEC)."""

    paheko_target: FakePaheko
    paheko_companies: set[UUID] = field(default_factory=set)
    category_account: dict[UUID, str] = field(default_factory=dict)
    mapping: AccountMapping = field(default_factory=AccountMapping)
    vat_subject_companies: set[UUID] = field(default_factory=set)

    async def paheko(self, company_id: UUID) -> FakePaheko | None:
        return self.paheko_target if company_id in self.paheko_companies else None

    async def accounts(self, company_id: UUID) -> AccountMapping:
        return self.mapping

    async def vat_subject(self, company_id: UUID) -> bool:
        return company_id in self.vat_subject_companies

    async def category_accounts(self, company_id: UUID) -> dict[UUID, str]:
        return dict(self.category_account)

    async def fec_books(self, company_id: UUID) -> FecBooks:
        return FecBooks(
            company_id=company_id, accounts=self.mapping, vat_subject=company_id in self.vat_subject_companies
        )


class InMemoryFecYear:
    """`FecYearJournal` in memory: answers from its journal's dicts; what it is given joins them when its block ends
    without an error."""

    def __init__(self, journal: InMemoryFecJournal, books: FecBooks, year: FiscalYear) -> None:
        self._journal = journal
        self._company = books.company_id
        self.name = fec_file_name(books, year)
        self.added: list[NumberedEntry] = []

    async def booked(self, sources: Sequence[FecSource]) -> dict[FecSource, BookedEntry]:
        known = self._journal.booked
        return {source: known[(self._company, source)] for source in sources if (self._company, source) in known}

    async def end(self) -> JournalEnd | None:
        entries = self._journal.entries.get(self.name)
        return JournalEnd(entries[-1].number, entries[-1].entry.valid_date) if entries else None

    async def add(self, entries: Sequence[NumberedEntry]) -> None:
        self.added.extend(entries)

    def keep(self) -> None:
        if self.added:
            self._journal.entries.setdefault(self.name, []).extend(self.added)
        for numbered in self.added:
            self._journal.booked[self._company, numbered.entry.source] = BookedEntry(
                numbered.number, numbered.entry.entry_date
            )


class InMemoryFecJournal:
    """`FecJournal` in memory: entries by file name; `text(name)` is what the file journal would have written."""

    def __init__(self) -> None:
        self.entries: dict[str, list[NumberedEntry]] = {}
        self.booked: dict[tuple[UUID, FecSource], BookedEntry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def year(self, books: FecBooks, year: FiscalYear) -> AsyncIterator[InMemoryFecYear]:
        async with self._locks.setdefault(fec_file_name(books, year), asyncio.Lock()):
            held = InMemoryFecYear(self, books, year)
            yield held
            held.keep()

    def text(self, file_name: str) -> str:
        return FEC_HEADER + "".join(e.text for e in self.entries.get(file_name, []))

    def sources(self, kind: SourceKind) -> list[UUID]:
        """The ids of what was booked of `kind` (tickets, say), in the order of their numbers."""
        return [e.entry.source_id for entries in self.entries.values() for e in entries if e.entry.source_kind is kind]
