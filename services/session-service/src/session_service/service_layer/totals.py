"""Use case: count finalized tickets into their sessions' running totals, exactly once, a batch per transaction.

A batch claims its events in the inbox, locks the totals of the sessions it touches (in id order), skips a
ticket already counted under another event id, and stores the new totals, the applied tickets and their
cheques in one transaction: a redelivered batch, or any part of it, changes nothing.

A batch that counts into a session waiting for its close (`closing`) names it, so that the close completes
once the batch is in (`complete_closes`); the batch learns it in the same statement that locks the sessions' rows.

A ticket of a closed session is never counted: its Z report, its variance and `session.closed` are final. It is
kept aside as a late ticket (and logged) for ops and the treasurer. The batch holds its sessions' rows while it
counts, so a close either waits for it (and its figures include the batch) or comes first (and the batch sees it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.events import TicketFinalizedV1
from session_service.domain.sessions import Cheque
from session_service.domain.totals import LateTicket, RunningTotals, apply_tickets, cheques_of
from session_service.service_layer.ports import AppliedTicket, Clock, CountingWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TicketEvent:
    event_id: UUID
    event_type: str
    ticket: TicketFinalizedV1


@dataclass(frozen=True, slots=True)
class Counted:
    """What a batch changed."""

    sessions: frozenset[UUID] = frozenset()
    """the sessions whose totals changed"""
    waiting: tuple[UUID, ...] = ()
    """those of them that wait for tickets to close, in id order"""


async def count_tickets(events: Sequence[TicketEvent], *, uow: CountingWorkFactory, clock: Clock) -> Counted:
    """Apply the batch; the sessions whose totals changed, and which of them wait for their close."""
    if not events:
        return Counted()
    async with uow() as work:
        fresh = await work.inbox.claim_many([(e.event_id, e.event_type) for e in events])
        todo: list[TicketEvent] = []
        seen: set[UUID] = set()
        for event in events:
            if event.event_id in fresh and event.ticket.ticket_id not in seen:
                seen.add(event.ticket.ticket_id)
                todo.append(event)
        already, closed, closing = await work.totals.before_counting(
            [e.ticket.ticket_id for e in todo], sorted({e.ticket.session_id for e in todo})
        )
        todo = [e for e in todo if e.ticket.ticket_id not in already]
        if not todo:
            await work.commit()  # remember the events, count nothing
            return Counted()
        now = clock()
        if closed:
            late = [e for e in todo if e.ticket.session_id in closed]
            await work.totals.save_late([LateTicket.of(e.ticket, event_id=e.event_id, received_at=now) for e in late])
            todo = [e for e in todo if e.ticket.session_id not in closed]
            for e in late:
                log.warning(
                    "ticket %s (number %d, %d %s) reached session %s after its close: kept aside, not counted",
                    e.ticket.ticket_id,
                    e.ticket.number,
                    e.ticket.total_incl_tax,
                    e.ticket.currency,
                    e.ticket.session_id,
                )
            if not todo:
                await work.commit()
                return Counted()
        by_session: dict[UUID, list[TicketFinalizedV1]] = {}
        for event in todo:
            by_session.setdefault(event.ticket.session_id, []).append(event.ticket)
        changed = sorted(by_session)
        totals = await work.totals.for_update_many(changed)
        applied = [
            AppliedTicket(
                ticket_id=e.ticket.ticket_id,
                session_id=e.ticket.session_id,
                pos_id=e.ticket.pos_id,
                number=e.ticket.number,
                total_incl_tax=e.ticket.total_incl_tax,
                event_id=e.event_id,
                applied_at=now,
            )
            for e in todo
        ]
        cheques = [
            Cheque(payment_id, e.ticket.ticket_id, number, bank, amount)
            for e in todo
            for payment_id, number, bank, amount in cheques_of(e.ticket)
        ]
        folded = [
            apply_tickets(totals.get(s) or RunningTotals.empty_for(by_session[s][0]), by_session[s]) for s in changed
        ]
        await work.totals.save_many(folded, applied, cheques)
        await work.commit()
    return Counted(frozenset(changed), tuple(s for s in changed if s in closing))


async def count_ticket(
    ticket: TicketFinalizedV1, *, event_id: UUID, event_type: str, uow: CountingWorkFactory, clock: Clock
) -> bool:
    """Apply one ticket; False when this event (or this ticket under another event id) was already applied."""
    counted = await count_tickets([TicketEvent(event_id, event_type, ticket)], uow=uow, clock=clock)
    return bool(counted.sessions)
