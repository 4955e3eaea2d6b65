"""`stock.moved` v1: a product's stock changed, with the before and after and the document that moved it."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictInt

from caisse_contracts.envelope import Payload


class StockReason(StrEnum):
    SALE = "sale"
    REFUND = "refund"
    DELIVERY = "delivery"
    INVENTORY = "inventory"
    LOSS = "loss"
    ADJUSTMENT = "adjustment"


class StockMovedV1(Payload):
    EVENT_TYPE: ClassVar[str] = "stock.moved"
    VERSION: ClassVar[int] = 1

    movement_id: UUID
    shop_id: UUID
    product_id: UUID
    change: StrictInt = Field(description="Units added (positive) or removed (negative).")
    stock_before: StrictInt
    stock_after: StrictInt
    threshold: StrictInt | None = None
    reason: StockReason
    document_type: str = Field(description="What moved it: ticket, delivery, inventory…")
    document_id: UUID | None = None
    document_ref: str | None = Field(default=None, description="Human reference, e.g. POS-3/000127.")
    moved_at: AwareDatetime
    moved_by: UUID | None = Field(
        default=None, description="Who moved it: the ticket's operator, or the back-office operator."
    )
    pos_id: UUID | None = Field(default=None, description="The till of a sale or a credit note.")
