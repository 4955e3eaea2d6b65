"""`GET /v1/tills` for ops: which tills are online, where, when last seen, and how far behind their config is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from caisse_runtime.http import bearer_only
from notifier.service_layer.ports import TillsOf
from notifier.service_layer.presence import Presence, TillStatus


def _ops_token(request: Request) -> str | None:
    token: str | None = request.app.state.ops_token
    return token


router = APIRouter(
    prefix="/v1", tags=["ops"], dependencies=[Depends(bearer_only(_ops_token, whose="the notifier's ops"))]
)


class TillOut(BaseModel):
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    territory_id: UUID
    online: bool
    notifier: str
    """The replica it is (or was last) connected to."""
    connected_at: datetime
    disconnected_at: datetime | None
    last_seen_at: datetime
    acked_position: int | None
    lag: int | None
    """Changes of its scope it has not acknowledged (None: it never acknowledged anything)."""
    close_code: int | None

    @classmethod
    def of(cls, status: TillStatus) -> TillOut:
        r = status.row
        return cls(
            pos_id=r.pos_id,
            shop_id=r.shop_id,
            company_id=r.company_id,
            territory_id=r.territory_id,
            online=status.online,
            notifier=r.notifier,
            connected_at=r.connected_at,
            disconnected_at=r.disconnected_at,
            last_seen_at=r.last_seen_at,
            acked_position=r.acked_position,
            lag=status.lag,
            close_code=r.close_code,
        )


class TillsOut(BaseModel):
    position: int | None
    """The newest position this replica holds."""
    tills: list[TillOut]


@router.get("/tills", summary="The tills: online or not, last seen, how far behind", response_model=TillsOut)
async def list_tills(
    request: Request,
    shop_id: UUID | None = None,
    company_id: UUID | None = None,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> TillsOut:
    presence: Presence = request.app.state.stream.presence
    statuses = await presence.tills(TillsOf(shop_id=shop_id, company_id=company_id, limit=limit))
    return TillsOut(
        position=request.app.state.stream.state.latest,
        tills=[TillOut.of(s) for s in statuses if online is None or s.online is online],
    )
