"""Use case: record a finalized ticket from a till, once, with its `ticket.finalized` event and the stock it moves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import TicketFinalizedV1, TicketKind
from caisse_contracts.tills import StockAlert
from caisse_contracts.topics import TICKETS
from pos_api.domain.errors import FieldProblem, TicketConflict, TicketInconsistentError, TicketNumberConflictError
from pos_api.domain.tickets import check_number_jump, check_ticket, content_hash, gaps_of, same_sale
from pos_api.service_layer.ports import Clock, IdFactory, StoredTicket, UnitOfWork, UnitOfWorkFactory
from pos_api.service_layer.stock import apply_ticket_stock

SOURCE = "pos-api"


class Outcome(StrEnum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Outcome
    stored: StoredTicket
    alerts: tuple[StockAlert, ...] = ()
    """The stock alerts of the products this ticket moved; none on a replay (nothing moved)."""


OperatorCheck = Callable[[UUID | None], Awaitable[None]]
"""Raises when the operator named cannot be recorded on a ticket of the till."""

CreditNoteCheck = Callable[[UnitOfWork, TicketFinalizedV1, StoredTicket | None], Awaitable[None]]
"""Raises when a credit note the till made is not the one its sale allows (the sale as stored, locked, or None when
pos-api holds no such ticket), in the unit of work that records it."""


async def record_ticket(
    ticket: TicketFinalizedV1,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    new_id: IdFactory,
    check_operator: OperatorCheck | None = None,
    check_credit_note: CreditNoteCheck | None = None,
    offline: bool = False,
) -> Recorded:
    """Check the ticket, then store it, its event and the stock it moves in one transaction.

    The POS numbers its tickets: a new number is stored (its operator checked first, and a credit note checked
    against its sale by `check_credit_note`); a known number with identical content answers with the original (a
    safe retry, whatever became of its operator or its sale since); a known number with other content is a
    conflict, kept aside for ops.

    Online, a product that refuses to go below zero and lacks the units sold refuses the sale
    (`StockRefusedError`, nothing stored); a sale made `offline` happened and is never refused for its stock: the
    level goes negative and an alert says so.
    """
    check_ticket(ticket)
    try:
        return await _record(
            ticket,
            uow=uow,
            clock=clock,
            new_id=new_id,
            check_operator=check_operator,
            check_credit_note=check_credit_note,
            offline=offline,
        )
    except TicketNumberConflictError as conflict:
        if conflict.attempt is not None:
            async with uow() as work:
                await work.tickets.keep_conflict(conflict.attempt)
                await work.commit()
        raise


async def _record(
    ticket: TicketFinalizedV1,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    new_id: IdFactory,
    check_operator: OperatorCheck | None,
    check_credit_note: CreditNoteCheck | None,
    offline: bool,
) -> Recorded:
    async with uow() as work:
        recorded = await record_in(
            work,
            ticket,
            clock=clock,
            new_id=new_id,
            check_operator=check_operator,
            check_credit_note=check_credit_note,
            offline=offline,
        )
        if recorded.outcome is Outcome.CREATED:
            await work.commit()
        return recorded


async def record_in(
    work: UnitOfWork,
    ticket: TicketFinalizedV1,
    *,
    clock: Clock,
    new_id: IdFactory,
    check_operator: OperatorCheck | None = None,
    check_credit_note: CreditNoteCheck | None = None,
    offline: bool = False,
    move_stock: bool = True,
) -> Recorded:
    """Store a checked ticket, its event and the stock it moves in the caller's unit of work (the caller commits):
    one transaction of its own (`record_ticket`), or one savepoint of a batch's (the offline sync, which moves the
    stock of all its tickets at its end: `move_stock=False`). Every refusal comes before its first write, but for an
    online sale's stock (`StockRefusedError`), which the caller rolls back.

    A credit note locks its sale first, as the online credit-note route does: the credit notes of one sale are
    recorded one at a time, each checked against those before it, and a replay racing its original reads it."""
    digest = content_hash(ticket)
    sale: StoredTicket | None = None
    credit_note = ticket.kind is TicketKind.CREDIT_NOTE
    if credit_note and ticket.original_ticket_id is not None:
        sale = await work.tickets.by_id(ticket.original_ticket_id, for_update=True)
    for _ in range(2):
        existing = await work.tickets.by_number(ticket.pos_id, ticket.number)
        if existing is not None:
            return _replay(existing, ticket, digest, clock())
        if check_operator is not None:
            await check_operator(ticket.operator_id)
        if credit_note:
            if check_credit_note is None:
                raise TicketInconsistentError([FieldProblem("kind", "a credit note is recorded against its sale")])
            await check_credit_note(work, ticket, sale)
        stored = StoredTicket(ticket=ticket, content_hash=digest, received_at=clock())
        last_number = await work.tickets.last_number(ticket.pos_id)
        check_number_jump(last_number, ticket.number)
        if not await work.tickets.add(stored):
            taken = await work.tickets.by_id(ticket.ticket_id)
            if taken is not None and (taken.ticket.pos_id, taken.ticket.number) != (ticket.pos_id, ticket.number):
                where = f"number {taken.ticket.number} of this till" if taken.ticket.pos_id == ticket.pos_id else None
                reason = f"is already the id of ticket {where or 'of another till'}: each ticket has its own"
                raise TicketInconsistentError([FieldProblem("ticket_id", reason)])
            continue  # another request stored this number meanwhile: read what it stored
        # Always, even for the next number: the highest read may be stale, and a higher number stored since has
        # opened this one as a gap that it must close.
        await work.tickets.note_gaps(ticket.pos_id, gaps_of(ticket.number, last_number), stored.received_at)
        envelope = Envelope[TicketFinalizedV1].wrap(
            ticket,
            event_id=new_id(),
            occurred_at=ticket.finalized_at,
            source=SOURCE,
            tenant=TenantKeys(
                territory_id=ticket.territory_id,
                company_id=ticket.company_id,
                shop_id=ticket.shop_id,
                pos_id=ticket.pos_id,
            ),
        )
        await work.outbox.add(
            envelope,
            topic=TICKETS.name,
            key=str(ticket.pos_id),
            aggregate_type="ticket",
            aggregate_id=str(ticket.ticket_id),
        )
        alerts = (
            await apply_ticket_stock(work, ticket, refuse_below_zero=not offline, now=stored.received_at)
            if move_stock
            else ()
        )
        return Recorded(Outcome.CREATED, stored, alerts)
    raise RuntimeError("ticket number raced twice")  # pragma: no cover - a unique key cannot flip twice


def _replay(existing: StoredTicket, ticket: TicketFinalizedV1, digest: str, now: datetime) -> Recorded:
    if not same_sale(existing.content_hash, existing.ticket, digest):
        attempt = TicketConflict(
            ticket.pos_id,
            ticket.number,
            existing.ticket.ticket_id,
            ticket.ticket_id,
            "ticket",
            ticket.model_dump(mode="json"),
            now,
        )
        raise TicketNumberConflictError(ticket.pos_id, ticket.number, existing.ticket.ticket_id, attempt)
    return Recorded(Outcome.ALREADY_EXISTS, existing)
