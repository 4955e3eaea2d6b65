"""Use case: a cash movement of an open session (a withdrawal to the safe, a float addition), made now or made
offline and synced later with the till's time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from session_service.domain.errors import ReplayConflictError
from session_service.domain.sessions import (
    CashMovement,
    CashSession,
    MovementKind,
    add_movement,
    check_operators,
    till_time,
)
from session_service.service_layer.places import operator_shops
from session_service.service_layer.sessions import SessionServices, find_session


@dataclass(frozen=True, slots=True)
class RecordMovement:
    session_id: UUID
    movement_id: UUID
    kind: MovementKind
    amount: int
    reason: str
    operator_id: UUID
    pos_id: UUID | None = None
    """When given, the session must be this POS's (a till reaches only its own)."""
    occurred_at: datetime | None = None
    """The till's time of a movement made offline; None: now."""


@dataclass(frozen=True, slots=True)
class Moved:
    session: CashSession
    created: bool
    """False: the movement was recorded before (the till sent it again), nothing changed."""


async def record_movement(command: RecordMovement, services: SessionServices) -> Moved:
    """A withdrawal to the safe or a float addition, with its reason and operator; a replay changes nothing, the
    same movement id with other content (or in another session) is a conflict naming the field."""
    at = till_time(command.occurred_at, services.clock(), services.rules.clock_tolerance, "occurred_at")
    async with services.uow() as work:
        session = await find_session(work, command.session_id, command.pos_id, for_update=True)
        movement = CashMovement(
            movement_id=command.movement_id,
            kind=command.kind,
            amount=command.amount,
            reason=command.reason,
            operator_id=command.operator_id,
            at=at,
        )
        if all(m.movement_id != command.movement_id for m in session.movements):
            elsewhere = await work.sessions.session_of_movement(command.movement_id)
            if elsewhere is not None:
                raise ReplayConflictError(
                    "session_id", f"movement {command.movement_id} was recorded in session {elsewhere}"
                )
        updated = add_movement(session, movement, timed=command.occurred_at is not None)
        if updated is session:
            return Moved(session, created=False)
        shops = await operator_shops(work, session.place.shop_id)
        check_operators([command.operator_id], shops, session.place.shop_id, "operator_id")
        await work.sessions.add_movement(session.session_id, movement)
        await work.commit()
    return Moved(updated, created=True)
