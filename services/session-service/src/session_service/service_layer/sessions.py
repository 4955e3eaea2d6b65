"""What every use case of a cash session shares: its services and rules, finding a session, which tickets a
closing one still waits for, announcing it on `caisse.sessions`; and reading a session.

Each use case has its module: `open` (open or continue), `movements` (cash in and out), `close` (close once
every ticket is in), `deposits` (the bank deposit of a closed session).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict
from uuid import UUID

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, SessionOpenedV1
from caisse_contracts.topics import SESSIONS
from session_service.domain.deposits import Deposit
from session_service.domain.errors import SessionNotFoundError
from session_service.domain.sessions import CashSession, CloseRequest, SessionStatus, missing_ranges, tickets_awaited
from session_service.domain.totals import LateTicket, RunningTotals
from session_service.service_layer.ports import Clock, IdFactory, LateTicketsOf, UnitOfWork, UnitOfWorkFactory

SOURCE = "session-service"


@dataclass(frozen=True, slots=True)
class SessionRules:
    comment_threshold: int = 500
    """A variance beyond ± this many minor units needs a comment."""
    close_wait_s: float = 10.0
    """How long a close request waits for the till's last tickets before it answers that they are missing."""
    config_wait_s: float = 3.0
    """How long an open waits for the POS's configuration to reach session-service."""
    poll_s: float = 0.05
    clock_tolerance_s: float = 300.0
    """How far in the future of session-service's clock a till's time may be (its clock drifts a little) before
    the operation is refused as one from a till with a wrong clock."""

    @property
    def clock_tolerance(self) -> timedelta:
        return timedelta(seconds=self.clock_tolerance_s)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class SessionServices:
    uow: UnitOfWorkFactory
    clock: Clock
    new_id: IdFactory
    rules: SessionRules = field(default_factory=SessionRules)
    sleep: Callable[[float], Awaitable[None]] = _sleep


async def find_session(work: UnitOfWork, session_id: UUID, pos_id: UUID | None, *, for_update: bool) -> CashSession:
    """The session, which must be the POS's when `pos_id` is given (a till reaches only its own)."""
    session = await work.sessions.get(session_id, for_update=for_update)
    if session is None or (pos_id is not None and session.place.pos_id != pos_id):
        raise SessionNotFoundError(session_id=session_id)
    return session


async def missing_tickets(work: UnitOfWork, session: CashSession, request: CloseRequest) -> tuple[tuple[int, int], ...]:
    """The ranges of ticket numbers the close `request` waits for that the session's totals do not count yet."""
    awaited = tickets_awaited(session, request.last_ticket_number)
    if awaited is None:
        return ()
    present = await work.totals.numbers_in(session.session_id, *awaited)
    if len(present) == awaited[1] - awaited[0] + 1:
        return ()
    return missing_ranges(awaited, present)


async def announce(
    work: UnitOfWork,
    services: SessionServices,
    event: SessionOpenedV1 | SessionClosedV1 | SessionDepositConfirmedV1,
    *,
    occurred_at: datetime | None = None,
) -> None:
    """A session event in the outbox, in the unit of work of the change it tells: keyed by its till (the outbox
    adapter adds the trace context of the span that writes it). It occurred at `occurred_at` (the till's time of
    an open or a close), or now."""
    envelope = Envelope[type(event)].wrap(  # type: ignore[misc]
        event,
        event_id=services.new_id(),
        occurred_at=occurred_at or services.clock(),
        source=SOURCE,
        tenant=TenantKeys(
            territory_id=event.territory_id, company_id=event.company_id, shop_id=event.shop_id, pos_id=event.pos_id
        ),
    )
    await work.outbox.add(
        envelope,
        topic=SESSIONS.name,
        key=str(event.pos_id),
        aggregate_type="cash_session",
        aggregate_id=str(event.session_id),
    )


class SessionKeys(TypedDict):
    """Which session a session event tells of, and where its till sits."""

    session_id: UUID
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID


def session_keys(session: CashSession) -> SessionKeys:
    place = session.place
    return SessionKeys(
        session_id=session.session_id,
        territory_id=place.territory_id,
        company_id=place.company_id,
        shop_id=place.shop_id,
        pos_id=place.pos_id,
    )


@dataclass(frozen=True, slots=True)
class SessionRead:
    session: CashSession
    totals: RunningTotals | None
    waiting_for: tuple[tuple[int, int], ...]
    late_tickets: tuple[LateTicket, ...] = ()
    """Tickets that reached the session after its close: in none of its figures."""
    deposit: Deposit | None = None
    """The bank deposit of a closed session, once confirmed."""


async def read_session(session_id: UUID, services: SessionServices, pos_id: UUID | None = None) -> SessionRead:
    async with services.uow() as work:
        session = await find_session(work, session_id, pos_id, for_update=False)
        return await _read(work, session)


async def current_session(pos_id: UUID, services: SessionServices) -> SessionRead:
    """The POS's session that is not closed: what a till continues after a reboot."""
    async with services.uow() as work:
        session = await work.sessions.current_of_pos(pos_id)
        if session is None:
            raise SessionNotFoundError(pos_id=pos_id)
        return await _read(work, session)


async def _read(work: UnitOfWork, session: CashSession) -> SessionRead:
    totals = await work.totals.get(session.session_id)
    waiting: tuple[tuple[int, int], ...] = ()
    if session.status is SessionStatus.CLOSING and session.close_request is not None:
        waiting = await missing_tickets(work, session, session.close_request)
    late: tuple[LateTicket, ...] = ()
    deposit = None
    if session.status is SessionStatus.CLOSED:  # only a closed session has any
        late = tuple(await work.totals.late_tickets(LateTicketsOf(session_id=session.session_id)))
        deposit = await work.deposits.get(session.session_id)
    return SessionRead(session, totals, waiting, late, deposit)
