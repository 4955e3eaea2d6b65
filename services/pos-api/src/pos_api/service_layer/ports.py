"""The ports pos-api's use cases need: a unit of work with its repositories and outbox, a clock, ids, the signer
of the tills' stream tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.stream import StreamClaims, StreamKeySet
from caisse_contracts.till_reports import NumberingRelease, TillReport
from caisse_contracts.tills import BasketContent
from caisse_runtime import work
from pos_api.domain.config import StoredItem
from pos_api.domain.errors import TicketConflict
from pos_api.domain.stock import LevelChange, StockMovement, StockRule
from pos_api.domain.tickets import TicketGaps, json_digest

Clock = Callable[[], datetime]
"""Aware UTC now."""

IdFactory = Callable[[], UUID]


@dataclass(frozen=True, slots=True)
class StoredTicket:
    """A ticket as pos-api keeps it: immutable once stored."""

    ticket: TicketFinalizedV1
    content_hash: str
    received_at: datetime
    body: str = ""
    """The ticket's JSON when it is at hand: made once for its hash, its row and its event."""

    @classmethod
    def new(cls, ticket: TicketFinalizedV1, received_at: datetime) -> StoredTicket:
        body = ticket.model_dump_json()
        return cls(ticket, json_digest(body, ticket), received_at, body)


@dataclass(frozen=True, slots=True)
class SessionState:
    """What pos-api knows of a till's cash session, from `session.opened` / `session.closed` and from the till's own
    open and close, which pos-api records as it forwards them."""

    pos_id: UUID
    session_id: UUID
    is_open: bool
    opened_at: datetime
    closing: bool = False
    """The till asked to close it and session-service has not closed it yet."""
    last_ticket_number: int | None = None
    """While closing: the last ticket the close waits for. Tickets up to it (sold before the close, reaching
    pos-api late, as from a till that was offline) still enter the session; no later one does."""

    def takes(self, number: int) -> bool:
        """Whether a ticket numbered `number` enters this session."""
        if self.is_open:
            return True
        return self.closing and self.last_ticket_number is not None and number <= self.last_ticket_number


@dataclass(frozen=True, slots=True)
class ClosingMark:
    """What marking a till's session closing found: whether it was open (so that a refused close reopens it) and
    the last ticket number the close waits for: the till's, or a higher one pos-api holds in the session (a sale
    sent as the till closed), every sale of the session being in by then."""

    was_open: bool
    last_number: int | None


class Sessions(Protocol):
    async def of_pos(self, pos_id: UUID, *, lock: bool = False) -> SessionState | None:
        """The till's session; with `lock`, held (shared) until the unit of work ends, so that no close marks it
        closing in between."""

    async def opened(self, pos_id: UUID, session_id: UUID, opened_at: datetime) -> None:
        """Record the till's session as open, unless a newer one is known or this one is closing or closed."""

    async def mark_closing(self, pos_id: UUID, session_id: UUID, declared: int | None) -> ClosingMark | None:
        """Mark the session closing, awaiting tickets up to the till's `declared` last number (or pos-api's highest
        in the session if higher): no later sale enters it from now on. None when it is not the till's session.

        It waits for a sale being written in the session, and the number it answers includes that sale."""

    async def reopen(self, pos_id: UUID, session_id: UUID) -> None:
        """A closing session back to open (session-service refused the close or says it is open)."""

    async def closed(
        self, pos_id: UUID, session_id: UUID, closed_at: datetime, last_ticket_number: int | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredBasket:
    id: UUID
    pos_id: UUID
    version: int
    content: BasketContent
    finalized: bool
    ticket_id: UUID | None
    updated_at: datetime


class Baskets(Protocol):
    async def get(self, basket_id: UUID, *, for_update: bool = False) -> StoredBasket | None: ...

    async def put(self, basket: StoredBasket) -> None: ...

    async def open_of_pos(self, pos_id: UUID) -> StoredBasket | None:
        """The till's most recent open basket: what it finds again after a reboot."""


class Seats(Protocol):
    async def take(self, product_id: UUID, capacity: int, quantity: int) -> int | None:
        """Book `quantity` seats of an event; the seats left, or None (nothing booked) when it is full."""

    async def left(self, product_id: UUID, capacity: int) -> int:
        """The seats of an event not sold yet."""


class Inbox(Protocol):
    async def claim(self, event_id: UUID, event_type: str) -> bool: ...


class Tickets(Protocol):
    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        """The ticket the POS numbered `number`, if any."""

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None: ...

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]: ...

    async def last_number(self, pos_id: UUID) -> int | None:
        """The highest ticket number received from the POS."""

    async def last_numbers(self, pos_ids: list[UUID]) -> dict[UUID, int]:
        """The highest ticket number received from each POS given that sent any."""

    async def note_gaps(self, pos_id: UUID, gaps: TicketGaps, at: datetime) -> None:
        """Store what a ticket's number does to the till's gaps (`gaps_of`): close the gap of its number, open the
        numbers it skips that no ticket holds (one may have come since they were read as free), each once."""

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        """(POS, missing number, since when) of the tills given."""

    async def add(self, stored: StoredTicket) -> bool:
        """Store a new ticket; False (and nothing written) when its POS already used the number or its id is
        already a ticket's."""

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        """Keep aside a number sent again with other content; the same attempt twice is kept once."""

    async def conflicts(self, pos_ids: list[UUID]) -> list[TicketConflict]:
        """The conflicts kept aside for the tills given, oldest first."""

    async def matching(self, pos_id: UUID, numbers: list[int], ticket_ids: list[UUID]) -> list[StoredTicket]:
        """In one read: the POS's tickets numbered among `numbers`, and any ticket whose id is among `ticket_ids`
        (of whichever till): what a batch of synced sales may already hold."""


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    """A till's last report and when pos-api received it."""

    pos_id: UUID
    report: TillReport
    received_at: datetime


class TillReports(Protocol):
    """What the tills report of themselves, and the releases of their numbering given by ops."""

    async def save(self, pos_id: UUID, report: TillReport, received_at: datetime) -> bool:
        """Keep the till's report unless one reported later is already held; False when it was older (kept none)."""

    async def of(self, pos_ids: list[UUID]) -> list[ReceivedReport]:
        """The last report of each till given that reported."""

    async def release(self, release: NumberingRelease) -> NumberingRelease:
        """Keep a release; the one already given for the same till and number is kept instead, and answered."""

    async def last_releases(self, pos_ids: list[UUID]) -> dict[UUID, NumberingRelease]:
        """The latest release of each till given that has one (the one for its highest number)."""


class Outbox(Protocol):
    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        """Queue an event, to be published once the unit of work commits."""


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    pos_id: UUID
    serial: str
    secret_sha256: str


class ConfigItems(Protocol):
    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        """The item, deleted or not; locked until the unit of work ends when `for_update`."""

    async def put(
        self, stored: StoredItem, *, patch: list[dict[str, Any]], changed_by: UUID | None, changed_at: datetime
    ) -> None:
        """Store this version of the item and remember it in the history."""

    async def list(
        self, entity_type: EntityType, *, company_id: UUID | None = None, shop_id: UUID | None = None
    ) -> list[StoredItem]:
        """Live items of a type, optionally within a company or a shop."""

    async def generation(self) -> int:
        """A number that changes whenever the configuration or a device's credentials change."""

    async def versions(self, refs: Sequence[tuple[UUID, int]]) -> Sequence[StoredItem]:
        """In one read: the items named (id, version) as they were at that version, from the history; a pair the
        history lacks is left out."""


@dataclass(frozen=True, slots=True)
class PinState:
    pin_hash: str | None
    failed_pins: int
    locked_until: datetime | None


class Credentials(Protocol):
    async def device(self, serial: str) -> DeviceCredential | None: ...

    async def set_device(self, pos_id: UUID, serial: str, secret_sha256: str, at: datetime) -> None: ...

    async def operator_for_token(self, token_sha256: str) -> UUID | None: ...

    async def set_operator_token(self, operator_id: UUID, token_sha256: str, at: datetime) -> None: ...

    async def hold_bootstrap(self) -> None:
        """Until the unit of work ends, be the only one creating the bootstrap admin (several processes start)."""

    async def set_paheko(self, company_id: UUID, user: str, password_encrypted: str, at: datetime) -> None: ...

    async def set_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None: ...

    async def pin_state(self, operator_id: UUID) -> PinState | None: ...

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None: ...

    async def has_paheko(self, company_id: UUID) -> bool: ...

    async def paheko(self, company_id: UUID) -> tuple[str, str] | None:
        """The company's Paheko API user and its password as sealed by the `SecretBox`."""


class SecretBox(Protocol):
    """Encrypts secrets kept in the database (Paheko credentials)."""

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class StreamTokenSigner(Protocol):
    """Signs a till's stream token, which the notifier checks against the public keys alone: it never calls
    pos-api for a connection. The private key never leaves the signer."""

    @property
    def ttl_s(self) -> int:
        """How long a token lives (at most `STREAM_TOKEN_MAX_S`)."""

    def sign(self, claims: StreamClaims) -> str:
        """The compact JWT of `claims`, its header naming the key (`kid`)."""

    def key_set(self) -> StreamKeySet:
        """The public keys that verify the tokens: the signing one, then the retired ones still accepted."""


@dataclass(frozen=True, slots=True)
class StockDocument:
    """A back-office stock document (a delivery, an adjustment, an inventory), kept once under the id the back
    office chose: the same document sent again is a retry, other content under its id a conflict."""

    id: UUID
    shop_id: UUID
    document_type: str
    reason: str
    reference: str | None
    note: str | None
    content_sha256: str
    created_by: UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StockLevel:
    shop_id: UUID
    product_id: UUID
    level: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MovementFilter:
    """Which movements of a shop a listing wants; None: any."""

    product_id: UUID | None = None
    reason: str | None = None
    document_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Excluded: movements strictly before it."""


class Stock(Protocol):
    """The stock levels per shop and product, their movements and the back office's stock documents."""

    async def rules(self, product_ids: Sequence[UUID]) -> dict[UUID, StockRule]:
        """The stock-tracked products among these (deleted ones too: a sale of yesterday still moves them)."""

    async def add(self, shop_id: UUID, changes: Sequence[tuple[UUID, int]], at: datetime) -> list[LevelChange]:
        """Add each change to its product's level at the shop (a new level starts at zero), and answer each
        level before and after, in the order of the product ids.

        The levels stay locked until the unit of work ends, taken in the order of the product ids: a second sale
        of a product waits for the first to end and then adds to what it left; two sales of the same products
        in another order never wait for each other in a circle."""

    async def hold(self, shop_id: UUID, product_ids: Sequence[UUID], at: datetime) -> dict[UUID, int]:
        """The levels of these products at the shop (a new one at zero), locked until the unit of work ends, in
        the order of the product ids (an inventory reads them before it sets them)."""

    async def record(self, movements: Sequence[StockMovement]) -> None:
        """Keep the movements; a movement id already kept is kept once."""

    async def claim_document(self, document: StockDocument) -> StockDocument | None:
        """Keep a new back-office document; the one already kept under its id (nothing written) if any."""

    async def document_movements(self, document_id: UUID) -> list[StockMovement]:
        """The movements a document made, in their order."""

    async def levels(self, shop_id: UUID, product_ids: Sequence[UUID] | None = None) -> list[StockLevel]:
        """The shop's levels (only these products when given), by product id."""

    async def movements(
        self, shop_id: UUID, where: MovementFilter, *, before_seq: int | None, limit: int
    ) -> list[StockMovement]:
        """The shop's movements that `where` wants, newest first, from before `before_seq` (the cursor) if given."""


class UnitOfWork(work.UnitOfWork, Protocol):
    @property
    def tickets(self) -> Tickets: ...

    @property
    def config(self) -> ConfigItems: ...

    @property
    def credentials(self) -> Credentials: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def baskets(self) -> Baskets: ...

    @property
    def seats(self) -> Seats: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def checkout(self) -> Checkout: ...

    @property
    def stock(self) -> Stock: ...

    @property
    def till_reports(self) -> TillReports: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A part of the unit of work that an exception undoes alone (the rest stays, to be committed)."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class CheckoutView:
    """What finalize reads before it decides: the basket (locked until the unit of work ends, in a transaction),
    the ticket already numbered `number` on this till if any, the till's session, and its highest number."""

    basket: StoredBasket | None
    holder: StoredTicket | None
    session: SessionState | None
    last_number: int | None


class Checkout(Protocol):
    """Finalize's reads and writes, each as one step: the hot path of every sale."""

    async def read(self, basket_id: UUID, pos_id: UUID, number: int) -> CheckoutView: ...

    async def record(
        self, stored: StoredTicket, basket: StoredBasket, event: Envelope[Any], *, topic: str, seen: CheckoutView
    ) -> bool:
        """Store the ticket, its gaps (`gaps_of` its number after `seen.last_number`), its event, and end its
        basket, at once.

        False, with nothing written, when what finalize decided on has moved since it read `seen`: the till
        already used the number, the basket's id is already a ticket, the basket is no longer open at the version
        seen (none seen: nobody may have saved it since), or the till's session is no longer as seen (the
        ticket's session).
        """
