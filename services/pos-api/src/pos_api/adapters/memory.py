"""In-memory fakes of pos-api's ports, for unit tests of the service layer (no server, milliseconds).

`tests/ports` runs one suite against these and against PostgreSQL (`sql.py`), so that they cannot drift apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType
from caisse_contracts.till_reports import NumberingRelease, TillReport
from caisse_runtime.outbox import OutboxRow
from pos_api.domain.config import StoredItem
from pos_api.domain.errors import TicketConflict
from pos_api.domain.stock import LevelChange, StockMovement, StockRule
from pos_api.domain.tickets import TicketGaps, gaps_of
from pos_api.service_layer.ports import (
    CheckoutView,
    ClosingMark,
    DeviceCredential,
    MovementFilter,
    PinState,
    ReceivedReport,
    SessionState,
    StockDocument,
    StockLevel,
    StoredBasket,
    StoredTicket,
)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """An event queued in the outbox: the envelope as the use case made it, and the row PostgreSQL would store."""

    envelope: Envelope[Any]
    row: OutboxRow

    @property
    def topic(self) -> str:
        return self.row.topic

    @property
    def key(self) -> str:
        return self.row.key


@dataclass(frozen=True, slots=True)
class OperatorCredential:
    """An operator's row of credentials: a bearer token, a PIN, or both."""

    token_sha256: str | None
    pin: PinState


@dataclass
class MemoryState:
    """What the fakes keep between units of work: committed tickets and events."""

    tickets: dict[tuple[UUID, int], StoredTicket] = field(default_factory=dict)
    events: list[QueuedEvent] = field(default_factory=list)
    items: dict[UUID, StoredItem] = field(default_factory=dict)
    history: list[tuple[StoredItem, list[dict[str, Any]]]] = field(default_factory=list)
    generation: int = 1
    devices: dict[UUID, DeviceCredential] = field(default_factory=dict)
    """pos id → its device's credential."""
    operators: dict[UUID, OperatorCredential] = field(default_factory=dict)
    paheko: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[UUID, SessionState] = field(default_factory=dict)
    processed: set[UUID] = field(default_factory=set)
    baskets: dict[UUID, StoredBasket] = field(default_factory=dict)
    gaps: dict[tuple[UUID, int], datetime] = field(default_factory=dict)
    seats_sold: dict[UUID, int] = field(default_factory=dict)
    conflicts: dict[tuple[UUID, int, str], TicketConflict] = field(default_factory=dict)
    stock_levels: dict[tuple[UUID, UUID], StockLevel] = field(default_factory=dict)
    """(shop id, product id) → its level."""
    stock_movements: list[StockMovement] = field(default_factory=list)
    stock_documents: dict[UUID, StockDocument] = field(default_factory=dict)
    till_reports: dict[UUID, ReceivedReport] = field(default_factory=dict)
    releases: dict[tuple[UUID, int], NumberingRelease] = field(default_factory=dict)


class InMemoryTickets:
    def __init__(self, state: MemoryState, pending: dict[tuple[UUID, int], StoredTicket]) -> None:
        self._state = state
        self._pending = pending

    def _all(self) -> list[StoredTicket]:
        return [*self._state.tickets.values(), *self._pending.values()]

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        return self._pending.get((pos_id, number)) or self._state.tickets.get((pos_id, number))

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]:
        notes = [t for t in self._all() if t.ticket.original_ticket_id == ticket_id]
        return sorted(notes, key=lambda t: t.received_at)

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None:
        return next((t for t in self._all() if t.ticket.ticket_id == ticket_id), None)

    async def last_number(self, pos_id: UUID) -> int | None:
        numbers = [n for (p, n) in [*self._state.tickets, *self._pending] if p == pos_id]
        return max(numbers, default=None)

    async def last_numbers(self, pos_ids: list[UUID]) -> dict[UUID, int]:
        last: dict[UUID, int] = {}
        for pos_id, number in [*self._state.tickets, *self._pending]:
            if pos_id in pos_ids:
                last[pos_id] = max(number, last.get(pos_id, 0))
        return last

    async def note_gaps(self, pos_id: UUID, gaps: TicketGaps, at: datetime) -> None:
        self._state.gaps.pop((pos_id, gaps.closed), None)
        for missing in gaps.opened:
            if (pos_id, missing) not in self._state.tickets and (pos_id, missing) not in self._pending:
                self._state.gaps.setdefault((pos_id, missing), at)

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        return sorted((p, n, at) for (p, n), at in self._state.gaps.items() if p in pos_ids)

    async def add(self, stored: StoredTicket) -> bool:
        key = (stored.ticket.pos_id, stored.ticket.number)
        if key in self._state.tickets or key in self._pending or await self.by_id(stored.ticket.ticket_id):
            return False
        self._pending[key] = stored
        return True

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        self._state.conflicts.setdefault((conflict.pos_id, conflict.number, conflict.attempt_sha256), conflict)

    async def conflicts(self, pos_ids: list[UUID]) -> list[TicketConflict]:
        kept = [c for c in self._state.conflicts.values() if c.pos_id in pos_ids]
        return sorted(kept, key=lambda c: (c.detected_at, c.pos_id, c.number))

    async def matching(self, pos_id: UUID, numbers: list[int], ticket_ids: list[UUID]) -> list[StoredTicket]:
        wanted_numbers, wanted_ids = set(numbers), set(ticket_ids)
        return [
            t
            for t in self._all()
            if (t.ticket.pos_id == pos_id and t.ticket.number in wanted_numbers) or t.ticket.ticket_id in wanted_ids
        ]


class InMemoryOutbox:
    def __init__(self, pending: list[QueuedEvent]) -> None:
        self._pending = pending

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        self.queue(envelope, row)

    def queue(self, envelope: Envelope[Any], row: OutboxRow) -> None:
        """Queue `envelope` as `row`, made by the caller."""
        self._pending.append(QueuedEvent(envelope, row))


class InMemoryConfigItems:
    """Writes are applied at once: a unit of work that fails before commit is not modelled by this fake."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        return self._state.items.get(entity_id)

    async def put(
        self, stored: StoredItem, *, patch: list[dict[str, Any]], changed_by: UUID | None, changed_at: datetime
    ) -> None:
        # kept in the order of their last change, as PostgreSQL lists them
        self._state.items.pop(stored.id, None)
        self._state.items[stored.id] = stored
        self._state.history.append((stored, patch))
        self._state.generation += 1

    async def list(
        self, entity_type: EntityType, *, company_id: UUID | None = None, shop_id: UUID | None = None
    ) -> list[StoredItem]:
        return [
            i
            for i in self._state.items.values()
            if i.entity_type is entity_type
            and not i.deleted
            and (company_id is None or i.hierarchy.company_id == company_id)
            and (shop_id is None or i.hierarchy.shop_id == shop_id)
        ]

    async def generation(self) -> int:
        return self._state.generation

    async def versions(self, refs: Sequence[tuple[UUID, int]]) -> Sequence[StoredItem]:
        wanted: set[tuple[UUID, int]] = set(refs)
        return [stored for stored, _ in self._state.history if (stored.id, stored.version) in wanted]


class InMemoryCredentials:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def device(self, serial: str) -> DeviceCredential | None:
        return next((d for d in self._state.devices.values() if d.serial == serial), None)

    async def set_device(self, pos_id: UUID, serial: str, secret_sha256: str, at: datetime) -> None:
        self._state.devices[pos_id] = DeviceCredential(pos_id, serial, secret_sha256)
        self._state.generation += 1

    async def operator_for_token(self, token_sha256: str) -> UUID | None:
        return next((o for o, c in self._state.operators.items() if c.token_sha256 == token_sha256), None)

    async def set_operator_token(self, operator_id: UUID, token_sha256: str, at: datetime) -> None:
        current = self._state.operators.get(operator_id)
        pin = current.pin if current else PinState(None, 0, None)
        self._state.operators[operator_id] = OperatorCredential(token_sha256, pin)

    async def hold_bootstrap(self) -> None:
        """The fakes never yield to the event loop between a check and a write: nothing to hold."""

    async def set_paheko(self, company_id: UUID, user: str, password_encrypted: str, at: datetime) -> None:
        self._state.paheko[company_id] = (user, password_encrypted)

    async def set_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None:
        current = self._state.operators.get(operator_id)
        self._state.operators[operator_id] = OperatorCredential(
            current.token_sha256 if current else None, PinState(pin_hash, 0, None)
        )

    async def pin_state(self, operator_id: UUID) -> PinState | None:
        current = self._state.operators.get(operator_id)
        return current.pin if current else None

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None:
        current = self._state.operators.get(operator_id)
        if current is not None:
            pin = PinState(current.pin.pin_hash, failed_pins, locked_until)
            self._state.operators[operator_id] = OperatorCredential(current.token_sha256, pin)

    async def has_paheko(self, company_id: UUID) -> bool:
        return company_id in self._state.paheko

    async def paheko(self, company_id: UUID) -> tuple[str, str] | None:
        return self._state.paheko.get(company_id)


class InMemorySessions:
    def __init__(self, state: MemoryState, pending: dict[tuple[UUID, int], StoredTicket]) -> None:
        self._state = state
        self._pending = pending

    async def of_pos(self, pos_id: UUID, *, lock: bool = False) -> SessionState | None:
        return self._state.sessions.get(pos_id)

    async def opened(self, pos_id: UUID, session_id: UUID, opened_at: datetime) -> None:
        current = self._state.sessions.get(pos_id)
        if current is not None and current.session_id == session_id and not current.is_open:
            return  # closing or closed: only a refused close reopens it
        if current is None or current.opened_at <= opened_at:
            self._state.sessions[pos_id] = SessionState(pos_id, session_id, True, opened_at)

    async def mark_closing(self, pos_id: UUID, session_id: UUID, declared: int | None) -> ClosingMark | None:
        current = self._state.sessions.get(pos_id)
        if current is None or current.session_id != session_id:
            return None
        tickets = [*self._state.tickets.items(), *self._pending.items()]
        numbers = [n for (p, n), t in tickets if p == pos_id and t.ticket.session_id == session_id]
        last = max(
            [n for n in (declared, max(numbers, default=None), current.last_ticket_number) if n is not None],
            default=None,
        )
        if current.is_open or current.closing:
            self._state.sessions[pos_id] = SessionState(pos_id, session_id, False, current.opened_at, True, last)
        return ClosingMark(current.is_open, last)

    async def reopen(self, pos_id: UUID, session_id: UUID) -> None:
        current = self._state.sessions.get(pos_id)
        if current is not None and current.session_id == session_id and current.closing:
            self._state.sessions[pos_id] = SessionState(pos_id, session_id, True, current.opened_at)

    async def closed(self, pos_id: UUID, session_id: UUID, closed_at: datetime, last_ticket_number: int | None) -> None:
        current = self._state.sessions.get(pos_id)
        if current is not None and current.session_id == session_id:
            self._state.sessions[pos_id] = SessionState(pos_id, session_id, False, current.opened_at)


class InMemoryInbox:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        if event_id in self._state.processed:
            return False
        self._state.processed.add(event_id)
        return True


class InMemoryBaskets:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, basket_id: UUID, *, for_update: bool = False) -> StoredBasket | None:
        return self._state.baskets.get(basket_id)

    async def put(self, basket: StoredBasket) -> None:
        self._state.baskets[basket.id] = basket

    async def open_of_pos(self, pos_id: UUID) -> StoredBasket | None:
        open_ones = [b for b in self._state.baskets.values() if b.pos_id == pos_id and not b.finalized]
        return max(open_ones, key=lambda b: b.updated_at, default=None)


class InMemorySeats:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def take(self, product_id: UUID, capacity: int, quantity: int) -> int | None:
        sold = self._state.seats_sold.get(product_id, 0)
        if sold + quantity > capacity:
            return None
        self._state.seats_sold[product_id] = sold + quantity
        return capacity - sold - quantity

    async def left(self, product_id: UUID, capacity: int) -> int:
        return max(capacity - self._state.seats_sold.get(product_id, 0), 0)


class InMemoryCheckout:
    """Finalize's read and guarded write over the other fakes, with the guards of `SqlCheckout`'s statement."""

    def __init__(
        self,
        state: MemoryState,
        tickets: InMemoryTickets,
        sessions: InMemorySessions,
        baskets: InMemoryBaskets,
        outbox: InMemoryOutbox,
    ) -> None:
        self._state = state
        self._tickets = tickets
        self._sessions = sessions
        self._baskets = baskets
        self._outbox = outbox
        self.ended: dict[UUID, StoredBasket] = {}

    async def read(self, basket_id: UUID, pos_id: UUID, number: int) -> CheckoutView:
        return CheckoutView(
            basket=await self._baskets.get(basket_id, for_update=True),
            holder=await self._tickets.by_number(pos_id, number),
            session=await self._sessions.of_pos(pos_id),
            last_number=await self._tickets.last_number(pos_id),
        )

    async def record(
        self, stored: StoredTicket, basket: StoredBasket, event: Envelope[Any], *, topic: str, seen: CheckoutView
    ) -> bool:
        ticket = stored.ticket
        current = self._state.baskets.get(basket.id)
        if current is None and seen.basket is not None:
            return False
        if current is not None and (
            current.finalized
            or current.pos_id != basket.pos_id
            or seen.basket is None
            or current.version != seen.basket.version
        ):
            return False
        session = self._state.sessions.get(ticket.pos_id)
        if session is None or seen.session is None or session.session_id != ticket.session_id:
            return False
        as_seen = (seen.session.session_id, seen.session.is_open, seen.session.closing, seen.session.last_ticket_number)
        if (session.session_id, session.is_open, session.closing, session.last_ticket_number) != as_seen:
            return False
        if not await self._tickets.add(stored):
            return False
        await self._tickets.note_gaps(ticket.pos_id, gaps_of(ticket.number, seen.last_number), stored.received_at)
        body = stored.body or ticket.model_dump_json()
        where = {"key": str(ticket.pos_id), "aggregate_type": "ticket", "aggregate_id": str(ticket.ticket_id)}
        self._outbox.queue(event, OutboxRow.of(event, topic=topic, data_json=body, **where))
        self.ended[basket.id] = basket  # ends at the commit: a sale refused after its write leaves it open
        return True


class InMemoryStock:
    """The stock on the fakes: the fakes never yield between a read and a write, so a level needs no lock; what a
    unit of work changes is kept aside and lands at its commit, as PostgreSQL's transaction would."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self.levels_changed: dict[tuple[UUID, UUID], StockLevel] = {}
        self.moved: list[StockMovement] = []
        self.documents: dict[UUID, StockDocument] = {}

    def _level(self, shop_id: UUID, product_id: UUID) -> StockLevel | None:
        key = (shop_id, product_id)
        return self.levels_changed.get(key) or self._state.stock_levels.get(key)

    async def rules(self, product_ids: Sequence[UUID]) -> dict[UUID, StockRule]:
        found = (self._state.items.get(p) for p in product_ids)
        rules = (StockRule.of(i.item) for i in found if i is not None and i.entity_type is EntityType.PRODUCT)
        return {rule.product_id: rule for rule in rules if rule is not None}

    async def add(self, shop_id: UUID, changes: Sequence[tuple[UUID, int]], at: datetime) -> list[LevelChange]:
        moved = []
        for product_id, change in sorted(changes):
            current = self._level(shop_id, product_id)
            before = current.level if current else 0
            self.levels_changed[(shop_id, product_id)] = StockLevel(shop_id, product_id, before + change, at)
            moved.append(LevelChange(product_id, before, before + change))
        return moved

    async def hold(self, shop_id: UUID, product_ids: Sequence[UUID], at: datetime) -> dict[UUID, int]:
        held = {}
        for product_id in sorted(set(product_ids)):
            current = self._level(shop_id, product_id)
            if current is None:
                current = StockLevel(shop_id, product_id, 0, at)
                self.levels_changed[(shop_id, product_id)] = current
            held[product_id] = current.level
        return held

    async def record(self, movements: Sequence[StockMovement]) -> None:
        known = {m.id for m in (*self._state.stock_movements, *self.moved)}
        self.moved += [m for m in movements if m.id not in known]

    async def claim_document(self, document: StockDocument) -> StockDocument | None:
        existing = self.documents.get(document.id) or self._state.stock_documents.get(document.id)
        if existing is None:
            self.documents[document.id] = document
        return existing

    async def document_movements(self, document_id: UUID) -> list[StockMovement]:
        return [m for m in (*self._state.stock_movements, *self.moved) if m.document_id == document_id]

    async def levels(self, shop_id: UUID, product_ids: Sequence[UUID] | None = None) -> list[StockLevel]:
        wanted = set(product_ids) if product_ids is not None else None
        keys = {*self._state.stock_levels, *self.levels_changed}
        found = [self._level(s, p) for s, p in keys if s == shop_id and (wanted is None or p in wanted)]
        return sorted((f for f in found if f is not None), key=lambda level: level.product_id)

    async def movements(
        self, shop_id: UUID, where: MovementFilter, *, before_seq: int | None, limit: int
    ) -> list[StockMovement]:
        found = [
            m
            for m in self._state.stock_movements
            if m.shop_id == shop_id
            and (where.product_id is None or m.product_id == where.product_id)
            and (where.reason is None or m.reason.value == where.reason)
            and (where.document_id is None or m.document_id == where.document_id)
            and (where.since is None or m.moved_at >= where.since)
            and (where.until is None or m.moved_at < where.until)
            and (before_seq is None or (m.seq or 0) < before_seq)
        ]
        return sorted(found, key=lambda m: m.seq or 0, reverse=True)[:limit]

    def commit(self) -> None:
        self._state.stock_levels.update(self.levels_changed)
        first = len(self._state.stock_movements) + 1
        self._state.stock_movements += [dataclasses.replace(m, seq=first + n) for n, m in enumerate(self.moved)]
        self._state.stock_documents.update(self.documents)
        self.forget()

    def forget(self) -> None:
        self.levels_changed.clear()
        self.moved.clear()
        self.documents.clear()


class InMemoryTillReports:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def save(self, pos_id: UUID, report: TillReport, received_at: datetime) -> bool:
        held = self._state.till_reports.get(pos_id)
        if held is not None and held.report.reported_at > report.reported_at:
            return False
        self._state.till_reports[pos_id] = ReceivedReport(pos_id, report, received_at)
        return True

    async def of(self, pos_ids: list[UUID]) -> list[ReceivedReport]:
        return [r for p, r in self._state.till_reports.items() if p in pos_ids]

    async def release(self, release: NumberingRelease) -> NumberingRelease:
        return self._state.releases.setdefault((release.pos_id, release.resume_after), release)

    async def last_releases(self, pos_ids: list[UUID]) -> dict[UUID, NumberingRelease]:
        last: dict[UUID, NumberingRelease] = {}
        for (pos_id, _after), release in sorted(self._state.releases.items()):
            if pos_id in pos_ids:
                last[pos_id] = release
        return last


class InMemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._tickets: dict[tuple[UUID, int], StoredTicket] = {}
        self._events: list[QueuedEvent] = []
        self.tickets = InMemoryTickets(state, self._tickets)
        self.outbox = InMemoryOutbox(self._events)
        self.config = InMemoryConfigItems(state)
        self.credentials = InMemoryCredentials(state)
        self.sessions = InMemorySessions(state, self._tickets)
        self.inbox = InMemoryInbox(state)
        self.baskets = InMemoryBaskets(state)
        self.seats = InMemorySeats(state)
        self.checkout = InMemoryCheckout(state, self.tickets, self.sessions, self.baskets, self.outbox)
        self.stock = InMemoryStock(state)
        self.till_reports = InMemoryTillReports(state)
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tickets.clear()
        self._events.clear()
        self.stock.forget()
        self.checkout.ended.clear()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        tickets, events, gaps = dict(self._tickets), len(self._events), dict(self._state.gaps)
        stock = (dict(self.stock.levels_changed), len(self.stock.moved), dict(self.stock.documents))
        try:
            yield
        except BaseException:
            self._tickets.clear()
            self._tickets.update(tickets)
            del self._events[events:]
            self._state.gaps.clear()
            self._state.gaps.update(gaps)
            self.stock.levels_changed.clear()
            self.stock.levels_changed.update(stock[0])
            del self.stock.moved[stock[1] :]
            self.stock.documents.clear()
            self.stock.documents.update(stock[2])
            raise

    async def commit(self) -> None:
        self._state.tickets.update(self._tickets)
        self._state.events.extend(self._events)
        self._tickets.clear()
        self._events.clear()
        self.stock.commit()
        self._state.baskets.update(self.checkout.ended)
        self.checkout.ended.clear()
        self.committed = True
