"""In-memory fakes of pos-api's ports, for unit tests of the service layer (no server, milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from caisse_contracts.envelope import Envelope
from pos_api.service_layer.ports import StoredTicket


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


class InMemoryTickets:
    def __init__(self, state: MemoryState, pending: dict[tuple[UUID, int], StoredTicket]) -> None:
        self._state = state
        self._pending = pending

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        return self._pending.get((pos_id, number)) or self._state.tickets.get((pos_id, number))

    async def by_id(self, ticket_id: UUID) -> StoredTicket | None:
        for stored in [*self._state.tickets.values(), *self._pending.values()]:
            if stored.ticket.ticket_id == ticket_id:
                return stored
        return None

    async def add(self, stored: StoredTicket) -> bool:
        key = (stored.ticket.pos_id, stored.ticket.number)
        if key in self._state.tickets or key in self._pending:
            return False
        self._pending[key] = stored
        return True


class InMemoryOutbox:
    def __init__(self, pending: list[QueuedEvent]) -> None:
        self._pending = pending

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        self._pending.append(QueuedEvent(envelope, topic, key, aggregate_type, aggregate_id))


class InMemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._tickets: dict[tuple[UUID, int], StoredTicket] = {}
        self._events: list[QueuedEvent] = []
        self.tickets = InMemoryTickets(state, self._tickets)
        self.outbox = InMemoryOutbox(self._events)
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
