"""Federation ops routes: what the platform is waiting for, e.g. tickets missing from a till's numbering."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from caisse_contracts.events import EntityType
from pos_api.entrypoints.http.deps import CurrentActor, CurrentServices
from pos_api.service_layer.config import list_items

router = APIRouter(prefix="/v1/ops", tags=["ops"])


class TicketGap(BaseModel):
    pos_id: UUID
    number: int
    missing_since: datetime


@router.get("/ticket-gaps", summary="Ticket numbers a till skipped and that have not arrived yet")
async def ticket_gaps(actor: CurrentActor, services: CurrentServices) -> list[TicketGap]:
    tills = [p.id for p in await list_items(EntityType.POS, actor, services.config)]
    async with services.uow() as work:
        gaps = await work.tickets.open_gaps(tills)
    return [TicketGap(pos_id=p, number=n, missing_since=at) for p, n, at in gaps]
