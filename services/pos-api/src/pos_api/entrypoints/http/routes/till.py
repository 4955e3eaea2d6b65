"""Till routes: boot (`pos-data`) and the config stream's token with the device's serial and secret (a till only
sees its own shop), and the public keys the notifier verifies those tokens with."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from caisse_contracts.stream import STREAM_KEYS_PATH, StreamKeySet, StreamToken
from caisse_contracts.till_reports import TILL_NUMBERING_PATH, TILL_REPORT_PATH, Numbering, TillReport
from caisse_contracts.till_views import PosData
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.service_layer.stream_tokens import issue_stream_token, stream_keys
from pos_api.service_layer.till import pos_data
from pos_api.service_layer.till_reports import numbering, save_report

router = APIRouter(prefix="/v1", tags=["till"])

STREAM_KEYS_CACHE_CONTROL = "public, max-age=300"
"""Caches (the notifier's, a proxy's) may keep the keys five minutes without asking again."""


@router.get(
    "/pos-data",
    summary="Everything a till needs to boot, in one call",
    response_model=None,
    responses={200: {"model": PosData}},
)
async def get_pos_data(device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    return JSONResponse((await pos_data(device, services)).model_dump(mode="json"))


@router.post(
    "/till/stream-token",
    summary="A new token for the notifier's config stream, to renew the one held before it ends",
    response_model=None,
    responses={200: {"model": StreamToken}, 503: {"description": "pos-api hands out no stream token"}},
)
async def post_stream_token(device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    return JSONResponse(issue_stream_token(device, services).model_dump(mode="json"))


@router.get(
    STREAM_KEYS_PATH.removeprefix("/v1"),
    summary="The public keys of the stream tokens (JWKS), for the notifier",
    tags=["stream"],
    response_model=None,
    responses={200: {"model": StreamKeySet}},
)
async def get_stream_keys(services: CurrentServices) -> JSONResponse:
    return JSONResponse(
        stream_keys(services).model_dump(mode="json"), headers={"Cache-Control": STREAM_KEYS_CACHE_CONTROL}
    )


@router.put(
    TILL_REPORT_PATH.removeprefix("/v1"),
    summary="What the till knows of itself: its last number, a number clash, the entries of its queue kept aside",
    description="A newer report (by `reported_at`) replaces the one held; an older one is ignored (204 either way), "
    "so a report sent again or late never hides a newer one. Ops read them at `GET /v1/ops/tills`.",
    status_code=204,
)
async def put_till_report(report: TillReport, device: CurrentDevice, services: CurrentServices) -> Response:
    await save_report(device, report, services)
    return Response(status_code=204)


@router.get(
    TILL_NUMBERING_PATH.removeprefix("/v1"),
    summary="pos-api's last ticket number of this till and the latest release of its numbering by ops",
)
async def get_numbering(device: CurrentDevice, services: CurrentServices) -> Numbering:
    return await numbering(device, services)
