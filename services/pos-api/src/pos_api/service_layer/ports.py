"""The ports pos-api's use cases need: a unit of work with its repositories and outbox, a clock, ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1

Clock = Callable[[], datetime]
"""Aware UTC now."""

IdFactory = Callable[[], UUID]


@dataclass(frozen=True, slots=True)
class StoredTicket:
    """A ticket as pos-api keeps it: immutable once stored."""

    ticket: TicketFinalizedV1
    content_hash: str
    received_at: datetime


class Tickets(Protocol):
    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        """The ticket the POS numbered `number`, if any."""

    async def by_id(self, ticket_id: UUID) -> StoredTicket | None: ...

    async def add(self, stored: StoredTicket) -> bool:
        """Store a new ticket; False (and nothing written) when its POS already used the number."""


class Outbox(Protocol):
    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        """Queue an event, to be published once the unit of work commits."""


class UnitOfWork(Protocol):
    @property
    def tickets(self) -> Tickets: ...

    @property
    def outbox(self) -> Outbox: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed."""

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
