"""In-memory fakes of the bridge's ports, for unit tests of the use cases (no server, milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.config import AccountMapping
from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_runtime.outbox import OutboxItem
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus
from paheko_bridge.domain.reconciliation import LedgerLine, expected_deposit
from paheko_bridge.service_layer.ports import (
    CloseRow,
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
    claimed: set[UUID] = field(default_factory=set)
    events: list[tuple[str, Envelope[Any]]] = field(default_factory=list)


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
        self._update(ticket_id, attempts=attempts, next_attempt_at=next_attempt_at, last_error=reason)

    async def rejected(self, ticket_id: UUID, *, attempts: int, reason: str) -> None:
        self._update(ticket_id, status=PushStatus.REJECTED, attempts=attempts, last_error=reason)

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
        return [
            row.number
            for row, _ in self._state.pushes.values()
            if row.session_id == session_id and row.status is PushStatus.PUSHED
        ]

    async def tickets_of_session(self, session_id: UUID) -> list[TicketFinalizedV1]:
        rows = sorted(self._state.pushes.values(), key=lambda pair: pair[0].number)
        return [t for row, t in rows if row.session_id == session_id and row.status is PushStatus.PUSHED]

    async def of_session(self, session_id: UUID) -> list[PushRow]:
        return sorted((r for r, _ in self._state.pushes.values() if r.session_id == session_id), key=lambda r: r.number)

    async def rejected_ones(self) -> list[PushRow]:
        return [r for r, _ in self._state.pushes.values() if r.status is PushStatus.REJECTED]

    async def get(self, ticket_id: UUID) -> tuple[PushRow, TicketFinalizedV1] | None:
        return self._state.pushes.get(ticket_id)


class InMemoryCloses:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, closed: SessionClosedV1, received_at: datetime) -> bool:
        if closed.session_id in self._state.closes:
            return False
        self._state.closes[closed.session_id] = CloseRow(closed, CloseStatus.WAITING, 0, received_at, None, ())
        return True

    async def waiting(self, now: datetime) -> list[CloseRow]:
        return [r for r in self._state.closes.values() if r.status is CloseStatus.WAITING and r.next_attempt_at <= now]

    async def settle(
        self,
        session_id: UUID,
        status: CloseStatus,
        *,
        at: datetime,
        differences: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
    ) -> None:
        row = self._state.closes[session_id]
        self._state.closes[session_id] = replace(row, status=status, differences=tuple(differences), last_error=reason)

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        row = self._state.closes[session_id]
        self._state.closes[session_id] = replace(
            row, attempts=attempts, next_attempt_at=next_attempt_at, last_error=reason
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
        return True

    async def waiting(self, now: datetime) -> list[DepositRow]:
        return [
            r for r in self._state.deposits.values() if r.status is DepositStatus.WAITING and r.next_attempt_at <= now
        ]

    async def settle(self, session_id: UUID, status: DepositStatus, *, at: datetime, reason: str | None = None) -> None:
        self._state.deposits[session_id] = replace(self._state.deposits[session_id], status=status, last_error=reason)

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        row = self._state.deposits[session_id]
        self._state.deposits[session_id] = replace(
            row, attempts=attempts, next_attempt_at=next_attempt_at, last_error=reason
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
    def __init__(self, pending: list[tuple[str, Envelope[Any]]]) -> None:
        self._pending = pending

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        self._pending.append((topic, envelope))

    async def add_many(self, items: Sequence[OutboxItem]) -> None:
        self._pending.extend((i.topic, i.envelope) for i in items)


class InMemoryUnitOfWork:
    """Writes land in the state at once (the fakes' tables), events only at commit."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._events: list[tuple[str, Envelope[Any]]] = []
        self.pushes = InMemoryPushes(state)
        self.closes = InMemoryCloses(state)
        self.deposits = InMemoryDeposits(state)
        self.inbox = InMemoryInbox(state)
        self.outbox = InMemoryOutbox(self._events)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.clear()

    async def commit(self) -> None:
        self._state.events.extend(self._events)
        self._events.clear()


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


@dataclass
class FakeFec:
    tickets: list[UUID] = field(default_factory=list)
    closes: list[UUID] = field(default_factory=list)
    deposits: list[UUID] = field(default_factory=list)
    refuse: dict[UUID, str] = field(default_factory=dict)

    async def book_tickets(self, tickets: Sequence[TicketFinalizedV1]) -> None:
        for ticket in tickets:
            if ticket.ticket_id in self.refuse:
                raise TargetRejectedError(self.refuse[ticket.ticket_id])
        self.tickets.extend(t.ticket_id for t in tickets)

    async def book_close(self, closed: SessionClosedV1) -> None:
        self.closes.append(closed.session_id)

    async def book_deposit(self, deposit: SessionDepositConfirmedV1) -> None:
        if deposit.deposit_id in self.refuse:
            raise TargetRejectedError(self.refuse[deposit.deposit_id])
        self.deposits.append(deposit.deposit_id)
