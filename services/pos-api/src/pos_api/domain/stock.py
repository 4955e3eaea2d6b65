"""Rules of the stock of stock-tracked products: what a ticket or a back-office document moves, when an online
sale is refused, which alerts a level raises, and the movement that records every change.

A level is per shop and product, in units. A sale takes its units out, a credit note puts them back, a delivery
adds, a loss or an adjustment adds or removes, an inventory sets the level to what was counted. Every change is a
`StockMovement` with the level before and after; the levels themselves are changed by the adapters under a lock
(in the order of the product ids, so that two sales of the same products never wait for each other in a circle).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from caisse_contracts.config import Product
from caisse_contracts.events import StockMovedV1, StockReason, TicketFinalizedV1, TicketKind
from caisse_contracts.tills import StockAlert
from pos_api.domain.errors import InvalidReferenceError, StockRefusedError

MOVEMENT_IDS: Final = UUID("6f1c0b2a-4d7e-4b59-9a53-2f8e1c7d0a14")
"""Namespace of the movements' ids: a ticket moves a product once, so its movement's id is made from both."""


class DocumentType(StrEnum):
    """What moved the stock, as a movement names it."""

    TICKET = "ticket"
    DELIVERY = "delivery"
    ADJUSTMENT = "adjustment"
    INVENTORY = "inventory"


@dataclass(frozen=True, slots=True)
class StockRule:
    """What a stock-tracked product says about its stock."""

    product_id: UUID
    name: str
    threshold: int | None
    refuse_below_zero: bool

    @classmethod
    def of(cls, item: dict[str, Any]) -> StockRule | None:
        """The rule of a product's item (its JSON as the configuration keeps it); None when it is not tracked."""
        if not item.get("stock_tracked", False):
            return None
        threshold = item.get("stock_threshold")
        return cls(
            UUID(str(item["id"])),
            str(item.get("name", "")),
            int(threshold) if threshold is not None else None,
            bool(item.get("stock_refuse_below_zero", False)),
        )


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A product's level as a change left it."""

    product_id: UUID
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class StockMovement:
    """One change of one product's level at one shop, with the document that made it and who and when."""

    id: UUID
    shop_id: UUID
    product_id: UUID
    change: int
    level_before: int
    level_after: int
    reason: StockReason
    document_type: DocumentType
    document_id: UUID | None
    document_ref: str | None
    pos_id: UUID | None
    moved_by: UUID | None
    moved_at: datetime
    seq: int | None = None
    """Its place among the movements, given as it is stored: the cursor of the listings."""

    def event(self, threshold: int | None) -> StockMovedV1:
        """The `stock.moved` payload of this movement."""
        return StockMovedV1(
            movement_id=self.id,
            shop_id=self.shop_id,
            product_id=self.product_id,
            change=self.change,
            stock_before=self.level_before,
            stock_after=self.level_after,
            threshold=threshold,
            reason=self.reason,
            document_type=self.document_type.value,
            document_id=self.document_id,
            document_ref=self.document_ref,
            moved_at=self.moved_at,
            moved_by=self.moved_by,
            pos_id=self.pos_id,
        )


@dataclass(frozen=True, slots=True)
class TicketMove:
    """What a ticket does to one product: the units (negative: taken out) and the first line that names it."""

    product_id: UUID
    change: int
    line: int


def ticket_moves(ticket: TicketFinalizedV1) -> dict[UUID, TicketMove]:
    """Per product, the units the ticket takes out (a sale) or puts back (a credit note, whose quantities are
    negative), its lines of one product summed."""
    moves: dict[UUID, TicketMove] = {}
    for i, line in enumerate(ticket.lines):
        if line.product_id is None:
            continue
        known = moves.get(line.product_id)
        change = -line.quantity + (known.change if known else 0)
        moves[line.product_id] = TicketMove(line.product_id, change, known.line if known else i)
    return moves


def ticket_reason(ticket: TicketFinalizedV1) -> StockReason:
    return StockReason.REFUND if ticket.kind is TicketKind.CREDIT_NOTE else StockReason.SALE


def ticket_reference(pos_name: str | None, ticket: TicketFinalizedV1) -> str:
    """How people name a ticket: its till and its number, e.g. `Caisse 1/000127`."""
    return f"{pos_name or ticket.pos_id}/{ticket.number:06d}"


def movement_id(document_id: UUID, product_id: UUID) -> UUID:
    """A document moves a product once: the same sale recorded again cannot make a second movement id."""
    return uuid.uuid5(MOVEMENT_IDS, f"{document_id}:{product_id}")


def refuse_online(moves: dict[UUID, TicketMove], rules: dict[UUID, StockRule], moved: list[LevelChange]) -> None:
    """An online sale that takes a product refusing it below zero is refused, naming the product and its line."""
    for level in moved:
        rule = rules[level.product_id]
        if rule.refuse_below_zero and level.change < 0 and level.after < 0:
            move = moves[level.product_id]
            raise StockRefusedError(
                f"lines[{move.line}].quantity", level.product_id, rule.name, level.before, -level.change
            )


def alert_of(rule: StockRule, shop_id: UUID, level: int) -> StockAlert | None:
    """The most severe alert a level raises: below zero, at zero, at or below the product's threshold; or none."""
    if level < 0:
        kind = "negative"
    elif level == 0:
        kind = "out_of_stock"
    elif rule.threshold is not None and level <= rule.threshold:
        kind = "low_stock"
    else:
        return None
    return StockAlert(
        product_id=rule.product_id,
        product_name=rule.name,
        shop_id=shop_id,
        kind=kind,
        level=level,
        threshold=rule.threshold,
    )


def tracked_product(product: dict[str, Any] | None, company_id: UUID | None, field: str) -> StockRule:
    """The rule of a product that a back-office document names, if it may: a live product of the shop's company,
    whose stock is tracked."""
    if product is None:
        raise InvalidReferenceError(field, "no such product")
    rule = StockRule.of(product)
    if str(product.get("company_id")) != str(company_id):
        raise InvalidReferenceError(field, "is a product of another company")
    if rule is None:
        raise InvalidReferenceError(field, f"{product.get('name')!r} is not stock-tracked")
    return rule


def product_of(item: dict[str, Any]) -> Product:
    return Product.model_validate(item)


def document_digest(content: dict[str, Any]) -> str:
    """Names a back-office document's content: the same document sent again is a retry; other content under its id
    is a conflict."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
