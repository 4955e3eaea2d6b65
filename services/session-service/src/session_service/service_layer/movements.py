"""Use case: a cash movement of an open session (a withdrawal to the safe, a float addition)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from session_service.domain.sessions import CashMovement, CashSession, MovementKind, add_movement, check_operators
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


async def record_movement(command: RecordMovement, services: SessionServices) -> CashSession:
    """A withdrawal to the safe or a float addition, with its reason and operator; a replay changes nothing."""
    async with services.uow() as work:
        session = await find_session(work, command.session_id, command.pos_id, for_update=True)
        movement = CashMovement(
            movement_id=command.movement_id,
            kind=command.kind,
            amount=command.amount,
            reason=command.reason,
            operator_id=command.operator_id,
            at=services.clock(),
        )
        updated = add_movement(session, movement)
        if updated is session:
            return session
        shops = await operator_shops(work, session.place.shop_id)
        check_operators([command.operator_id], shops, session.place.shop_id, "operator_id")
        await work.sessions.add_movement(session.session_id, movement)
        await work.commit()
    return updated
