"""Back-office stock routes of a shop: deliveries, adjustments and inventory counts, its levels and its movements.

A document carries an id chosen by the back office: sent again it answers what it recorded (200) and writes
nothing; other content under its id is a 409. Quantities are whole units (`12.0` is refused like `"12"`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from caisse_contracts.events import StockReason
from caisse_contracts.tills import StockAlert
from pos_api.domain.stock import DocumentType, StockMovement
from pos_api.entrypoints.http.deps import CurrentActor, CurrentServices
from pos_api.service_layer.ports import MovementFilter
from pos_api.service_layer.stock import (
    MOVEMENTS_PAGE_MAX,
    DocumentIn,
    DocumentRecorded,
    StockLine,
    record_stock_document,
    stock_levels,
    stock_movements,
)

router = APIRouter(prefix="/v1/shops/{shop_id}/stock", tags=["stock"])

UNITS_MAX = 1_000_000
"""The most units one line moves or counts: more is a typing error, not a delivery."""

Reference = Annotated[str, Field(min_length=1, max_length=100, description="E.g. the supplier's delivery note.")]
Note = Annotated[str, Field(min_length=1, max_length=1000)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeliveryLineIn(_Strict):
    product_id: UUID
    quantity: StrictInt = Field(ge=1, le=UNITS_MAX, description="Units received.")


class AdjustmentLineIn(_Strict):
    product_id: UUID
    change: StrictInt = Field(ge=-UNITS_MAX, le=UNITS_MAX, description="Units added (positive) or removed (negative).")

    @field_validator("change")
    @classmethod
    def _moves(cls, change: int) -> int:
        if change == 0:
            raise ValueError("an adjustment of zero units moves nothing")
        return change


class CountLineIn(_Strict):
    product_id: UUID
    counted: StrictInt = Field(ge=0, le=UNITS_MAX, description="Units found on the shelves.")


class DeliveryIn(_Strict):
    """Goods received at the shop: each product's level goes up by its units."""

    id: UUID = Field(description="Chosen by the back office: a retry with the same id is the same delivery.")
    reference: Reference | None = None
    note: Note | None = None
    lines: tuple[DeliveryLineIn, ...] = Field(min_length=1, max_length=500)


class AdjustmentIn(_Strict):
    """A correction of levels with its reason: `loss` (breakage, theft: units removed) or `adjustment`."""

    id: UUID = Field(description="Chosen by the back office: a retry with the same id is the same adjustment.")
    reason: Literal["loss", "adjustment"]
    note: Note = Field(description="Why: what was lost or what the correction corrects.")
    reference: Reference | None = None
    lines: tuple[AdjustmentLineIn, ...] = Field(min_length=1, max_length=500)

    @field_validator("lines")
    @classmethod
    def _losses_remove(cls, lines: tuple[AdjustmentLineIn, ...], info: ValidationInfo) -> tuple[AdjustmentLineIn, ...]:
        if info.data.get("reason") == "loss" and any(line.change > 0 for line in lines):
            raise ValueError("a loss removes units: every change is negative")
        return lines


class InventoryIn(_Strict):
    """A count of some products: each level counted becomes what was found, and the difference is recorded."""

    id: UUID = Field(description="Chosen by the back office: a retry with the same id is the same inventory.")
    reference: Reference | None = None
    note: Note | None = None
    lines: tuple[CountLineIn, ...] = Field(min_length=1, max_length=5000)


class MovementOut(_Strict):
    id: UUID
    shop_id: UUID
    product_id: UUID
    change: int
    level_before: int
    level_after: int
    reason: StockReason
    document_type: str = Field(description="ticket, delivery, adjustment or inventory")
    document_id: UUID | None
    document_ref: str | None = Field(description="E.g. a ticket's till and number (Caisse 1/000127).")
    pos_id: UUID | None
    moved_by: UUID | None
    moved_at: datetime

    @classmethod
    def of(cls, m: StockMovement) -> MovementOut:
        return cls(
            id=m.id,
            shop_id=m.shop_id,
            product_id=m.product_id,
            change=m.change,
            level_before=m.level_before,
            level_after=m.level_after,
            reason=m.reason,
            document_type=m.document_type.value,
            document_id=m.document_id,
            document_ref=m.document_ref,
            pos_id=m.pos_id,
            moved_by=m.moved_by,
            moved_at=m.moved_at,
        )


class StockDocumentOut(_Strict):
    id: UUID
    shop_id: UUID
    document_type: str
    reason: StockReason
    reference: str | None
    note: str | None
    created_by: UUID | None
    created_at: datetime
    movements: tuple[MovementOut, ...]
    alerts: tuple[StockAlert, ...] = Field(description="Alerts of the levels it left; none on a replay.")


class LevelOut(_Strict):
    product_id: UUID
    product_name: str
    level: int
    threshold: int | None
    state: Literal["ok", "low_stock", "out_of_stock", "negative"]
    updated_at: datetime | None = Field(description="When it last moved; none: never moved (zero).")


class MovementsPageOut(_Strict):
    movements: tuple[MovementOut, ...]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next (older) page; none: the last.")


DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "Recorded now"},
    200: {"model": StockDocumentOut, "description": "Sent again: what it recorded the first time; nothing written"},
}


def _answer(done: DocumentRecorded, response: Response) -> StockDocumentOut:
    response.status_code = 200 if done.replayed else 201
    d = done.document
    return StockDocumentOut(
        id=d.id,
        shop_id=d.shop_id,
        document_type=d.document_type,
        reason=StockReason(d.reason),
        reference=d.reference,
        note=d.note,
        created_by=d.created_by,
        created_at=d.created_at,
        movements=tuple(MovementOut.of(m) for m in done.movements),
        alerts=done.alerts,
    )


@router.post("/deliveries", status_code=201, responses=DOCUMENT_RESPONSES, summary="Record goods received")
async def post_delivery(
    shop_id: UUID, body: DeliveryIn, actor: CurrentActor, services: CurrentServices, response: Response
) -> StockDocumentOut:
    document = DocumentIn(
        body.id,
        DocumentType.DELIVERY,
        StockReason.DELIVERY,
        tuple(StockLine(line.product_id, line.quantity) for line in body.lines),
        body.reference,
        body.note,
    )
    return _answer(await record_stock_document(shop_id, document, actor, services), response)


@router.post(
    "/adjustments", status_code=201, responses=DOCUMENT_RESPONSES, summary="Record a loss or a correction of levels"
)
async def post_adjustment(
    shop_id: UUID, body: AdjustmentIn, actor: CurrentActor, services: CurrentServices, response: Response
) -> StockDocumentOut:
    document = DocumentIn(
        body.id,
        DocumentType.ADJUSTMENT,
        StockReason(body.reason),
        tuple(StockLine(line.product_id, line.change) for line in body.lines),
        body.reference,
        body.note,
    )
    return _answer(await record_stock_document(shop_id, document, actor, services), response)


@router.post(
    "/inventories",
    status_code=201,
    responses=DOCUMENT_RESPONSES,
    summary="Record an inventory count: the levels counted are set, the differences recorded",
)
async def post_inventory(
    shop_id: UUID, body: InventoryIn, actor: CurrentActor, services: CurrentServices, response: Response
) -> StockDocumentOut:
    document = DocumentIn(
        body.id,
        DocumentType.INVENTORY,
        StockReason.INVENTORY,
        tuple(StockLine(line.product_id, line.counted) for line in body.lines),
        body.reference,
        body.note,
    )
    return _answer(await record_stock_document(shop_id, document, actor, services), response)


@router.get("/levels", summary="The shop's level of every stock-tracked product")
async def get_levels(
    shop_id: UUID,
    actor: CurrentActor,
    services: CurrentServices,
    product_id: UUID | None = None,
    alert: Annotated[
        Literal["low_stock", "out_of_stock"] | None,
        Query(description="`low_stock`: at or below the threshold or out of stock; `out_of_stock`: zero or below."),
    ] = None,
) -> list[LevelOut]:
    views = await stock_levels(shop_id, actor, services, product_id=product_id, alert=alert)
    return [
        LevelOut(
            product_id=v.product_id,
            product_name=v.product_name,
            level=v.level,
            threshold=v.threshold,
            state=v.state,
            updated_at=v.updated_at,
        )
        for v in views
    ]


@router.get("/movements", summary="The shop's stock movements, newest first, a page at a time")
async def get_movements(
    shop_id: UUID,
    actor: CurrentActor,
    services: CurrentServices,
    product_id: UUID | None = None,
    reason: StockReason | None = None,
    document_id: UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="From this instant on (included).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before this instant (excluded).")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of a page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MOVEMENTS_PAGE_MAX)] = 100,
) -> MovementsPageOut:
    where = MovementFilter(
        product_id=product_id,
        reason=reason.value if reason else None,
        document_id=document_id,
        since=since,
        until=until,
    )
    page = await stock_movements(shop_id, actor, services, where, before=int(cursor) if cursor else None, limit=limit)
    return MovementsPageOut(
        movements=tuple(MovementOut.of(m) for m in page.movements),
        next_cursor=str(page.next_cursor) if page.next_cursor is not None else None,
    )
