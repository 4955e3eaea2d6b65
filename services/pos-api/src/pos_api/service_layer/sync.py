"""Use case: sync a batch of sales a till made offline, each stored once with its `ticket.finalized`, each answered.

A batch costs two reads before its first sale: the configuration versions its sales name (one history read) and
what the till's numbers and the sales' ids already hold (one ticket read). A sale the till sends again, already
stored with the same content, is answered from that read and costs nothing more: a whole batch replayed writes
nothing and costs those two reads. Every other sale is recorded by `record_ticket`, the path of `POST /v1/tickets`
(one transaction per sale: its ticket, its gaps and its event, or nothing; a number holding another sale is a
conflict kept aside for ops). A sale refused never stops the next one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from caisse_contracts.sync import OfflineSale
from caisse_contracts.tills import StockAlert
from pos_api.domain.errors import (
    FieldProblem,
    ForeignSaleError,
    InvalidReferenceError,
    NotFoundError,
    PosApiError,
    TicketInconsistentError,
    TicketNumberConflictError,
)
from pos_api.domain.offline_sales import HeldConfig, TillPlace, offline_ticket, versions_named
from pos_api.domain.stock import ticket_moves
from pos_api.domain.tickets import check_ticket, content_hash, same_sale
from pos_api.domain.till import Device
from pos_api.service_layer.baskets import check_operator, till_context
from pos_api.service_layer.ports import StoredTicket, UnitOfWork
from pos_api.service_layer.services import Services
from pos_api.service_layer.stock import apply_ticket_stock, known_stock
from pos_api.service_layer.tickets import OperatorCheck, Outcome, record_in


class SyncOutcome(StrEnum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SyncedSale:
    """What became of one sale: the ticket stored (created) or found (already there), or the error that refused
    it (a `TicketNumberConflictError` for a conflict, any other `PosApiError` for a failure)."""

    outcome: SyncOutcome
    stored: StoredTicket | None = None
    error: PosApiError | None = None
    alerts: tuple[StockAlert, ...] = ()


async def sync_sales(device: Device, sales: Sequence[OfflineSale], services: Services) -> list[SyncedSale]:
    """Each sale in order, on its own: one refused, conflicting or already stored never stops the next."""
    place = _place_of(device)
    async with services.till_steps() as work:
        context = await till_context(work, device, services.cache)
        held = HeldConfig.of(await work.config.versions(versions_named(sales, place)))
        known = await work.tickets.matching(place.pos_id, [s.number for s in sales], [s.ticket_id for s in sales])
    by_number = {t.ticket.number: t for t in known if t.ticket.pos_id == place.pos_id}
    numbers_of_ids = {t.ticket.ticket_id: (t.ticket.pos_id, t.ticket.number) for t in known}

    async def check_ticket_operator(operator_id: UUID | None) -> None:
        if operator_id is None or operator_id in context.operators:
            return
        async with services.till_steps() as work:
            await check_operator(work, context, operator_id, "operator_id")

    answered: list[SyncedSale] = []
    async with services.uow() as work:
        for sale in sales:
            try:
                async with work.savepoint():
                    synced = await _sync_one(
                        work, sale, place, held, by_number, numbers_of_ids, check_ticket_operator, services
                    )
            except TicketNumberConflictError as conflict:
                if conflict.attempt is not None:
                    await work.tickets.keep_conflict(conflict.attempt)
                synced = SyncedSale(SyncOutcome.CONFLICT, error=conflict)
            except (TicketInconsistentError, InvalidReferenceError, ForeignSaleError) as refused:
                synced = SyncedSale(SyncOutcome.FAILED, error=refused)
            if synced.stored is not None:
                numbers_of_ids[sale.ticket_id] = (place.pos_id, sale.number)
            answered.append(synced)
        answered = await _move_stock(work, place, answered)
        await work.commit()
    services.sales.forget(place.pos_id)  # finalize's memory of the till's last number is behind now
    return answered


async def _move_stock(work: UnitOfWork, place: TillPlace, answered: list[SyncedSale]) -> list[SyncedSale]:
    """The stock the batch's new sales move, in their order, at the batch's end: the levels of its tracked products
    are locked (in the order of their ids) only from here to the commit, so that the batches of the shop's other
    tills (and its online sales) wait for each other no longer than that, and never in a circle. An offline sale
    happened: it is never refused for its stock (the level goes negative, an alert says so)."""
    created = [s.stored for s in answered if s.outcome is SyncOutcome.CREATED and s.stored is not None]
    known = await known_stock(work, [c.ticket for c in created], place.pos_id)
    if not known.rules:
        return answered
    moved = {p for c in created for p in ticket_moves(c.ticket) if p in known.rules}
    await work.stock.hold(place.shop_id, sorted(moved), created[-1].received_at)
    with_alerts: list[SyncedSale] = []
    for synced in answered:
        stored = synced.stored
        if synced.outcome is SyncOutcome.CREATED and stored is not None:
            alerts = await apply_ticket_stock(
                work, stored.ticket, refuse_below_zero=False, now=stored.received_at, known=known
            )
            with_alerts.append(dataclasses.replace(synced, alerts=alerts))
        else:
            with_alerts.append(synced)
    return with_alerts


async def _sync_one(
    work: UnitOfWork,
    sale: OfflineSale,
    place: TillPlace,
    held: HeldConfig,
    by_number: dict[int, StoredTicket],
    numbers_of_ids: dict[UUID, tuple[UUID, int]],
    check_ticket_operator: OperatorCheck,
    services: Services,
) -> SyncedSale:
    if sale.shop_id != place.shop_id:
        raise ForeignSaleError("shop_id", "is another shop's: a till syncs only its own sales")
    if sale.pos_id != place.pos_id:
        raise ForeignSaleError("pos_id", "is another till's: a till syncs only its own sales")
    ticket = offline_ticket(sale, place, held)
    existing = by_number.get(sale.number)
    if existing is not None and same_sale(existing.content_hash, existing.ticket, content_hash(ticket)):
        return SyncedSale(SyncOutcome.ALREADY_EXISTS, existing)
    holder = numbers_of_ids.get(sale.ticket_id)
    if holder is not None and holder != (place.pos_id, sale.number):
        raise TicketInconsistentError([_id_taken(holder[1] if holder[0] == place.pos_id else None)])
    check_ticket(ticket)
    recorded = await record_in(
        work,
        ticket,
        clock=services.clock,
        new_id=services.new_id,
        check_operator=check_ticket_operator,
        offline=True,
        move_stock=False,  # at the batch's end (`_move_stock`)
    )
    outcome = SyncOutcome.CREATED if recorded.outcome is Outcome.CREATED else SyncOutcome.ALREADY_EXISTS
    return SyncedSale(outcome, recorded.stored)


def _id_taken(number: int | None) -> FieldProblem:
    where = f"ticket number {number} of this till" if number is not None else "a ticket of another till"
    return FieldProblem("ticket_id", f"is already the id of {where}: each sale has its own")


def _place_of(device: Device) -> TillPlace:
    h = device.pos.hierarchy
    if h.territory_id is None or h.company_id is None or h.shop_id is None:
        raise NotFoundError("hierarchy of the till", str(device.pos_id))
    return TillPlace(h.territory_id, h.company_id, h.shop_id, device.pos_id)
