"""Use cases of a basket: save it as the cashier works (optimistic versions), compute it, finalize it once.

Finalize checks everything first — the version, the open session, the pickup number, the number, every
line, full payment after cash rounding, the seats left — then writes in ONE atomic step the immutable
ticket, its `ticket.finalized` event and the basket's end. A replay of the same number for the same basket
and the same sale (its lines, payments and totals) answers the original receipt; the same number for another
sale is a conflict, kept aside for ops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID

from caisse_contracts.basket import BasketError, ComputedBasket, compute_basket
from caisse_contracts.config import Company, Pos, Shop, Territory
from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.pricing import (
    Catalogue,
    PricedLine,
    SaleIdentity,
    basket_input,
    receipt_of,
    sale_ticket,
)
from caisse_contracts.tills import BasketContent, BasketPut, CreditNoteIn, FinalizeIn, Receipt, StockAlert
from caisse_contracts.topics import TICKETS
from pos_api.domain.credit_notes import check_till_credit_note, credit_note_ticket
from pos_api.domain.errors import (
    BasketConflictError,
    FieldProblem,
    InvalidReferenceError,
    NotFoundError,
    PosApiError,
    SeatsFullError,
    StaleVersionError,
    TicketConflict,
    TicketInconsistentError,
    TicketNumberConflictError,
)
from pos_api.domain.pricing import price_lines
from pos_api.domain.tickets import check_number_jump, check_ticket, content_hash, gaps_of, same_sale
from pos_api.domain.till import Device, TillContext
from pos_api.service_layer.cache import TillCache
from pos_api.service_layer.ports import CheckoutView, StoredBasket, StoredTicket, UnitOfWork
from pos_api.service_layer.services import Services
from pos_api.service_layer.stock import apply_ticket_stock
from pos_api.service_layer.till import catalogue_of, live_item

SOURCE = "pos-api"


async def till_context(work: UnitOfWork, device: Device, cache: TillCache) -> TillContext:
    """The till's configuration, from memory while the configuration generation has not moved."""
    seen = cache.generation if cache.supervised else cache.at(await work.config.generation()).generation
    known = cache.contexts.get(device.pos_id)
    if known is None:
        known = await _load_context(work, device)
        if cache.generation == seen:  # not if the configuration moved while this was read
            cache.contexts[device.pos_id] = known
    return known


async def _load_context(work: UnitOfWork, device: Device) -> TillContext:
    h = device.pos.hierarchy
    territory = await live_item(work, Territory, "territory", h.territory_id)
    company = await live_item(work, Company, "company", h.company_id)
    shop = await live_item(work, Shop, "shop", h.shop_id)
    catalogue = Catalogue.of(await catalogue_of(work, h), territory)
    operators = frozenset(
        o.id for o in await work.config.list(EntityType.OPERATOR, shop_id=h.shop_id) if o.item.get("active", True)
    )
    return TillContext(territory, company, shop, Pos.model_validate(device.pos.item), catalogue, operators)


async def check_operator(work: UnitOfWork, context: TillContext, operator_id: UUID | None, field: str) -> None:
    """The operator recorded on a ticket exists, is active and works in the till's shop, as session-service
    requires of who opens, moves and closes a session (a federation admin, with no shop, works anywhere).

    The shop's own operators are known from the till's cached configuration: a sale reads nothing for them.
    """
    if operator_id is None or operator_id in context.operators:
        return
    found = await work.config.get(operator_id)
    live = found is not None and not found.deleted and found.entity_type is EntityType.OPERATOR
    if found is None or not live or not found.item.get("active", True):
        raise InvalidReferenceError(field, f"unknown operator {operator_id}")
    if found.hierarchy.shop_id is not None:  # another shop's: this shop's own are in the context
        raise InvalidReferenceError(field, f"operator {operator_id} works in another shop")


def compute(content: BasketContent, context: TillContext) -> ComputedBasket:
    return compute_basket(
        basket_input(content, price_lines(content, context.catalogue), context.territory, context.company)
    )


async def check_ticket_operator(device: Device, operator_id: UUID | None, services: Services) -> None:
    """`check_operator` for a ticket the till made itself (synced after working offline)."""
    if operator_id is None:
        return
    async with services.till_steps() as work:
        await check_operator(work, await till_context(work, device, services.cache), operator_id, "operator_id")


@dataclass(frozen=True, slots=True)
class BasketView:
    basket: StoredBasket
    computed: ComputedBasket


async def save_basket(device: Device, basket_id: UUID, put: BasketPut, services: Services) -> BasketView:
    now = services.clock()
    async with services.uow() as work:
        context = await till_context(work, device, services.cache)
        computed = compute(put.content, context)
        current = await work.baskets.get(basket_id, for_update=True)
        if current is not None and current.pos_id != device.pos_id:
            raise NotFoundError("basket", str(basket_id))
        if current is not None and current.finalized:
            raise BasketConflictError("basket", f"was finalized as ticket {current.ticket_id}")
        current_version = current.version if current else 0
        if put.version != current_version:
            raise StaleVersionError("basket", basket_id, current_version)
        stored = StoredBasket(basket_id, device.pos_id, current_version + 1, put.content, False, None, now)
        await work.baskets.put(stored)
        await work.commit()
    return BasketView(stored, computed)


async def read_basket(device: Device, basket_id: UUID, services: Services) -> BasketView:
    async with services.uow() as work:
        stored = await work.baskets.get(basket_id)
        if stored is None or stored.pos_id != device.pos_id:
            raise NotFoundError("basket", str(basket_id))
        context = await till_context(work, device, services.cache)
    return BasketView(stored, compute(stored.content, context))


async def current_basket(device: Device, services: Services) -> BasketView:
    async with services.uow() as work:
        stored = await work.baskets.open_of_pos(device.pos_id)
        if stored is None:
            raise NotFoundError("open basket of the till", str(device.pos_id))
        context = await till_context(work, device, services.cache)
    return BasketView(stored, compute(stored.content, context))


@dataclass(frozen=True, slots=True)
class Finalized:
    receipt: Receipt
    replayed: bool


FINALIZE_ATTEMPTS = 3
"""A write that finds what it decided on has moved reads again; the second read sees why and answers it."""


class _Again(Enum):
    READ_AGAIN = "read again"
    LOCK = "read again, in a transaction"


async def finalize_basket(device: Device, basket_id: UUID, request: FinalizeIn, services: Services) -> Finalized:
    """Finalize optimistically: read, decide and compute with no lock held, then one guarded write.

    A basket handed over with its finalize goes without a transaction (`till_steps`): the read and the write
    are each atomic, and the write lands only if the basket, the session and the number are as read. When it
    does not (a replay racing its original, a save racing the finalize), finalize reads again and answers
    from what it finds. A basket saved earlier, or one with event seats (whose counts are taken in the sale's
    transaction), goes in one transaction with the basket locked.

    A till whose last sale this process saw skips the read: its session and highest number come from the
    `SaleMemo` and the sale is one round trip. If anything differs from the memo, the guarded write leaves
    nothing and finalize takes the path above, which answers as if the memo had never been used.
    """
    async with _conflicts_kept(services):
        return await _finalize(device, basket_id, request, services)


@asynccontextmanager
async def _conflicts_kept(services: Services) -> AsyncIterator[None]:
    """A number sent again with other content is refused, and what the till sent is kept aside for ops first."""
    try:
        yield
    except TicketNumberConflictError as conflict:
        if conflict.attempt is not None:
            async with services.uow() as work:
                await work.tickets.keep_conflict(conflict.attempt)
                await work.commit()
        raise


async def _finalize(device: Device, basket_id: UUID, request: FinalizeIn, services: Services) -> Finalized:
    locked = request.content is None
    if not locked and (seen := _guess(device, basket_id, request, services)) is not None:
        try:
            outcome = await _finalize_once(device, basket_id, request, services, locked=False, guessed=seen)
        except PosApiError:  # decided on the memo: the read below decides, with what the database holds
            outcome = _Again.READ_AGAIN
        if isinstance(outcome, Finalized):
            return outcome
        services.sales.forget(device.pos_id)
        locked = outcome is _Again.LOCK
    for _ in range(FINALIZE_ATTEMPTS):
        outcome = await _finalize_once(device, basket_id, request, services, locked=locked)
        if isinstance(outcome, Finalized):
            return outcome
        locked = locked or outcome is _Again.LOCK
    raise TicketNumberConflictError(device.pos_id, request.number, basket_id)


def _guess(device: Device, basket_id: UUID, request: FinalizeIn, services: Services) -> CheckoutView | None:
    """What finalize's read would find if nothing moved since this till's last sale here, or None."""
    known = services.sales.of(device.pos_id)
    if known is None or request.content is None:
        return None
    session, last_number = known
    basket = (
        StoredBasket(basket_id, device.pos_id, request.version, request.content, False, None, services.clock())
        if request.version
        else None
    )
    return CheckoutView(basket=basket, holder=None, session=session, last_number=last_number)


async def _finalize_once(
    device: Device,
    basket_id: UUID,
    request: FinalizeIn,
    services: Services,
    *,
    locked: bool,
    guessed: CheckoutView | None = None,
) -> Finalized | _Again:
    now = services.clock()
    async with services.uow() if locked else services.till_steps() as work:
        if guessed is None:
            seen = await work.checkout.read(basket_id, device.pos_id, request.number)
            services.sales.saw(device.pos_id, seen.session, seen.last_number)
        else:
            seen = guessed
        basket = seen.basket
        if basket is not None and basket.pos_id != device.pos_id:
            raise NotFoundError("basket", str(basket_id))
        if basket is None:
            if request.content is None:
                raise NotFoundError("basket", str(basket_id))
            basket = StoredBasket(basket_id, device.pos_id, 0, request.content, False, None, now)
        context = await till_context(work, device, services.cache)
        if seen.holder is not None:
            holder = seen.holder
            replayed = basket.finalized and basket.ticket_id == holder.ticket.ticket_id
            if replayed and _same_content(device, basket, request, holder, context):
                return Finalized(receipt_of(holder.ticket, context.shop, context.pos, context.territory), True)
            raise TicketNumberConflictError(
                device.pos_id,
                request.number,
                holder.ticket.ticket_id,
                TicketConflict(
                    device.pos_id,
                    request.number,
                    holder.ticket.ticket_id,
                    basket_id,
                    "finalize",
                    (request.content or basket.content).model_dump(mode="json"),
                    now,
                ),
            )
        if basket.finalized:
            raise BasketConflictError("basket", f"was already finalized as ticket {basket.ticket_id}")
        if request.version != basket.version:
            raise StaleVersionError("basket", basket_id, basket.version)
        if request.content is not None:  # saved and finalized at once: the version a PUT would have made
            basket = StoredBasket(basket.id, basket.pos_id, basket.version + 1, request.content, False, None, now)
        session = seen.session
        if session is None or not session.takes(request.number):
            raise BasketConflictError("session", "this till has no open cash session")
        content = basket.content
        if context.pos.pickup_number_required and not content.pickup_number:
            raise TicketInconsistentError([FieldProblem("pickup_number", "this till requires a pickup number")])
        if not content.lines:
            raise TicketInconsistentError([FieldProblem("lines", "an empty basket cannot be finalized")])
        priced = price_lines(content, context.catalogue)
        computed = compute_basket(basket_input(content, priced, context.territory, context.company))
        if computed.remaining > 0:
            in_cash = "" if computed.cash_due == computed.remaining else f" ({computed.cash_due} in cash, rounded)"
            raise TicketInconsistentError([FieldProblem("payments", f"{computed.remaining} still to pay{in_cash}")])
        await check_operator(work, context, content.operator_id, "operator_id")
        seats = [
            (i, line.product_id, line.seat_capacity, line.quantity)
            for i, line in enumerate(priced)
            if line.seat_capacity is not None and line.product_id is not None
        ]
        tracked = any(
            (product := context.catalogue.products.get(line.product_id)) is not None and product.stock_tracked
            for line in priced
            if line.product_id is not None
        )
        if (seats or tracked) and not locked:  # seats and stock are taken in the sale's own transaction
            return _Again.LOCK
        for i, product_id, capacity, quantity in seats:
            if await work.seats.take(product_id, capacity, quantity) is None:
                left = await work.seats.left(product_id, capacity)
                raise SeatsFullError(f"lines[{i}].quantity", product_id, left, quantity)
        check_number_jump(seen.last_number, request.number)
        ticket = _ticket(device, basket, content, computed, priced, session.session_id, request.number, now, context)
        check_ticket(ticket)
        stored = StoredTicket.new(ticket, now)
        ended = StoredBasket(basket.id, basket.pos_id, basket.version, content, True, ticket.ticket_id, now)
        event = _event(ticket, services)
        if not await work.checkout.record(stored, ended, event, topic=TICKETS.name, seen=seen):
            return _Again.READ_AGAIN
        alerts = await apply_ticket_stock(work, ticket, refuse_below_zero=True, now=now) if tracked else ()
        await work.commit()
    services.sales.sold(device.pos_id, request.number)
    return Finalized(_with_alerts(receipt_of(ticket, context.shop, context.pos, context.territory), alerts), False)


def _with_alerts(receipt: Receipt, alerts: tuple[StockAlert, ...]) -> Receipt:
    return receipt.model_copy(update={"alerts": alerts}) if alerts else receipt


def _same_content(
    device: Device, basket: StoredBasket, request: FinalizeIn, holder: StoredTicket, context: TillContext
) -> bool:
    """Whether a finalize of a basket already finalized under this number asks for the same sale again.

    The basket handed over as it was finalized (or none, the one saved) is that sale; other content is compared
    by the sale's hash, as the ticket it would make: its lines, payments and totals.
    """
    if request.content is None or request.content == basket.content:
        return True
    try:
        priced = price_lines(request.content, context.catalogue)
        computed = compute_basket(basket_input(request.content, priced, context.territory, context.company))
        again = _ticket(
            device,
            basket,
            request.content,
            computed,
            priced,
            holder.ticket.session_id,
            holder.ticket.number,
            holder.ticket.finalized_at,
            context,
        )
    except (PosApiError, BasketError):  # content that cannot even be priced is not the sale that was
        return False
    return same_sale(holder.content_hash, holder.ticket, content_hash(again))


def _ticket(
    device: Device,
    basket: StoredBasket,
    content: BasketContent,
    computed: ComputedBasket,
    priced: list[PricedLine],
    session_id: UUID,
    number: int,
    now: datetime,
    context: TillContext,
) -> TicketFinalizedV1:
    h = device.pos.hierarchy
    if h.territory_id is None or h.company_id is None or h.shop_id is None:
        raise NotFoundError("hierarchy of the till", str(device.pos_id))
    return sale_ticket(
        SaleIdentity(basket.id, number, h.territory_id, h.company_id, h.shop_id, device.pos_id, session_id),
        content,
        computed,
        finalized_at=now,
        timezone=context.territory.timezone,
        territory=context.territory,
        company=context.company,
    )


def _event(ticket: TicketFinalizedV1, services: Services) -> Envelope[TicketFinalizedV1]:
    return Envelope[TicketFinalizedV1].wrap(
        ticket,
        event_id=services.new_id(),
        occurred_at=ticket.finalized_at,
        source=SOURCE,
        tenant=TenantKeys(
            territory_id=ticket.territory_id, company_id=ticket.company_id, shop_id=ticket.shop_id, pos_id=ticket.pos_id
        ),
    )


async def credit_ticket(device: Device, ticket_id: UUID, request: CreditNoteIn, services: Services) -> Finalized:
    """A credit note on a sale of the till's shop: a new, immutable ticket with negative amounts.

    The same credit note sent again under its number answers the original; another one under a number already
    used is a conflict, kept aside for ops.
    """
    async with _conflicts_kept(services):
        return await _credit(device, ticket_id, request, services)


async def _credit(device: Device, ticket_id: UUID, request: CreditNoteIn, services: Services) -> Finalized:
    now = services.clock()
    async with services.uow() as work:
        original = await work.tickets.by_id(ticket_id, for_update=True)
        if original is None or original.ticket.shop_id != device.shop_id:
            raise NotFoundError("ticket", str(ticket_id))
        sale = original.ticket
        context = await till_context(work, device, services.cache)
        existing = await work.tickets.by_number(device.pos_id, request.number)
        if existing is not None:
            notes = await work.tickets.credit_notes_of(ticket_id)
            # the credit notes before it: the last units of a line give back what is left after them
            before = [t.ticket for t in notes if t.received_at < existing.received_at]
            if existing.ticket.ticket_id == request.credit_note_id and _same_credit_note(
                sale, before, request, device, existing, context
            ):
                receipt = receipt_of(existing.ticket, context.shop, context.pos, context.territory)
                return Finalized(receipt.model_copy(update={"original_number": sale.number}), replayed=True)
            raise TicketNumberConflictError(
                device.pos_id,
                request.number,
                existing.ticket.ticket_id,
                TicketConflict(
                    device.pos_id,
                    request.number,
                    existing.ticket.ticket_id,
                    request.credit_note_id,
                    "credit_note",
                    request.model_dump(mode="json"),
                    now,
                ),
            )
        session = await work.sessions.of_pos(device.pos_id, lock=True)  # held: a close waits for this credit note
        if session is None or not session.takes(request.number):
            raise BasketConflictError("session", "this till has no open cash session")
        await check_operator(work, context, request.operator_id, "operator_id")
        earlier = [t.ticket for t in await work.tickets.credit_notes_of(ticket_id)]
        ticket = _credit_note(sale, earlier, request, device, session.session_id, now, context)
        check_ticket(ticket)
        last_number = await work.tickets.last_number(device.pos_id)
        check_number_jump(last_number, request.number)
        if not await work.tickets.add(StoredTicket.new(ticket, now)):
            raise TicketNumberConflictError(device.pos_id, request.number, ticket.ticket_id)
        await work.tickets.note_gaps(device.pos_id, gaps_of(request.number, last_number), now)
        await work.outbox.add(
            _event(ticket, services),
            topic=TICKETS.name,
            key=str(ticket.pos_id),
            aggregate_type="ticket",
            aggregate_id=str(ticket.ticket_id),
        )
        alerts = await apply_ticket_stock(work, ticket, refuse_below_zero=False, now=now)  # puts back: never refused
        await work.commit()
    receipt = _with_alerts(receipt_of(ticket, context.shop, context.pos, context.territory), alerts)
    return Finalized(receipt.model_copy(update={"original_number": sale.number}), replayed=False)


async def check_credit_note(
    work: UnitOfWork, device: Device, ticket: TicketFinalizedV1, sale: StoredTicket | None, cache: TillCache
) -> None:
    """A credit note the till made and numbered itself (`POST /v1/tickets`, online or from its queue), held to the
    rules of the online route (`credit_ticket`): its id its own, its sale a sale of the till's shop that pos-api
    holds (`sale`, locked by the caller), and the ticket the one the shared builder makes of that sale given the
    credit notes already recorded on it. `TicketInconsistentError` (422) naming the field otherwise.

    The till queues a credit note behind its sale, so the sale is recorded first; a sale pos-api does not hold
    (kept aside on the till, or never sent) refuses its credit note, saying so: the till keeps it aside too."""
    taken = await work.tickets.by_id(ticket.ticket_id)
    if taken is not None:
        where = "of this till" if taken.ticket.pos_id == ticket.pos_id else "of another till"
        raise TicketInconsistentError(
            [FieldProblem("ticket_id", f"is already the id of ticket number {taken.ticket.number} {where}")]
        )
    if sale is None:
        raise TicketInconsistentError(
            [
                FieldProblem(
                    "original_ticket_id", "names no ticket pos-api holds: a sale is recorded before its credit notes"
                )
            ]
        )
    if sale.ticket.shop_id != ticket.shop_id:
        raise TicketInconsistentError(
            [FieldProblem("original_ticket_id", "is a ticket of another shop: a sale is credited in its own shop")]
        )
    context = await till_context(work, device, cache)
    earlier = [t.ticket for t in await work.tickets.credit_notes_of(sale.ticket.ticket_id)]
    check_till_credit_note(ticket, sale.ticket, earlier, territory=context.territory, company=context.company)


def _credit_note(
    sale: TicketFinalizedV1,
    earlier: list[TicketFinalizedV1],
    request: CreditNoteIn,
    device: Device,
    session_id: UUID,
    now: datetime,
    context: TillContext,
) -> TicketFinalizedV1:
    return credit_note_ticket(
        sale,
        earlier,
        request,
        pos_id=device.pos_id,
        session_id=session_id,
        now=now,
        territory=context.territory,
        company=context.company,
    )


def _same_credit_note(
    sale: TicketFinalizedV1,
    before: list[TicketFinalizedV1],
    request: CreditNoteIn,
    device: Device,
    existing: StoredTicket,
    context: TillContext,
) -> bool:
    """Whether a credit note sent again under its number gives back what it gave back the first time."""
    try:
        again = _credit_note(
            sale, before, request, device, existing.ticket.session_id, existing.ticket.finalized_at, context
        )
    except PosApiError:  # it could not even be made now: it is not the one that was
        return False
    return same_sale(existing.content_hash, existing.ticket, content_hash(again))
