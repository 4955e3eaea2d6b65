"""Ports of session-service's use cases: a unit of work (inbox, totals, sessions, configuration view, reports,
deposits, mail queue, outbox), a clock, ids and the mail sender."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_runtime import work
from session_service.domain.deposits import Deposit
from session_service.domain.report import ZReport
from session_service.domain.sessions import CashMovement, CashSession, Cheque
from session_service.domain.totals import LateTicket, RunningTotals

Clock = Callable[[], datetime]
"""Aware UTC now."""

IdFactory = Callable[[], UUID]


@dataclass(frozen=True, slots=True)
class AppliedTicket:
    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    number: int
    total_incl_tax: int
    event_id: UUID
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class LateTicketsOf:
    """Which late tickets to list: those matching every id given, at most `limit`."""

    session_id: UUID | None = None
    shop_id: UUID | None = None
    company_id: UUID | None = None
    limit: int = 500


class Inbox(Protocol):
    async def claim(self, event_id: UUID, event_type: str) -> bool:
        """True for an event this consumer has not processed yet."""

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        """The ids among `events` this consumer has not processed yet, now claimed."""


class BeforeCounting(NamedTuple):
    """What a batch must know of its tickets and their sessions before counting them."""

    applied: set[UUID]
    closed: set[UUID]
    closing: set[UUID]


class CountedTotals(Protocol):
    """What counting a batch of tickets needs of the totals, and no more: the consumer's hot path may have an
    implementation of its own."""

    async def before_counting(self, ticket_ids: Sequence[UUID], session_ids: Sequence[UUID]) -> BeforeCounting:
        """The ids among `ticket_ids` already counted, and the closed and the closing sessions among `session_ids`.
        Every one of those sessions' rows stays locked (shared, in id order) until the unit of work ends: a close
        waits for the tickets being counted (and then finds them), or they wait for it and see it closing or closed.
        One question, as it is asked per batch."""

    async def for_update_many(self, session_ids: Sequence[UUID]) -> dict[UUID, RunningTotals]:
        """The sessions' totals that exist, locked (in id order, so two batches never deadlock)."""

    async def save_many(
        self, totals: Sequence[RunningTotals], applied: Sequence[AppliedTicket], cheques: Sequence[Cheque]
    ) -> None:
        """Upsert the totals, record the applied tickets and their cheques."""

    async def save_late(self, late: Sequence[LateTicket]) -> None:
        """Keep tickets of closed sessions aside (a ticket already kept stays as it was)."""


class Totals(CountedTotals, Protocol):
    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        """The session's totals, locked until the unit of work ends."""

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None: ...

    async def get(self, session_id: UUID) -> RunningTotals | None: ...

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None: ...

    async def numbers_in(self, session_id: UUID, first: int, last: int) -> list[int]:
        """The ticket numbers counted into the session within [first, last]."""

    async def cheques(self, session_id: UUID) -> list[Cheque]: ...

    async def late_tickets(self, of: LateTicketsOf) -> list[LateTicket]:
        """Tickets kept aside because their session was closed, newest first: of a session, a shop, a company."""


class ClosingSessions(Protocol):
    async def closing(self) -> list[UUID]:
        """Every session waiting for tickets to close."""


class Sessions(ClosingSessions, Protocol):
    async def get(self, session_id: UUID, *, for_update: bool = False) -> CashSession | None: ...

    async def current_of_pos(self, pos_id: UUID, *, for_update: bool = False) -> CashSession | None:
        """The POS's session that is not closed yet (open or closing), if any."""

    async def last_closed_number(self, pos_id: UUID) -> int | None:
        """The last ticket number of the POS's most recent closed session."""

    async def add(self, session: CashSession) -> bool:
        """Store a new session; False when the POS already has one that is not closed."""

    async def update(self, session: CashSession) -> None:
        """Store the session's status and close figures (movements are added apart)."""

    async def add_movement(self, session_id: UUID, movement: CashMovement) -> None: ...

    async def session_of_movement(self, movement_id: UUID) -> UUID | None:
        """The session a movement id was recorded in, if any (a movement id is the till's, unique everywhere)."""


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """One configuration item as the back office last announced it."""

    entity_type: str
    entity_id: UUID
    version: int
    deleted: bool
    item: dict[str, Any]

    @property
    def shop_id(self) -> UUID | None:
        """The item's shop (an operator's, a POS's), None when it has none (a federation admin's)."""
        return _id_or_none(self.item.get("shop_id"))

    @property
    def company_id(self) -> UUID | None:
        """The item's company (a category's, a shop's), None when it has none."""
        return _id_or_none(self.item.get("company_id"))


def _id_or_none(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


class ConfigView(Protocol):
    async def upsert(self, records: Sequence[ConfigRecord]) -> int:
        """Keep each record unless a version at least as new is already kept; the number kept."""

    async def get_many(self, entity_ids: Sequence[UUID]) -> dict[UUID, ConfigRecord]: ...

    async def operators_of(self, shop_id: UUID) -> dict[UUID, ConfigRecord]:
        """Operators of the shop, and federation admins (who belong to no shop)."""

    async def categories_of(self, company_id: UUID) -> dict[UUID, ConfigRecord]: ...


class Reports(Protocol):
    async def put(self, report: ZReport) -> None: ...

    async def get(self, session_id: UUID) -> ZReport | None: ...


class Deposits(Protocol):
    async def get(self, session_id: UUID) -> Deposit | None:
        """The session's confirmed bank deposit, if any."""

    async def add(self, deposit: Deposit) -> None:
        """Keep the session's deposit (one per session: the caller holds the session's row)."""


@dataclass(frozen=True, slots=True)
class Mail:
    """A report to e-mail, queued at the close and sent (and retried) apart from it."""

    mail_id: UUID
    session_id: UUID
    recipients: tuple[str, ...]
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


class MailQueue(Protocol):
    async def add(self, mail: Mail) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[Mail]:
        """Unsent mail whose next attempt is due, locked so that two senders never send one twice."""

    async def sent(self, mail_id: UUID, at: datetime) -> None: ...

    async def failed(self, mail_id: UUID, error: str, next_attempt_at: datetime) -> None: ...

    async def of_session(self, session_id: UUID) -> list[Mail]: ...


class Outbox(Protocol):
    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        """Queue the event in the unit of work's transaction, as `caisse_runtime.outbox.OutboxRow.of` makes its row
        (with the trace context of the span that writes it)."""


class UnitOfWork(work.UnitOfWork, Protocol):
    @property
    def inbox(self) -> Inbox: ...

    @property
    def totals(self) -> Totals: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def config(self) -> ConfigView: ...

    @property
    def reports(self) -> Reports: ...

    @property
    def deposits(self) -> Deposits: ...

    @property
    def mail(self) -> MailQueue: ...

    @property
    def outbox(self) -> Outbox: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class CountingWork(work.UnitOfWork, Protocol):
    """The unit of work of counting a batch of tickets: the inbox and the totals, in one transaction."""

    @property
    def inbox(self) -> Inbox: ...

    @property
    def totals(self) -> CountedTotals: ...


CountingWorkFactory = Callable[[], CountingWork]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


class MailSender(Protocol):
    async def send(
        self, *, recipients: Sequence[str], subject: str, text: str, html: str, attachments: Sequence[Attachment]
    ) -> None:
        """Hand the message to the mail server; raises when it cannot (the queue retries later)."""


class MailNotSentError(Exception):
    """The mail server refused the message or could not be reached: the queue retries it later."""


class Documents(Protocol):
    """Renders a Z report (and its deposit slip) for people: HTML, PDF, plain text, the till printer's bytes."""

    def warm_up(self) -> None:
        """Load what rendering needs ahead of the first close (it may block: call it from a worker thread)."""

    def report_json(self, report: ZReport) -> bytes: ...

    def report_html(self, report: ZReport) -> str: ...

    def report_text(self, report: ZReport) -> str: ...

    def report_pdf(self, report: ZReport) -> bytes: ...

    def deposit_slip_pdf(self, report: ZReport) -> bytes: ...

    def deposit_slip_escpos(self, report: ZReport) -> bytes: ...
