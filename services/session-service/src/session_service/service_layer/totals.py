"""Use case: count finalized tickets into their sessions' running totals, exactly once, a batch per transaction.

A batch claims its events in the inbox, locks the totals of the sessions it touches (in id order), skips a
ticket already counted under another event id, and stores the new totals, the applied tickets and their
cheques in one transaction: a redelivered batch, or any part of it, changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.events import TicketFinalizedV1
from session_service.domain.sessions import Cheque
from session_service.domain.totals import RunningTotals, apply_ticket, cheques_of
from session_service.service_layer.ports import AppliedTicket, Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class TicketEvent:
    event_id: UUID
    event_type: str
    ticket: TicketFinalizedV1


async def count_tickets(events: Sequence[TicketEvent], *, uow: UnitOfWorkFactory, clock: Clock) -> set[UUID]:
    """Apply the batch; the sessions whose totals changed."""
    if not events:
        return set()
    async with uow() as work:
        fresh = await work.inbox.claim_many([(e.event_id, e.event_type) for e in events])
        todo: list[TicketEvent] = []
        seen: set[UUID] = set()
        for event in events:
            if event.event_id in fresh and event.ticket.ticket_id not in seen:
                seen.add(event.ticket.ticket_id)
                todo.append(event)
        already = await work.totals.applied_among([e.ticket.ticket_id for e in todo])
        todo = [e for e in todo if e.ticket.ticket_id not in already]
        if not todo:
            await work.commit()  # remember the events, count nothing
            return set()
        sessions = sorted({e.ticket.session_id for e in todo})
        totals = await work.totals.for_update_many(sessions)
        now = clock()
        applied: list[AppliedTicket] = []
        cheques: list[Cheque] = []
        for event in todo:
            ticket = event.ticket
            current = totals.get(ticket.session_id) or RunningTotals.empty_for(ticket)
            totals[ticket.session_id] = apply_ticket(current, ticket)
            applied.append(
                AppliedTicket(
                    ticket_id=ticket.ticket_id,
                    session_id=ticket.session_id,
                    pos_id=ticket.pos_id,
                    number=ticket.number,
                    total_incl_tax=ticket.total_incl_tax,
                    event_id=event.event_id,
                    applied_at=now,
                )
            )
            cheques.extend(
                Cheque(payment_id, ticket.ticket_id, number, bank, amount)
                for payment_id, number, bank, amount in cheques_of(ticket)
            )
        changed = {e.ticket.session_id for e in todo}
        await work.totals.save_many([totals[s] for s in sorted(changed)], applied, cheques)
        await work.commit()
    return changed


async def count_ticket(
    ticket: TicketFinalizedV1, *, event_id: UUID, event_type: str, uow: UnitOfWorkFactory, clock: Clock
) -> bool:
    """Apply one ticket; False when this event (or this ticket under another event id) was already applied."""
    changed = await count_tickets([TicketEvent(event_id, event_type, ticket)], uow=uow, clock=clock)
    return bool(changed)
