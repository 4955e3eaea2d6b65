"""Use case: keep the read model of which till has which open session, from session-service's events."""

from __future__ import annotations

from uuid import UUID

from caisse_contracts.events import SessionClosedV1, SessionOpenedV1
from pos_api.service_layer.ports import UnitOfWorkFactory


async def session_opened(event: SessionOpenedV1, *, event_id: UUID, uow: UnitOfWorkFactory) -> bool:
    async with uow() as work:
        if not await work.inbox.claim(event_id, event.EVENT_TYPE):
            return False
        await work.sessions.opened(event.pos_id, event.session_id, event.opened_at)
        await work.commit()
    return True


async def session_closed(event: SessionClosedV1, *, event_id: UUID, uow: UnitOfWorkFactory) -> bool:
    async with uow() as work:
        if not await work.inbox.claim(event_id, event.EVENT_TYPE):
            return False
        await work.sessions.closed(event.pos_id, event.session_id, event.closed_at, event.last_ticket_number)
        await work.commit()
    return True
