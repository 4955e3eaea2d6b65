"""What hw-proxy's use cases need from the outside: the local store (config cache, enrolment, sessions, sales, the
outbox), the device secret, stream tokens, and pos-api."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import SecretStr

from caisse_contracts.caisse_ap import PaymentRequest, TerminalAnswer
from caisse_contracts.config import CardTerminalFields, PrinterFields
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.session_api import (
    CloseOperationIn,
    MovementOperationIn,
    OpenOperationIn,
    SessionSyncOut,
)
from caisse_contracts.stream import StreamToken
from caisse_contracts.sync import OfflineSale, SyncAnswer
from caisse_contracts.till_reports import Numbering, TillReport
from caisse_contracts.tills import BasketContent, RefundIn
from hw_proxy.domain.card_payments import CardOperation, CardResult, CardStatus
from hw_proxy.domain.cash_session import LocalSession
from hw_proxy.domain.config_cache import CachedItem, EntityKey, StreamState
from hw_proxy.domain.login import PinState
from hw_proxy.domain.outbox import EntryKind, OutboxEntry, QueueCounts, Settled
from hw_proxy.domain.printing import NewPrintJob, PrinterState, PrintJob
from hw_proxy.domain.receipts import PrintDocument
from hw_proxy.domain.sales import FinalizedSale, Reprint, StoredBasket

Clock = Callable[[], datetime]


class ConfigStore(Protocol):
    """The till's config cache and its stream state, kept across restarts; every write is one transaction."""

    async def stream_state(self) -> StreamState:
        """The last position stored, when the notifier was last heard, and whether a reset was left half-done."""
        ...

    async def cached(self, key: EntityKey) -> CachedItem | None:
        """The row held for one entity (live, removed, or awaiting its snapshot), or None."""
        ...

    async def items(self) -> Sequence[CachedItem]:
        """Every row held, in entity order."""
        ...

    async def awaiting_snapshot(self) -> list[EntityKey]:
        """The entities whose item the till asked for and has not received yet."""
        ...

    async def record(
        self, write: CachedItem | None, *, position: int | None, at: datetime, seen_in_reset: bool
    ) -> None:
        """One message, in one transaction: the item's row (if any), the stream position (if any, never backwards)
        and the time it came; `seen_in_reset` marks the row as received since the reset began."""
        ...

    async def begin_reset(self, at: datetime) -> None:
        """A reset starts: no row counts as received since, and the reset is stored as in progress."""
        ...

    async def finish_reset(self, position: int | None, at: datetime) -> int:
        """The reset's `Synced`, in one transaction: drop every row not received since the reset began, store the
        position and the sync time, and end the reset. Returns how many rows were dropped."""
        ...

    async def synced(self, position: int | None, at: datetime) -> None:
        """A `Synced` outside a reset: the till has caught up to `position` (never backwards)."""
        ...


class StreamTokens(Protocol):
    """Where the till gets the token that opens its config stream (pos-api)."""

    async def fetch(self) -> StreamToken:
        """A fresh stream token for this till; raises `TokenUnavailableError` when none can be had now."""
        ...


class TokenUnavailableError(Exception):
    """No stream token could be had: pos-api is away, or refuses the device (`refused`)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


class EnrolmentStore(Protocol):
    """Where the till keeps its serial (the secret lives apart, `SecretKeeper`)."""

    async def enrolled_serial(self) -> str | None: ...

    async def enrol(self, serial: str, at: datetime) -> None: ...


class SecretKeeper(Protocol):
    """The till's device secret, in a place only the agent may read (a 0600 file)."""

    def write(self, secret: SecretStr) -> None: ...

    def read(self) -> SecretStr | None: ...


class CentralUnreachableError(Exception):
    """pos-api did not answer in time, could not be reached, or failed (5xx): the till works on, offline."""


class CentralRefusedError(Exception):
    """pos-api answered with a refusal (4xx): `status` and the problem's `detail`."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body or {}


class CentralApi(Protocol):
    """pos-api as the till calls it with its device credentials; every call has a short timeout and raises
    `CentralUnreachableError` rather than making the till wait."""

    async def numbering(self) -> Numbering:
        """The till's highest ticket number pos-api holds and the latest release of its numbering by ops
        (`GET /v1/till/numbering`)."""
        ...

    async def report(self, report: TillReport) -> None:
        """Tell pos-api what the till knows of itself (`PUT /v1/till/report`), for ops."""
        ...

    async def cashier_login(self, operator_id: UUID, pin: str) -> None:
        """pos-api's check of a cashier's PIN; `CentralRefusedError` (401, 429) when it refuses."""
        ...

    async def post_ticket(self, ticket: TicketFinalizedV1) -> str:
        """`POST /v1/tickets`: `created` or `already_exists`; `CentralRefusedError` when refused (409, 422…)."""
        ...

    async def sync_sales(self, sales: list[OfflineSale]) -> SyncAnswer:
        """`POST /v1/sync/sales`: one result per sale, in order."""
        ...

    async def sync_sessions(self, operations: list[dict[str, Any]]) -> SessionSyncOut:
        """`POST /v1/sync/sessions`: one result per operation, in order."""
        ...

    async def deposit_slip(self, session_id: UUID) -> bytes:
        """The session's bank deposit slip as ESC/POS bytes (session-service's, through pos-api)."""
        ...


class PrinterUnavailableError(Exception):
    """The printer cannot take a job now (`state`: offline, paper_out); nothing of the job was sent."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class JobInterruptedError(Exception):
    """The connection ended in the middle of a job: part of it may be on the paper; it is printed again whole."""


class ReceiptRenderer(Protocol):
    """Lays a print document out as the printer's bytes."""

    def render(self, document: PrintDocument, setup: PrinterFields) -> bytes: ...


class ReceiptPrinter(Protocol):
    """The POS's printer: its state, and one job sent whole (`PrinterUnavailableError` before anything was sent,
    `JobInterruptedError` once part of it was)."""

    async def state(self, setup: PrinterFields) -> PrinterState: ...

    async def send(self, setup: PrinterFields, data: bytes) -> None: ...


class TerminalUnreachableError(Exception):
    """The card terminal could not be reached: nothing was sent, so nothing was charged."""


class TerminalUnansweredError(Exception):
    """The request went to the terminal but no trustworthy final answer came back: `code` says how (`no_answer`
    within the client timeout, `connection_lost`, `invalid_answer`). The card may have been charged."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class CardTerminal(Protocol):
    """The POS's card terminal, spoken to in Caisse-AP over TCP (`adapters.card_terminal`)."""

    async def transact(self, setup: CardTerminalFields, request: PaymentRequest) -> TerminalAnswer:
        """Send `request` and return the terminal's final answer (after the `BA=1` acknowledgement, if asked);
        `TerminalUnreachableError` when nothing could be sent, `TerminalUnansweredError` when it was sent and no
        final answer came within `setup.timeout_s`."""
        ...


class TillStore(Protocol):
    """The till's own records (`adapters.store.TillRecords`); each write is one SQLite transaction."""

    async def items(self) -> Sequence[CachedItem]: ...

    async def pin_state(self, operator_id: UUID) -> PinState | None: ...

    async def learn_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None: ...

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None: ...

    async def open_session(self) -> LocalSession | None: ...

    async def session(self, session_id: UUID) -> LocalSession | None: ...

    async def movements(self, session_id: UUID) -> list[MovementOperationIn]: ...

    async def record_open(self, operation: OpenOperationIn, at: datetime) -> LocalSession: ...

    async def record_movement(
        self, operation: MovementOperationIn, at: datetime, print_job: NewPrintJob | None = None
    ) -> None: ...

    async def record_close(self, operation: CloseOperationIn, closing: dict[str, Any], at: datetime) -> None: ...

    async def last_number(self) -> int: ...

    async def resume_numbering(self, after: int) -> int:
        """Move the till's last number up to `after` (never down), in one transaction: ops released the till to
        resume there. Returns the last number now."""
        ...

    async def basket(self, basket_id: UUID) -> StoredBasket | None: ...

    async def save_basket(self, basket_id: UUID, version: int, content: BasketContent, at: datetime) -> int: ...

    async def finalize(
        self,
        make: Callable[[int], FinalizedSale],
        *,
        basket: tuple[UUID, int] | None,
        at: datetime,
        print_job: Callable[[FinalizedSale], NewPrintJob] | None = None,
        card_terminal: bool = False,
    ) -> FinalizedSale: ...

    async def sale(self, ticket_id: UUID) -> tuple[FinalizedSale, OutboxEntry | None] | None: ...

    async def reprint(
        self, ticket_id: UUID, at: datetime, print_job: Callable[[Reprint], NewPrintJob] | None = None
    ) -> Reprint | None: ...

    async def credit(
        self,
        original_id: UUID,
        credit_note_id: UUID,
        make: Callable[[int, TicketFinalizedV1, list[TicketFinalizedV1]], TicketFinalizedV1],
        at: datetime,
        print_job: Callable[[TicketFinalizedV1, int, tuple[str, ...]], NewPrintJob] | None = None,
        *,
        refunds: Sequence[RefundIn] = (),
        card_terminal: bool = False,
    ) -> tuple[TicketFinalizedV1, int, bool]: ...

    async def card_slips(self, ticket_id: UUID) -> tuple[str, ...]:
        """The terminal's slips of a ticket's card payments (a sale) or of the card refunds it claimed (a credit
        note), oldest first."""
        ...

    async def entry_of(self, kind: EntryKind, ref: UUID) -> OutboxEntry | None: ...

    async def card_operation(self, operation_id: UUID) -> CardOperation | None: ...

    async def card_operations(
        self, *, status: CardStatus | None = None, basket_id: UUID | None = None, ticket_id: UUID | None = None
    ) -> list[CardOperation]: ...

    async def begin_card_operation(self, operation: CardOperation) -> tuple[CardOperation, bool]: ...

    async def settle_card_operation(
        self, operation_id: UUID, result: CardResult, at: datetime
    ) -> tuple[CardOperation, int | None]: ...

    async def settle_sale(self, ticket_id: UUID, settled: Settled, at: datetime) -> bool: ...

    async def pending(self, limit: int) -> list[OutboxEntry]: ...

    async def settle(self, results: Sequence[Settled], at: datetime) -> None: ...

    async def aside(self) -> list[OutboxEntry]: ...

    async def queue_counts(self) -> QueueCounts: ...

    async def add_print_job(self, job: NewPrintJob, at: datetime) -> PrintJob: ...

    async def next_print_job(self) -> PrintJob | None: ...

    async def print_started(self, job_id: int, at: datetime) -> None: ...

    async def print_done(self, job_id: int, at: datetime) -> None: ...

    async def print_failed(
        self, job_id: int, reason: str, at: datetime, *, interrupted: bool, state: str = "pending"
    ) -> None: ...

    async def print_without_printer(self, at: datetime) -> int: ...

    async def print_jobs(self, limit: int) -> list[PrintJob]: ...

    async def print_job(self, job_id: int) -> PrintJob | None: ...

    async def retry_print_job(self, job_id: int, at: datetime) -> PrintJob | None: ...
