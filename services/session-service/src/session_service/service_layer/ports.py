"""Ports of session-service's use cases: a unit of work with the inbox and the running totals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from session_service.domain.totals import RunningTotals

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AppliedTicket:
    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    number: int
    total_incl_tax: int
    event_id: UUID
    applied_at: datetime


class Inbox(Protocol):
    async def claim(self, event_id: UUID, event_type: str) -> bool:
        """True for an event this consumer has not processed yet."""


class Totals(Protocol):
    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        """The session's totals, locked until the unit of work ends."""

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None: ...

    async def get(self, session_id: UUID) -> RunningTotals | None: ...

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None: ...


class UnitOfWork(Protocol):
    @property
    def inbox(self) -> Inbox: ...

    @property
    def totals(self) -> Totals: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
