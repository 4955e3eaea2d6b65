"""In-memory fakes of pos-api's ports, for unit tests of the service layer (no server, milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType
from pos_api.adapters.checkout import ComposedCheckout
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.tickets import TicketConflict
from pos_api.service_layer.ports import (
    ClosingMark,
    DeviceCredential,
    PinState,
    SessionState,
    StoredBasket,
    StoredTicket,
)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    envelope: Envelope[Any]
    topic: str
    key: str
    aggregate_type: str
    aggregate_id: str


@dataclass
class MemoryState:
    """What the fakes keep between units of work: committed tickets and events."""

    tickets: dict[tuple[UUID, int], StoredTicket] = field(default_factory=dict)
    events: list[QueuedEvent] = field(default_factory=list)
    items: dict[UUID, StoredItem] = field(default_factory=dict)
    history: list[tuple[StoredItem, list[dict[str, Any]]]] = field(default_factory=list)
    devices: dict[str, DeviceCredential] = field(default_factory=dict)
    operator_tokens: dict[str, UUID] = field(default_factory=dict)
    paheko: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[UUID, SessionState] = field(default_factory=dict)
    processed: set[UUID] = field(default_factory=set)
    baskets: dict[UUID, StoredBasket] = field(default_factory=dict)
    pins: dict[UUID, PinState] = field(default_factory=dict)
    gaps: dict[tuple[UUID, int], datetime] = field(default_factory=dict)
    seats_sold: dict[UUID, int] = field(default_factory=dict)
    conflicts: dict[tuple[UUID, int, str], TicketConflict] = field(default_factory=dict)


class InMemoryTickets:
    def __init__(self, state: MemoryState, pending: dict[tuple[UUID, int], StoredTicket]) -> None:
        self._state = state
        self._pending = pending

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        return self._pending.get((pos_id, number)) or self._state.tickets.get((pos_id, number))

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]:
        return [
            t
            for t in [*self._state.tickets.values(), *self._pending.values()]
            if t.ticket.original_ticket_id == ticket_id
        ]

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None:
        for stored in [*self._state.tickets.values(), *self._pending.values()]:
            if stored.ticket.ticket_id == ticket_id:
                return stored
        return None

    async def last_number(self, pos_id: UUID) -> int | None:
        numbers = [n for (p, n) in [*self._state.tickets, *self._pending] if p == pos_id]
        return max(numbers, default=None)

    async def note_number(self, pos_id: UUID, number: int, at: datetime) -> None:
        known = {n for (p, n) in [*self._state.tickets, *self._pending] if p == pos_id}
        below = [n for n in known if n < number]
        for missing in range(max(below, default=0) + 1, number):
            if missing not in known:
                self._state.gaps.setdefault((pos_id, missing), at)
        self._state.gaps.pop((pos_id, number), None)

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        return sorted((p, n, at) for (p, n), at in self._state.gaps.items() if p in pos_ids)

    async def add(self, stored: StoredTicket) -> bool:
        key = (stored.ticket.pos_id, stored.ticket.number)
        if key in self._state.tickets or key in self._pending:
            return False
        self._pending[key] = stored
        return True

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        self._state.conflicts.setdefault((conflict.pos_id, conflict.number, conflict.attempt_sha256), conflict)

    async def conflicts(self, pos_ids: list[UUID]) -> list[TicketConflict]:
        kept = [c for c in self._state.conflicts.values() if c.pos_id in pos_ids]
        return sorted(kept, key=lambda c: (c.detected_at, c.pos_id, c.number))


class InMemoryOutbox:
    def __init__(self, pending: list[QueuedEvent]) -> None:
        self._pending = pending

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        self._pending.append(QueuedEvent(envelope, topic, key, aggregate_type, aggregate_id))


class InMemoryConfigItems:
    """Writes are applied at once: a unit of work that fails before commit is not modelled by this fake."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        return self._state.items.get(entity_id)

    async def put(
        self, stored: StoredItem, *, patch: list[dict[str, Any]], changed_by: UUID | None, changed_at: datetime
    ) -> None:
        self._state.items[stored.id] = stored
        self._state.history.append((stored, patch))

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
        return len(self._state.history) + len(self._state.devices)


class InMemoryCredentials:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def device(self, serial: str) -> DeviceCredential | None:
        return self._state.devices.get(serial)

    async def set_device(self, pos_id: UUID, serial: str, secret_sha256: str, at: datetime) -> None:
        self._state.devices[serial] = DeviceCredential(pos_id, serial, secret_sha256)
        self._state.history.append((StoredItem(EntityType.POS, pos_id, 0, Hierarchy(), {}), []))

    async def operator_for_token(self, token_sha256: str) -> UUID | None:
        return self._state.operator_tokens.get(token_sha256)

    async def set_operator_token(self, operator_id: UUID, token_sha256: str, at: datetime) -> None:
        self._state.operator_tokens[token_sha256] = operator_id

    async def hold_bootstrap(self) -> None:
        """The fakes never yield to the event loop between a check and a write: nothing to hold."""

    async def set_paheko(self, company_id: UUID, user: str, password_encrypted: str, at: datetime) -> None:
        self._state.paheko[company_id] = (user, password_encrypted)

    async def set_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None:
        self._state.pins[operator_id] = PinState(pin_hash, 0, None)

    async def pin_state(self, operator_id: UUID) -> PinState | None:
        return self._state.pins.get(operator_id)

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None:
        current = self._state.pins[operator_id]
        self._state.pins[operator_id] = PinState(current.pin_hash, failed_pins, locked_until)

    async def has_paheko(self, company_id: UUID) -> bool:
        return company_id in self._state.paheko

    async def paheko(self, company_id: UUID) -> tuple[str, str] | None:
        return self._state.paheko.get(company_id)


class InMemorySessions:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

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
        numbers = [n for (p, n), t in self._state.tickets.items() if p == pos_id and t.ticket.session_id == session_id]
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


class InMemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._tickets: dict[tuple[UUID, int], StoredTicket] = {}
        self._events: list[QueuedEvent] = []
        self.tickets = InMemoryTickets(state, self._tickets)
        self.outbox = InMemoryOutbox(self._events)
        self.config = InMemoryConfigItems(state)
        self.credentials = InMemoryCredentials(state)
        self.sessions = InMemorySessions(state)
        self.inbox = InMemoryInbox(state)
        self.baskets = InMemoryBaskets(state)
        self.seats = InMemorySeats(state)
        self.checkout = ComposedCheckout(self.tickets, self.baskets, self.sessions, self.outbox)
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tickets.clear()
        self._events.clear()

    async def commit(self) -> None:
        self._state.tickets.update(self._tickets)
        self._state.events.extend(self._events)
        self._tickets.clear()
        self._events.clear()
        self.committed = True
