"""Use case: count a finalized ticket into its session's running totals, exactly once."""

from __future__ import annotations

from uuid import UUID

from caisse_contracts.events import TicketFinalizedV1
from session_service.domain.totals import RunningTotals, apply_ticket
from session_service.service_layer.ports import AppliedTicket, Clock, UnitOfWorkFactory


async def count_ticket(
    ticket: TicketFinalizedV1, *, event_id: UUID, event_type: str, uow: UnitOfWorkFactory, clock: Clock
) -> bool:
    """Apply the ticket to its session's totals; False when this event was already applied."""
    async with uow() as work:
        if not await work.inbox.claim(event_id, event_type):
            return False
        current = await work.totals.for_update(ticket.session_id) or RunningTotals.empty_for(ticket)
        if await work.totals.applied_ticket(ticket.ticket_id) is not None:
            await work.commit()  # the same ticket under another event id: remember the event, count nothing
            return False
        applied = AppliedTicket(
            ticket_id=ticket.ticket_id,
            session_id=ticket.session_id,
            pos_id=ticket.pos_id,
            number=ticket.number,
            total_incl_tax=ticket.total_incl_tax,
            event_id=event_id,
            applied_at=clock(),
        )
        await work.totals.save(apply_ticket(current, ticket), applied)
        await work.commit()
        return True
