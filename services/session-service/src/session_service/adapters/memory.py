"""In-memory fakes of session-service's ports, for unit tests of the use cases.

A unit of work reads and writes a view of the state taken when it begins, so that it sees its own writes as a
transaction does; its writes reach the shared state on `commit()` only, replayed on it as they were made (two units
of work in flight both keep theirs): leaving without a commit leaves the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_runtime.outbox import OutboxRow
from session_service.domain.deposits import Deposit
from session_service.domain.report import ZReport
from session_service.domain.sessions import CashMovement, CashSession, Cheque, SessionStatus
from session_service.domain.totals import LateTicket, RunningTotals
from session_service.service_layer.ports import (
    AppliedTicket,
    Attachment,
    BeforeCounting,
    ConfigRecord,
    LateTicketsOf,
    Mail,
    MailNotSentError,
)


@dataclass
class MemoryState:
    processed: set[UUID] = field(default_factory=set)
    totals: dict[UUID, RunningTotals] = field(default_factory=dict)
    applied: dict[UUID, AppliedTicket] = field(default_factory=dict)
    late: dict[UUID, LateTicket] = field(default_factory=dict)
    cheques: dict[UUID, tuple[UUID, Cheque]] = field(default_factory=dict)
    sessions: dict[UUID, CashSession] = field(default_factory=dict)
    config: dict[UUID, ConfigRecord] = field(default_factory=dict)
    reports: dict[UUID, ZReport] = field(default_factory=dict)
    deposits: dict[UUID, Deposit] = field(default_factory=dict)
    mail: dict[UUID, Mail] = field(default_factory=dict)
    outbox: list[OutboxRow] = field(default_factory=list)
    """The rows as the outbox table holds them, in the order they were written."""
    commits: int = 0

    def load(self, other: MemoryState) -> None:
        """Become a copy of `other` (its collections copied, their immutable items shared)."""
        for f in fields(self):
            value = getattr(other, f.name)
            setattr(self, f.name, value if isinstance(value, int) else type(value)(value))


Change = Callable[[MemoryState], None]


class _Changes:
    """The writes of one unit of work: applied to its view at once, kept to replay on the shared state."""

    def __init__(self, view: MemoryState) -> None:
        self._view = view
        self.made: list[Change] = []

    def append(self, change: Change) -> None:
        change(self._view)
        self.made.append(change)


class _Staged:
    def __init__(self, view: MemoryState, changes: _Changes) -> None:
        self._state = view
        self._changes = changes


class InMemoryInbox(_Staged):
    async def claim(self, event_id: UUID, event_type: str) -> bool:
        return bool(await self.claim_many([(event_id, event_type)]))

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        fresh = {e for e, _ in events if e not in self._state.processed}
        self._changes.append(lambda s: s.processed.update(fresh))
        return fresh


class InMemoryTotals(_Staged):
    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        return self._state.totals.get(session_id)

    async def for_update_many(self, session_ids: Sequence[UUID]) -> dict[UUID, RunningTotals]:
        return {s: self._state.totals[s] for s in session_ids if s in self._state.totals}

    async def get(self, session_id: UUID) -> RunningTotals | None:
        return self._state.totals.get(session_id)

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None:
        return self._state.applied.get(ticket_id)

    async def before_counting(self, ticket_ids: Sequence[UUID], session_ids: Sequence[UUID]) -> BeforeCounting:
        held = [self._state.sessions[s] for s in session_ids if s in self._state.sessions]
        return BeforeCounting(
            {t for t in ticket_ids if t in self._state.applied},
            {s.session_id for s in held if s.status is SessionStatus.CLOSED},
            {s.session_id for s in held if s.status is SessionStatus.CLOSING},
        )

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None:
        await self.save_many([totals], [applied], [])

    async def save_many(
        self, totals: Sequence[RunningTotals], applied: Sequence[AppliedTicket], cheques: Sequence[Cheque]
    ) -> None:
        session_of = {a.ticket_id: a.session_id for a in applied}

        def apply(state: MemoryState) -> None:
            for t in totals:
                state.totals[t.session_id] = t
            for a in applied:
                state.applied[a.ticket_id] = a
            for c in cheques:
                state.cheques.setdefault(c.payment_id, (session_of[c.ticket_id], c))

        self._changes.append(apply)

    async def save_late(self, late: Sequence[LateTicket]) -> None:
        def apply(state: MemoryState) -> None:
            for ticket in late:
                state.late.setdefault(ticket.ticket_id, ticket)

        self._changes.append(apply)

    async def late_tickets(self, of: LateTicketsOf) -> list[LateTicket]:
        found = [
            t
            for t in self._state.late.values()
            if (of.session_id is None or t.session_id == of.session_id)
            and (of.shop_id is None or t.shop_id == of.shop_id)
            and (of.company_id is None or t.company_id == of.company_id)
        ]
        return sorted(found, key=lambda t: (t.received_at, t.ticket_id), reverse=True)[: of.limit]

    async def numbers_in(self, session_id: UUID, first: int, last: int) -> list[int]:
        return sorted(
            {a.number for a in self._state.applied.values() if a.session_id == session_id and first <= a.number <= last}
        )

    async def cheques(self, session_id: UUID) -> list[Cheque]:
        return [c for s, c in self._state.cheques.values() if s == session_id]


class InMemorySessions(_Staged):
    async def get(self, session_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return self._state.sessions.get(session_id)

    async def current_of_pos(self, pos_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return next(
            (
                s
                for s in self._state.sessions.values()
                if s.place.pos_id == pos_id and s.status is not SessionStatus.CLOSED
            ),
            None,
        )

    async def last_closed_number(self, pos_id: UUID) -> int | None:
        numbers = [
            s.close_request.last_ticket_number
            for s in self._state.sessions.values()
            if s.place.pos_id == pos_id
            and s.status is SessionStatus.CLOSED
            and s.close_request is not None
            and s.close_request.last_ticket_number is not None
        ]
        return max(numbers) if numbers else None

    async def add(self, session: CashSession) -> bool:
        if session.session_id in self._state.sessions or await self.current_of_pos(session.place.pos_id):
            return False
        self._changes.append(lambda s: s.sessions.__setitem__(session.session_id, session))
        return True

    async def update(self, session: CashSession) -> None:
        def apply(state: MemoryState) -> None:
            movements = state.sessions[session.session_id].movements
            state.sessions[session.session_id] = replace(session, movements=movements)

        self._changes.append(apply)

    async def add_movement(self, session_id: UUID, movement: CashMovement) -> None:
        def apply(state: MemoryState) -> None:
            current = state.sessions[session_id]
            if all(m.movement_id != movement.movement_id for m in current.movements):  # the table's primary key
                state.sessions[session_id] = replace(current, movements=(*current.movements, movement))

        self._changes.append(apply)

    async def session_of_movement(self, movement_id: UUID) -> UUID | None:
        return next(
            (
                s.session_id
                for s in self._state.sessions.values()
                if any(m.movement_id == movement_id for m in s.movements)
            ),
            None,
        )

    async def closing(self) -> list[UUID]:
        waiting = [s for s in self._state.sessions.values() if s.status is SessionStatus.CLOSING]
        return [s.session_id for s in sorted(waiting, key=lambda s: (s.closing_since or s.opened_at, s.session_id))]


class InMemoryConfigView(_Staged):
    async def upsert(self, records: Sequence[ConfigRecord]) -> int:
        kept = [
            r
            for r in records
            if r.entity_id not in self._state.config or self._state.config[r.entity_id].version < r.version
        ]

        def apply(state: MemoryState) -> None:
            for r in kept:
                state.config[r.entity_id] = r

        self._changes.append(apply)
        return len(kept)

    async def get_many(self, entity_ids: Sequence[UUID]) -> dict[UUID, ConfigRecord]:
        return {i: self._state.config[i] for i in entity_ids if i in self._state.config}

    async def operators_of(self, shop_id: UUID) -> dict[UUID, ConfigRecord]:
        return {
            k: r
            for k, r in self._state.config.items()
            if r.entity_type == "operator" and not r.deleted and r.shop_id in (None, shop_id)
        }

    async def categories_of(self, company_id: UUID) -> dict[UUID, ConfigRecord]:
        return {
            k: r for k, r in self._state.config.items() if r.entity_type == "category" and r.company_id == company_id
        }


class InMemoryReports(_Staged):
    async def put(self, report: ZReport) -> None:
        def apply(state: MemoryState) -> None:
            state.reports.setdefault(report.session_id, report)

        self._changes.append(apply)

    async def get(self, session_id: UUID) -> ZReport | None:
        return self._state.reports.get(session_id)


class InMemoryDeposits(_Staged):
    async def get(self, session_id: UUID) -> Deposit | None:
        return self._state.deposits.get(session_id)

    async def add(self, deposit: Deposit) -> None:
        if deposit.session_id in self._state.deposits:  # the table's primary key
            raise ValueError(f"session {deposit.session_id} has a deposit already")
        self._changes.append(lambda s: s.deposits.__setitem__(deposit.session_id, deposit))


class InMemoryMailQueue(_Staged):
    async def add(self, mail: Mail) -> None:
        self._changes.append(lambda s: s.mail.__setitem__(mail.mail_id, mail))

    async def due(self, now: datetime, limit: int) -> list[Mail]:
        due = [
            m
            for m in self._state.mail.values()
            if m.sent_at is None and m.next_attempt_at is not None and m.next_attempt_at <= now
        ]
        return sorted(due, key=lambda m: m.next_attempt_at or now)[:limit]

    async def sent(self, mail_id: UUID, at: datetime) -> None:
        def apply(state: MemoryState) -> None:
            mail = state.mail[mail_id]
            state.mail[mail_id] = replace(mail, sent_at=at, attempts=mail.attempts + 1, last_error=None)

        self._changes.append(apply)

    async def failed(self, mail_id: UUID, error: str, next_attempt_at: datetime) -> None:
        def apply(state: MemoryState) -> None:
            mail = state.mail[mail_id]
            state.mail[mail_id] = replace(
                mail, attempts=mail.attempts + 1, last_error=error, next_attempt_at=next_attempt_at
            )

        self._changes.append(apply)

    async def of_session(self, session_id: UUID) -> list[Mail]:
        return [m for m in self._state.mail.values() if m.session_id == session_id]


class InMemoryOutbox(_Staged):
    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        self._changes.append(lambda s: s.outbox.append(row))


class InMemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._view = MemoryState()
        self._changes = _Changes(self._view)
        self.inbox = InMemoryInbox(self._view, self._changes)
        self.totals = InMemoryTotals(self._view, self._changes)
        self.sessions = InMemorySessions(self._view, self._changes)
        self.config = InMemoryConfigView(self._view, self._changes)
        self.reports = InMemoryReports(self._view, self._changes)
        self.deposits = InMemoryDeposits(self._view, self._changes)
        self.mail = InMemoryMailQueue(self._view, self._changes)
        self.outbox = InMemoryOutbox(self._view, self._changes)

    async def __aenter__(self) -> Self:
        self._view.load(self._state)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._changes.made.clear()

    async def commit(self) -> None:
        for change in self._changes.made:
            change(self._state)
        self._changes.made.clear()
        self._state.commits += 1


@dataclass
class RecordingMailSender:
    """A mail server that keeps what it receives, or refuses everything while `down`."""

    down: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(
        self, *, recipients: Sequence[str], subject: str, text: str, html: str, attachments: Sequence[Attachment]
    ) -> None:
        if self.down:
            raise MailNotSentError("connection refused")
        self.sent.append(
            {"recipients": list(recipients), "subject": subject, "text": text, "html": html, "attachments": attachments}
        )
