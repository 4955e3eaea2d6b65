"""Till routes: boot (`pos-data`) with the device's serial and secret; a till only sees its own shop."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from caisse_contracts.till_views import PosData
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.service_layer.till import pos_data

router = APIRouter(prefix="/v1", tags=["till"])


@router.get(
    "/pos-data",
    summary="Everything a till needs to boot, in one call",
    response_model=None,
    responses={200: {"model": PosData}},
)
async def get_pos_data(device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    return JSONResponse((await pos_data(device, services)).model_dump(mode="json"))
