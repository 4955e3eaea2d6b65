"""Use case: open a cash session on a POS with its counted float, or answer the session when the till sends its
open again (a retry, a rebooted till, or the open it made offline synced once more)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from caisse_contracts.events import DenominationCountV1, SessionOpenedV1
from session_service.domain.errors import (
    ConfigurationMissingError,
    ReplayConflictError,
    SessionAlreadyOpenError,
    UnknownReferenceError,
)
from session_service.domain.sessions import (
    CashSession,
    SessionStatus,
    check_operators,
    check_same_open,
    open_session,
    till_time,
)
from session_service.service_layer.places import operator_shops, place_of
from session_service.service_layer.sessions import SessionServices, announce, session_keys


@dataclass(frozen=True, slots=True)
class OpenSession:
    session_id: UUID
    pos_id: UUID
    operator_ids: tuple[UUID, ...]
    float_counts: tuple[tuple[int, int], ...]
    first_ticket_number: int | None = None
    """The POS's next ticket number as pos-api knows it; the session's tickets are numbered from there."""
    opened_at: datetime | None = None
    """The till's time of an open made offline; None: now."""


@dataclass(frozen=True, slots=True)
class Opened:
    session: CashSession
    created: bool
    """False when the till continues (or retries the open of) its session, whatever became of it since."""

    @property
    def continued(self) -> bool:
        """The till retried the open of its session that is still open."""
        return not self.created and self.session.status is SessionStatus.OPEN


async def open_cash_session(command: OpenSession, services: SessionServices) -> Opened:
    """Open a session on the POS with its counted float, or answer the open one when the till retries.

    The denominations come from the territory in session-service's configuration view, never from the till;
    while the POS's configuration has not arrived, the open waits up to `config_wait_s`.
    """
    waited = 0.0
    while True:
        try:
            return await _open_once(command, services)
        except (ConfigurationMissingError, UnknownReferenceError):
            if waited >= services.rules.config_wait_s:
                raise
        await services.sleep(services.rules.poll_s)
        waited += services.rules.poll_s


async def _open_once(command: OpenSession, services: SessionServices) -> Opened:
    now = services.clock()
    opened_at = till_time(command.opened_at, now, services.rules.clock_tolerance, "opened_at")
    async with services.uow() as work:
        items = await place_of(work, command.pos_id)
        current = await work.sessions.current_of_pos(command.pos_id, for_update=True)
        earlier = current if current and current.session_id == command.session_id else None
        earlier = earlier or await work.sessions.get(command.session_id)
        if earlier is not None:  # the till sends its open again (a retry, or its offline queue replayed)
            if earlier.place.pos_id != command.pos_id:
                raise ReplayConflictError("session_id", f"session {earlier.session_id} is another till's")
            check_same_open(earlier, command.operator_ids, command.float_counts, command.opened_at)
            return Opened(earlier, created=False)
        if current is not None:
            raise SessionAlreadyOpenError(command.pos_id, current.session_id)
        check_operators(
            command.operator_ids, await operator_shops(work, items.place.shop_id), items.place.shop_id, "operator_ids"
        )
        after_last_close = (await work.sessions.last_closed_number(command.pos_id) or 0) + 1
        session = open_session(
            session_id=command.session_id,
            place=items.place,
            operator_ids=command.operator_ids,
            float_counts=command.float_counts,
            first_ticket_number=max(command.first_ticket_number or 1, after_last_close),
            now=opened_at,
        )
        if not await work.sessions.add(session):
            raced = await work.sessions.current_of_pos(command.pos_id)
            raise SessionAlreadyOpenError(command.pos_id, raced.session_id if raced else command.session_id)
        await announce(work, services, _opened_event(session, received_at=now), occurred_at=session.opened_at)
        await work.commit()
    return Opened(session, created=True)


def _opened_event(session: CashSession, *, received_at: datetime) -> SessionOpenedV1:
    place = session.place
    return SessionOpenedV1(
        **session_keys(session),
        opened_at=session.opened_at,
        operator_ids=session.operator_ids,
        currency=place.currency,
        opening_float=session.opening_float,
        float_counts=tuple(DenominationCountV1(value=c.value, count=c.count) for c in session.float_counts),
        received_at=received_at,
    )
