"""What the bridge's use cases need from the outside: its own tables, the accounting targets (each company's Paheko,
or its FEC journal), a clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from caisse_contracts.config import AccountMapping
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_runtime import work
from caisse_runtime.outbox import OutboxItem
from paheko_bridge.domain.fec import BookedEntry, FecBooks, FecSource, FiscalYear, JournalEnd, NumberedEntry
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus
from paheko_bridge.domain.reconciliation import LedgerLine

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]


class TargetUnavailableError(Exception):
    """The accounting target could not take it now (down, 5xx, timeout, circuit open): try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TargetRejectedError(Exception):
    """The accounting target refused it (4xx): the same request will be refused again until someone fixes it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Pushed:
    """A ticket in Paheko: Caisse's session and tab, and whether the plugin answered an earlier push's result."""

    paheko_session_id: int | None
    paheko_tab_id: int | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class PahekoLedger:
    """What Paheko holds for a closed session, read back through its read-only SQL API."""

    paheko_session_id: int | None
    transaction_reference: str | None
    transaction_id: int | None
    lines: tuple[LedgerLine, ...]
    tickets: int
    vat_by_rate: dict[int, int] = field(default_factory=dict)
    """VAT collected per rate (basis points), hundredths, credit positive: the `-TVA` entry's VAT lines."""


@dataclass(frozen=True, slots=True)
class PahekoDeposit:
    """A deposit's entry as Paheko holds it, answered by the plugin as it wrote (or first wrote) it."""

    paheko_session_id: int
    transaction_reference: str
    transaction_id: int
    lines: tuple[LedgerLine, ...]


class PahekoTarget(Protocol):
    """One company's Paheko, through the pos_bridge plugin (writes) and Paheko's `/api/sql` (reads)."""

    async def push_ticket(self, ticket: TicketFinalizedV1) -> Pushed: ...

    async def close_session(self, closed: SessionClosedV1) -> None:
        """Close the session in Caisse with the counted cash and run Caisse's accounting sync; idempotent."""

    async def ledger(self, closed: SessionClosedV1) -> PahekoLedger: ...

    async def book_deposit(self, deposit: SessionDepositConfirmedV1) -> PahekoDeposit:
        """Book the session's confirmed bank deposit (after its close); idempotent by the deposit's id."""


class FecYearJournal(Protocol):
    """One company's FEC journal of one fiscal year, in one writer's hands: it stores what it is given and decides
    nothing (numbers and which source is booked are `domain.fec.number_entries`'s)."""

    async def booked(self, sources: Sequence[FecSource]) -> dict[FecSource, BookedEntry]:
        """The entries the company's journal holds already for these sources, whatever their fiscal year."""

    async def end(self) -> JournalEnd | None:
        """The year's last entry; None while the year has none."""

    async def add(self, entries: Sequence[NumberedEntry]) -> None:
        """Store the numbered entries: kept when the block ends without an error, dropped otherwise."""


class FecJournal(Protocol):
    """The FEC journals of the companies without Paheko: one per company and fiscal year, append-only."""

    def year(self, books: FecBooks, year: FiscalYear) -> AbstractAsyncContextManager[FecYearJournal]:
        """The company's journal of `year`, held by this writer alone until the block ends; what the block added
        is durable (and in the year's file, for a journal that keeps one) once it ends without an error."""
        ...


class Targets(Protocol):
    async def paheko(self, company_id: UUID) -> PahekoTarget | None:
        """The company's Paheko, or None when it has none configured (its accounting goes to the FEC file)."""

    async def accounts(self, company_id: UUID) -> AccountMapping: ...

    async def category_accounts(self, company_id: UUID) -> dict[UUID, str]:
        """The revenue account of each of the company's categories, as configured now."""

    async def vat_subject(self, company_id: UUID) -> bool:
        """Whether the company's books split the VAT out of its revenue."""

    async def fec_books(self, company_id: UUID) -> FecBooks:
        """The FEC books of a company without Paheko; `TargetUnavailableError` while the bridge does not know
        enough of it to date and label an entry (its territory's time zone, say)."""


@dataclass(frozen=True, slots=True)
class PendingPush:
    ticket: TicketFinalizedV1
    attempts: int


@dataclass(frozen=True, slots=True)
class PushRow:
    ticket_id: UUID
    company_id: UUID
    pos_id: UUID
    session_id: UUID
    number: int
    status: PushStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    received_at: datetime
    pushed_at: datetime | None


class Pushes(Protocol):
    async def add_many(self, tickets: Sequence[TicketFinalizedV1], received_at: datetime) -> int:
        """Queue the tickets not known yet; how many were."""

    async def due(self, now: datetime, limit: int) -> list[PendingPush]:
        """Pending tickets whose time has come, in order of POS then number."""

    async def pushed_many(self, ticket_ids: Sequence[UUID], at: datetime) -> None: ...

    async def failed(self, ticket_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None: ...

    async def rejected(self, ticket_id: UUID, *, attempts: int, reason: str) -> None: ...

    async def replay(self, ticket_id: UUID | None, now: datetime) -> int:
        """Put a rejected ticket (or every one, with None) back in the queue; how many were."""

    async def resume(self, company_id: UUID, now: datetime) -> int:
        """Make every pending ticket of the company that waits for its backoff due `now`; how many were."""

    async def pushed_numbers(self, session_id: UUID) -> list[int]: ...

    async def tickets_of_session(self, session_id: UUID) -> list[TicketFinalizedV1]:
        """The session's tickets that reached their target, in number order."""

    async def of_session(self, session_id: UUID) -> list[PushRow]: ...

    async def rejected_ones(self) -> list[PushRow]: ...

    async def get(self, ticket_id: UUID) -> tuple[PushRow, TicketFinalizedV1] | None: ...


@dataclass(frozen=True, slots=True)
class CloseRow:
    closed: SessionClosedV1
    status: CloseStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    differences: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class CloseSettled:
    """How a session's close ended: its status and when, the differences found (reconciled with Paheko), and why."""

    status: CloseStatus
    at: datetime
    differences: tuple[dict[str, Any], ...] = ()
    reason: str | None = None


class Closes(Protocol):
    async def add(self, closed: SessionClosedV1, received_at: datetime) -> bool: ...

    async def waiting(self, now: datetime) -> list[CloseRow]: ...

    async def settle(self, session_id: UUID, settled: CloseSettled) -> None:
        """Set the close apart as `settled` says: it waits no more."""

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None: ...

    async def resume(self, company_id: UUID, now: datetime) -> int:
        """Make every waiting close of the company that waits for its backoff due `now`; how many were."""

    async def get(self, session_id: UUID) -> CloseRow | None: ...


@dataclass(frozen=True, slots=True)
class DepositRow:
    deposit: SessionDepositConfirmedV1
    status: DepositStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


class Deposits(Protocol):
    async def add(self, deposit: SessionDepositConfirmedV1, received_at: datetime) -> bool:
        """Keep a session's confirmed deposit once (by session); False when it was kept already."""

    async def waiting(self, now: datetime) -> list[DepositRow]:
        """Deposits not booked yet whose time has come, oldest first."""

    async def settle(
        self, session_id: UUID, status: DepositStatus, *, at: datetime, reason: str | None = None
    ) -> None: ...

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None: ...

    async def get(self, session_id: UUID) -> DepositRow | None: ...


class Inbox(Protocol):
    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        """The ids among `events` new for the bridge (claimed now); the others were seen before."""


class Outbox(Protocol):
    async def add_many(self, items: Sequence[OutboxItem]) -> None:
        """Queue the events for the relay, in the unit of work's transaction: published once it commits."""


class UnitOfWork(work.UnitOfWork, Protocol):
    @property
    def pushes(self) -> Pushes: ...

    @property
    def closes(self) -> Closes: ...

    @property
    def deposits(self) -> Deposits: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def outbox(self) -> Outbox: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
