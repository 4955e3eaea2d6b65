"""Till routes: boot (`pos-data`) and the config stream's token with the device's serial and secret (a till only
sees its own shop), and the public keys the notifier verifies those tokens with."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from caisse_contracts.stream import STREAM_KEYS_PATH, StreamKeySet, StreamToken
from caisse_contracts.till_views import PosData
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.service_layer.stream_tokens import issue_stream_token, stream_keys
from pos_api.service_layer.till import pos_data

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
