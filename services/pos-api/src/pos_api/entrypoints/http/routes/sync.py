"""Offline sync route: a till hands over the sales it made offline, in batches, and reads what became of each.

The body is read as a list first and each sale is validated on its own (`OFFLINE_SALE`): a sale that does not
validate (a float for money, a negative weight, a field missing) is answered `failed` with the fields that are
wrong, and the others are processed. Only what spoils the whole request refuses it: a body that is not JSON
(400), one without a list of `sales` (422), more sales than `POS_API_SYNC_BATCH_MAX` (413), nothing written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, TypeAdapter, ValidationError, field_validator

from caisse_contracts.sync import (
    SYNC_BATCH_DEFAULT,
    InvalidField,
    OfflineSale,
    SaleProblem,
    SaleResult,
    SyncAnswer,
)
from caisse_runtime.http import PROBLEM_TYPE_BASE, REFUSED, InvalidParam, ProblemError
from pos_api.domain.errors import PosApiError
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.entrypoints.http.problems import PROBLEMS
from pos_api.service_layer.sync import SyncedSale, sync_sales

router = APIRouter(prefix="/v1/sync", tags=["sync"])

OFFLINE_SALE: Final[TypeAdapter[OfflineSale]] = TypeAdapter(OfflineSale)


class SalesBatchIn(BaseModel):
    """`caisse_contracts.sync.SalesBatch` as this route reads it: a list of sales, each validated on its own."""

    model_config = ConfigDict(extra="forbid")

    sales: SkipValidation[list[OfflineSale]] = Field(
        description=f"The till's queued sales, oldest first; at most POS_API_SYNC_BATCH_MAX ({SYNC_BATCH_DEFAULT} by "
        "default). Each is validated on its own: one that does not validate is answered `failed`."
    )

    @field_validator("sales", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("must be a list of sales")
        return value


def _batch_max(request: Request) -> int:
    """`POS_API_SYNC_BATCH_MAX`, which the composition root puts on the application."""
    limit: int = getattr(request.app.state, "sync_batch_max", SYNC_BATCH_DEFAULT)
    return limit


@router.post(
    "/sales",
    summary="Sales made offline, in a batch: each stored once with its ticket.finalized, each answered",
    response_model=SyncAnswer,
    responses={413: {"description": "More sales than POS_API_SYNC_BATCH_MAX: nothing is written"}},
)
async def post_sales(
    batch: SalesBatchIn, request: Request, device: CurrentDevice, services: CurrentServices
) -> Response:
    """One result per sale, in the batch's order: `created`, `already_exists` (the original ticket), `conflict`
    (kept aside for ops) or `failed` (a problem naming the fields); a sale refused never stops the others."""
    raw: Sequence[Any] = batch.sales
    limit = _batch_max(request)
    if len(raw) > limit:
        raise ProblemError(
            413,
            "Batch too large",
            detail=f"{len(raw)} sales in one batch; at most {limit}",
            invalid_params=[InvalidParam("sales", f"has {len(raw)} sales; a batch has at most {limit}")],
        )
    read: list[OfflineSale | SaleProblem] = [_read(sale) for sale in raw]
    synced = iter(await sync_sales(device, [s for s in read if isinstance(s, OfflineSale)], services))
    results = [
        _result(i, sale, next(synced)) if isinstance(sale, OfflineSale) else _unread(i, raw[i], sale)
        for i, sale in enumerate(read)
    ]
    answer = SyncAnswer(
        results=tuple(results),
        created=sum(r.outcome == "created" for r in results),
        already_exists=sum(r.outcome == "already_exists" for r in results),
        conflicts=sum(r.outcome == "conflict" for r in results),
        failed=sum(r.outcome == "failed" for r in results),
    )
    return Response(answer.model_dump_json(), media_type="application/json")


def _read(sale: Any) -> OfflineSale | SaleProblem:
    try:
        return OFFLINE_SALE.validate_python(sale)
    except ValidationError as invalid:
        errors = invalid.errors()
        # A list whose item is refused also reports itself too short: the item names what is wrong.
        inner = {e["loc"][:n] for e in errors for n in range(len(e["loc"]))}
        fields = tuple(InvalidField(name=_field(e["loc"]), reason=e["msg"]) for e in errors if e["loc"] not in inner)
        return SaleProblem(
            type=PROBLEM_TYPE_BASE + "sale-invalid",
            title="Invalid sale",
            status=422,
            detail="; ".join(f"{f.name}: {f.reason}" for f in fields),
            invalid_params=fields,
        )


def _field(loc: Sequence[int | str]) -> str:
    """`lines[2].unit_price` from pydantic's ('lines', 2, 'unit_price'); `sale` for the sale as a whole."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name or "sale"


def _unread(index: int, raw: Any, problem: SaleProblem) -> SaleResult:
    """A sale that does not validate, named by what of it can still be read (its id and number)."""
    fields = raw if isinstance(raw, dict) else {}
    number = fields.get("number")
    try:
        ticket_id = UUID(str(fields["ticket_id"]))
    except (KeyError, ValueError):
        ticket_id = None
    return SaleResult(
        index=index,
        outcome="failed",
        ticket_id=ticket_id,
        number=number if type(number) is int else None,
        problem=problem,
    )


def _result(index: int, sale: OfflineSale, synced: SyncedSale) -> SaleResult:
    stored = synced.stored
    error = synced.error
    return SaleResult(
        index=index,
        outcome=synced.outcome.value,
        ticket_id=sale.ticket_id,
        number=sale.number,
        ticket=stored.ticket if stored is not None else None,
        existing_ticket_id=getattr(error, "existing_ticket_id", None),
        problem=_problem(error) if error is not None else None,
        alerts=synced.alerts,
    )


def _problem(error: PosApiError) -> SaleProblem:
    """The problem the same sale would get alone: the row of pos-api's problem table for its error."""
    problem = next((p for kind, p in PROBLEMS.items() if isinstance(error, kind)), REFUSED)
    return SaleProblem(
        type=PROBLEM_TYPE_BASE + problem.slug,
        title=problem.title,
        status=problem.status,
        detail=str(error),
        invalid_params=tuple(InvalidField(name=p.name, reason=p.reason) for p in problem.params(error)),
    )
