"""Federation ops routes: what the platform is waiting for or kept aside, e.g. tickets missing from a till's
numbering, numbers sent again with other content."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.till_reports import NumberingRelease, NumberingReleaseIn, TillReportView
from caisse_contracts.tills import BasketContent, CreditNoteIn
from pos_api.entrypoints.http.deps import CurrentActor, CurrentServices
from pos_api.service_layer.config import list_items
from pos_api.service_layer.till_reports import release_numbering, till_reports

router = APIRouter(prefix="/v1/ops", tags=["ops"])


class TicketGap(BaseModel):
    pos_id: UUID
    number: int
    missing_since: datetime


@router.get("/ticket-gaps", summary="Ticket numbers a till skipped and that have not arrived yet")
async def ticket_gaps(actor: CurrentActor, services: CurrentServices) -> list[TicketGap]:
    tills = [p.id for p in await list_items(EntityType.POS, actor, services)]
    async with services.uow() as work:
        gaps = await work.tickets.open_gaps(tills)
    return [TicketGap(pos_id=p, number=n, missing_since=at) for p, n, at in gaps]


class TicketConflictView(BaseModel):
    pos_id: UUID
    number: int
    existing_ticket_id: UUID
    attempted_ticket_id: UUID
    source: Literal["finalize", "credit_note", "ticket"]
    attempt: BasketContent | CreditNoteIn | TicketFinalizedV1
    """What the till sent: the basket's content (`finalize`), the credit note asked for (`credit_note`) or its
    own ticket (`ticket`)."""
    detected_at: datetime


ATTEMPTS: Final[dict[str, type[BasketContent | CreditNoteIn | TicketFinalizedV1]]] = {
    "finalize": BasketContent,
    "credit_note": CreditNoteIn,
    "ticket": TicketFinalizedV1,
}
"""The shape of what the till sent, by where it sent it."""


@router.get(
    "/ticket-conflicts",
    summary="Ticket numbers a till sent again with other content: refused (409) and kept here, never overwritten",
)
async def ticket_conflicts(actor: CurrentActor, services: CurrentServices) -> list[TicketConflictView]:
    tills = [p.id for p in await list_items(EntityType.POS, actor, services)]
    async with services.uow() as work:
        kept = await work.tickets.conflicts(tills)
    return [
        TicketConflictView(
            pos_id=c.pos_id,
            number=c.number,
            existing_ticket_id=c.existing_ticket_id,
            attempted_ticket_id=c.attempted_ticket_id,
            source=c.source,
            attempt=ATTEMPTS[c.source].model_validate_json(json.dumps(c.attempt)),
            detected_at=c.detected_at,
        )
        for c in kept
    ]


@router.get(
    "/tills",
    summary="Each till with what it last reported (its last number, a number clash, the entries it keeps aside) "
    "beside pos-api's last number of it; those needing ops first",
)
async def get_tills(
    actor: CurrentActor,
    services: CurrentServices,
    needs_ops: bool | None = Query(None, description="Only the tills that need ops (true) or only the others."),
) -> list[TillReportView]:
    return await till_reports(actor, services, needs_ops=needs_ops)


@router.post(
    "/tills/{pos_id}/numbering-release",
    summary="Let a till that found its numbers already used centrally (restored from an old backup) resume after "
    "pos-api's last number of it",
    description="`resume_after` must be pos-api's last ticket number of the till as it stands (else 409 with the "
    "number it holds): the till takes the release only while that is still the last number. Asked again, the "
    "release given answers (200).",
    status_code=201,
    responses={200: {"model": NumberingRelease}, 409: {"description": "Not the till's last number"}},
)
async def post_numbering_release(
    pos_id: UUID, body: NumberingReleaseIn, actor: CurrentActor, services: CurrentServices, response: Response
) -> NumberingRelease:
    release, new = await release_numbering(pos_id, body, actor, services)
    if not new:
        response.status_code = 200
    return release
