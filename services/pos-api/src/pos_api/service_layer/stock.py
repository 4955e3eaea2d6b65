"""Use cases of the stock: what a ticket moves (inside the ticket's own transaction), the back office's deliveries,
adjustments and inventory counts, and the levels and movements it reads.

Every change of a level is a movement (level before and after, the document, who and when) and one `stock.moved`
event, queued in the same transaction. Only stock-tracked products have a level.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import EntityType, StockMovedV1, StockReason, TicketFinalizedV1
from caisse_contracts.tills import StockAlert
from caisse_contracts.topics import STOCK
from pos_api.domain.config import Actor, StoredItem, authorize
from pos_api.domain.errors import (
    InvalidReferenceError,
    NotFoundError,
    StockDocumentConflictError,
    StockRefusedError,
)
from pos_api.domain.stock import (
    MOVEMENT_IDS,
    DocumentType,
    LevelChange,
    StockMovement,
    StockRule,
    alert_of,
    document_digest,
    movement_id,
    refuse_online,
    ticket_moves,
    ticket_reason,
    ticket_reference,
    tracked_product,
)
from pos_api.service_layer.ports import MovementFilter, StockDocument, UnitOfWork
from pos_api.service_layer.services import Services

SOURCE = "pos-api"

MOVEMENTS_PAGE_MAX: Final = 500

QUANTITY_FIELDS: Final = {
    DocumentType.DELIVERY: "quantity",
    DocumentType.ADJUSTMENT: "change",
    DocumentType.INVENTORY: "counted",
}
"""The field of a document's line that holds its units, as the back office sends it (and a refusal names it)."""


@dataclass(frozen=True, slots=True)
class KnownStock:
    """What a batch of one till's tickets read once for all of them: the stock rules of their products and the
    till's name (their movements' reference)."""

    rules: dict[UUID, StockRule]
    pos_name: str | None


async def known_stock(work: UnitOfWork, tickets: Sequence[TicketFinalizedV1], pos_id: UUID) -> KnownStock:
    products = sorted({p for t in tickets for p in ticket_moves(t)})
    rules = await work.stock.rules(products) if products else {}
    pos = await work.config.get(pos_id) if rules else None
    return KnownStock(rules, str(pos.item.get("name")) if pos else None)


async def apply_ticket_stock(
    work: UnitOfWork,
    ticket: TicketFinalizedV1,
    *,
    refuse_below_zero: bool,
    now: datetime,
    known: KnownStock | None = None,
) -> tuple[StockAlert, ...]:
    """Move the stock of the ticket's stock-tracked products at its shop, in the ticket's own unit of work: a sale
    takes its units out, a credit note puts them back; the alerts of the levels it leaves.

    A batch passes what it read once for all its tickets (`known`): no read of the rules or the till's name each.

    With `refuse_below_zero` (an online sale), a product that refuses to go below zero and has fewer units than
    sold makes the sale a `StockRefusedError`: the caller's transaction, ticket included, is not committed. A sale
    made offline is never refused (it happened): the level goes negative and its alert says so.
    """
    moves = ticket_moves(ticket)
    if not moves:
        return ()
    if known is not None:
        rules = {p: known.rules[p] for p in moves if p in known.rules}
    else:
        rules = await work.stock.rules(list(moves))
    if not rules:
        return ()
    moved = await work.stock.add(ticket.shop_id, [(p, moves[p].change) for p in rules], now)
    if refuse_below_zero:
        refuse_online(moves, rules, moved)
    if known is not None:
        pos_name = known.pos_name
    else:
        pos = await work.config.get(ticket.pos_id)
        pos_name = str(pos.item.get("name")) if pos else None
    reference = ticket_reference(pos_name, ticket)
    movements = [
        StockMovement(
            id=movement_id(ticket.ticket_id, level.product_id),
            shop_id=ticket.shop_id,
            product_id=level.product_id,
            change=level.change,
            level_before=level.before,
            level_after=level.after,
            reason=ticket_reason(ticket),
            document_type=DocumentType.TICKET,
            document_id=ticket.ticket_id,
            document_ref=reference,
            pos_id=ticket.pos_id,
            moved_by=ticket.operator_id,
            moved_at=now,
        )
        for level in moved
    ]
    tenant = TenantKeys(
        territory_id=ticket.territory_id, company_id=ticket.company_id, shop_id=ticket.shop_id, pos_id=ticket.pos_id
    )
    await _keep(work, movements, rules, tenant)
    return _alerts(ticket.shop_id, moved, rules)


async def _keep(
    work: UnitOfWork, movements: Sequence[StockMovement], rules: dict[UUID, StockRule], tenant: TenantKeys
) -> None:
    """The movements kept and each one's `stock.moved` queued, keyed by shop (a shop's movements stay in order)."""
    await work.stock.record(movements)
    for m in movements:
        envelope = Envelope[StockMovedV1].wrap(
            m.event(rules[m.product_id].threshold),
            event_id=uuid.uuid5(MOVEMENT_IDS, f"stock.moved:{m.id}"),
            occurred_at=m.moved_at,
            source=SOURCE,
            tenant=tenant,
        )
        await work.outbox.add(
            envelope,
            topic=STOCK.name,
            key=str(m.shop_id),
            aggregate_type="stock_level",
            aggregate_id=f"{m.shop_id}:{m.product_id}",
        )


def _alerts(shop_id: UUID, moved: Sequence[LevelChange], rules: dict[UUID, StockRule]) -> tuple[StockAlert, ...]:
    found = (alert_of(rules[level.product_id], shop_id, level.after) for level in moved)
    return tuple(alert for alert in found if alert is not None)


# the back office


@dataclass(frozen=True, slots=True)
class StockLine:
    """One product of a back-office document: units received (a delivery), the change (an adjustment: added if
    positive, removed if negative) or the units counted (an inventory)."""

    product_id: UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class DocumentIn:
    """A back-office stock document as the back office sends it, under an id of its choosing (a retry resends it)."""

    id: UUID
    document_type: DocumentType
    reason: StockReason
    lines: tuple[StockLine, ...]
    reference: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRecorded:
    document: StockDocument
    movements: list[StockMovement]
    alerts: tuple[StockAlert, ...]
    replayed: bool


async def record_stock_document(
    shop_id: UUID, document: DocumentIn, actor: Actor, services: Services
) -> DocumentRecorded:
    """Record a delivery, an adjustment or an inventory count at a shop of the actor's, at once or not at all.

    Every line names a live stock-tracked product of the shop's company, once. A delivery adds its units; an
    adjustment adds or removes (never below zero: a count sets a level, an inventory); an inventory sets each level
    counted and records the difference (nothing for a product counted as it was). The same document sent again
    answers what it recorded, writing nothing; other content under its id is a conflict.
    """
    now = services.clock()
    async with services.uow() as work:
        shop = await _shop(work, shop_id, actor, write=True)
        rules = await _document_rules(work, shop, document.lines)
        content = {
            "shop_id": str(shop_id),
            "document_type": document.document_type.value,
            "reason": document.reason.value,
            "reference": document.reference,
            "note": document.note,
            "lines": [(str(line.product_id), line.quantity) for line in document.lines],
        }
        kept = StockDocument(
            document.id,
            shop_id,
            document.document_type.value,
            document.reason.value,
            document.reference,
            document.note,
            document_digest(content),
            actor.operator_id,
            now,
        )
        existing = await work.stock.claim_document(kept)
        if existing is not None:
            if existing.content_sha256 != kept.content_sha256:
                raise StockDocumentConflictError(document.id)
            return DocumentRecorded(existing, await work.stock.document_movements(document.id), (), replayed=True)
        changes = await _changes(work, shop_id, document, now)
        moved = await work.stock.add(shop_id, [(p, c) for p, (c, _) in changes.items()], now) if changes else []
        for level in moved:
            if document.document_type is DocumentType.ADJUSTMENT and level.change < 0 and level.after < 0:
                line = changes[level.product_id][1]
                name = rules[level.product_id].name
                field = f"lines[{line}].{QUANTITY_FIELDS[document.document_type]}"
                raise StockRefusedError(field, level.product_id, name, level.before, -level.change)
        movements = [
            StockMovement(
                id=movement_id(document.id, level.product_id),
                shop_id=shop_id,
                product_id=level.product_id,
                change=level.change,
                level_before=level.before,
                level_after=level.after,
                reason=document.reason,
                document_type=document.document_type,
                document_id=document.id,
                document_ref=document.reference,
                pos_id=None,
                moved_by=actor.operator_id,
                moved_at=now,
            )
            for level in moved
        ]
        h = shop.hierarchy
        await _keep(
            work, movements, rules, TenantKeys(territory_id=h.territory_id, company_id=h.company_id, shop_id=shop_id)
        )
        await work.commit()
    return DocumentRecorded(kept, movements, _alerts(shop_id, moved, rules), replayed=False)


async def _shop(work: UnitOfWork, shop_id: UUID, actor: Actor, *, write: bool) -> StoredItem:
    """The live shop, if the actor may read (or write) its stock."""
    shop = await work.config.get(shop_id)
    if shop is None or shop.deleted or shop.entity_type is not EntityType.SHOP:
        raise NotFoundError("shop", str(shop_id))
    authorize(actor, EntityType.SHOP, shop.hierarchy, write=write)
    return shop


async def _document_rules(work: UnitOfWork, shop: StoredItem, lines: Sequence[StockLine]) -> dict[UUID, StockRule]:
    rules: dict[UUID, StockRule] = {}
    first: dict[UUID, int] = {}
    for i, line in enumerate(lines):
        field = f"lines[{i}].product_id"
        if (seen := first.setdefault(line.product_id, i)) != i:
            raise InvalidReferenceError(field, f"is the product of lines[{seen}] too: one line per product")
        found = await work.config.get(line.product_id)
        live = found is not None and not found.deleted and found.entity_type is EntityType.PRODUCT
        rules[line.product_id] = tracked_product(
            found.item if found is not None and live else None, shop.hierarchy.company_id, field
        )
    return rules


async def _changes(work: UnitOfWork, shop_id: UUID, document: DocumentIn, now: datetime) -> dict[UUID, tuple[int, int]]:
    """product → (the change the document makes, its line)."""
    if document.document_type is not DocumentType.INVENTORY:
        return {line.product_id: (line.quantity, i) for i, line in enumerate(document.lines)}
    held = await work.stock.hold(shop_id, [line.product_id for line in document.lines], now)
    changes = {line.product_id: (line.quantity - held[line.product_id], i) for i, line in enumerate(document.lines)}
    return {p: change for p, change in changes.items() if change[0] != 0}


LevelState = Literal["ok", "low_stock", "out_of_stock", "negative"]


@dataclass(frozen=True, slots=True)
class LevelView:
    product_id: UUID
    product_name: str
    level: int
    threshold: int | None
    state: LevelState
    updated_at: datetime | None


async def stock_levels(
    shop_id: UUID,
    actor: Actor,
    services: Services,
    *,
    product_id: UUID | None = None,
    alert: Literal["low_stock", "out_of_stock"] | None = None,
) -> list[LevelView]:
    """The shop's level of every stock-tracked product of its company (zero for one never moved), by name.

    `alert="low_stock"`: only those with an alert (at or below the threshold, or out of stock); `"out_of_stock"`:
    only those at or below zero.
    """
    async with services.uow() as work:
        shop = await _shop(work, shop_id, actor, write=False)
        products = await work.config.list(EntityType.PRODUCT, company_id=shop.hierarchy.company_id)
        rules = {r.product_id: r for r in (StockRule.of(p.item) for p in products) if r is not None}
        levels = {level.product_id: level for level in await work.stock.levels(shop_id)}
        missing = [p for p in levels if p not in rules]
        if missing:  # moved once, since deleted or no longer tracked: still in stock somewhere
            rules.update(await work.stock.rules(missing))
    views = []
    for rule in rules.values():
        if product_id is not None and rule.product_id != product_id:
            continue
        level = levels.get(rule.product_id)
        units = level.level if level else 0
        found = alert_of(rule, shop_id, units)
        state: LevelState = found.kind if found else "ok"
        if (alert == "low_stock" and found is None) or (alert == "out_of_stock" and units > 0):
            continue
        views.append(
            LevelView(rule.product_id, rule.name, units, rule.threshold, state, level.updated_at if level else None)
        )
    return sorted(views, key=lambda v: (v.product_name, str(v.product_id)))


@dataclass(frozen=True, slots=True)
class MovementsPage:
    movements: list[StockMovement]
    next_cursor: int | None
    """Where the next page starts (older movements), or None: this is the last."""


async def stock_movements(
    shop_id: UUID,
    actor: Actor,
    services: Services,
    where: MovementFilter,
    *,
    before: int | None = None,
    limit: int = 100,
) -> MovementsPage:
    """The shop's movements, newest first, one page at a time (`next_cursor` reads the next, older one)."""
    async with services.uow() as work:
        await _shop(work, shop_id, actor, write=False)
        found = await work.stock.movements(shop_id, where, before_seq=before, limit=limit + 1)
    page = found[:limit]
    more = len(found) > limit
    return MovementsPage(page, page[-1].seq if more else None)
