"""In-memory fakes of session-service's ports, for unit tests of the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from uuid import UUID

from session_service.domain.totals import RunningTotals
from session_service.service_layer.ports import AppliedTicket


@dataclass
class MemoryState:
    processed: set[UUID] = field(default_factory=set)
    totals: dict[UUID, RunningTotals] = field(default_factory=dict)
    applied: dict[UUID, AppliedTicket] = field(default_factory=dict)


class InMemoryInbox:
    def __init__(self, state: MemoryState, claimed: set[UUID]) -> None:
        self._state = state
        self._claimed = claimed

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        if event_id in self._state.processed or event_id in self._claimed:
            return False
        self._claimed.add(event_id)
        return True


class InMemoryTotals:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self.pending: list[tuple[RunningTotals, AppliedTicket]] = []

    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        return self._state.totals.get(session_id)

    async def get(self, session_id: UUID) -> RunningTotals | None:
        return self._state.totals.get(session_id)

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None:
        return self._state.applied.get(ticket_id)

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None:
        self.pending.append((totals, applied))


class InMemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._claimed: set[UUID] = set()
        self.inbox = InMemoryInbox(state, self._claimed)
        self.totals = InMemoryTotals(state)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._claimed.clear()
        self.totals.pending.clear()

    async def commit(self) -> None:
        self._state.processed |= self._claimed
        for totals, applied in self.totals.pending:
            self._state.totals[totals.session_id] = totals
            self._state.applied[applied.ticket_id] = applied
        self._claimed.clear()
        self.totals.pending.clear()
