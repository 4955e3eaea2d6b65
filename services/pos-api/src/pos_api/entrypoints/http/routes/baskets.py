"""Basket routes of the till: persist on every change, read with computed totals, finalize with the ticket number."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from caisse_contracts.till_views import BasketOut
from caisse_contracts.tills import BasketPut, FinalizeIn, Receipt
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices, get_device, get_services
from pos_api.entrypoints.http.lean import LeanRoute, is_json, served_lean
from pos_api.service_layer.baskets import (
    BasketView,
    Finalized,
    current_basket,
    finalize_basket,
    read_basket,
    save_basket,
)

router = APIRouter(prefix="/v1/baskets", tags=["till"], route_class=LeanRoute)


def _lean_body(model: type[BaseModel]) -> Any:
    """Arguments of a basket route with a JSON body of `model`, read in one pass (`lean`), or None."""

    async def arguments(request: Request) -> dict[str, Any] | None:
        raw_id = request.path_params["basket_id"]
        if len(raw_id) != 36 or not is_json(request):  # only the canonical form: any other goes to FastAPI
            return None
        try:
            basket_id = UUID(raw_id)
            body = model.model_validate_json(await request.body())
        except ValueError:  # pydantic's ValidationError is one: FastAPI reads the request again and names the field
            return None
        services = await get_services(request)
        serial, secret = request.headers.get("x-device-serial"), request.headers.get("x-device-secret")
        device = await get_device(services, serial, secret)
        return {"basket_id": basket_id, "body": body, "device": device, "services": services}

    return arguments


def _view(view: BasketView) -> JSONResponse:
    body = {
        "id": str(view.basket.id),
        "version": view.basket.version,
        "status": "finalized" if view.basket.finalized else "open",
        "ticket_id": str(view.basket.ticket_id) if view.basket.ticket_id else None,
        "content": view.basket.content.model_dump(mode="json"),
        "computed": view.computed.as_dict(),
    }
    return JSONResponse(body, headers={"ETag": f'"{view.basket.version}"'})


@router.get(
    "/current",
    summary="The till's open basket, as it left it (after a reboot)",
    response_model=None,
    responses={200: {"model": BasketOut}},
)
async def get_current_basket(device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    return _view(await current_basket(device, services))


@router.put(
    "/{basket_id}",
    summary="Save the basket (optimistic: the version read, 0 for a new one)",
    description=(
        "The till makes the basket's id, which becomes its ticket's id. Any UUID is accepted; a time-ordered one"
        " (UUIDv7, as `caisse_contracts.ids.new_id` makes them) keeps a day's tickets side by side in the"
        " database's indexes. The till simulator sends those."
    ),
    response_model=None,
    responses={200: {"model": BasketOut}},
)
@served_lean(_lean_body(BasketPut))
async def put_basket(
    basket_id: UUID, body: BasketPut, device: CurrentDevice, services: CurrentServices
) -> JSONResponse:
    return _view(await save_basket(device, basket_id, body, services))


@router.get(
    "/{basket_id}",
    summary="The basket with its computed totals",
    response_model=None,
    responses={200: {"model": BasketOut}},
)
async def get_basket(basket_id: UUID, device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    return _view(await read_basket(device, basket_id, services))


TICKET_OUTCOME: dict[str, Any] = {
    "X-Ticket-Outcome": {
        "description": (
            "`created`: the ticket was stored now (201). `already_exists`: this number already holds this very"
            " sale, answered again as it was first recorded (200); nothing is written. Another sale under a"
            " number already used is a 409 problem (`ticket-number-conflict`), kept aside for ops"
            " (`GET /v1/ops/ticket-conflicts`)."
        ),
        "schema": {"type": "string", "enum": ["created", "already_exists"]},
    }
}
"""The response header that tells a till whether its ticket was stored now or was already there."""

RECEIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": Receipt, "description": "The ticket is stored: its receipt", "headers": TICKET_OUTCOME},
    200: {"model": Receipt, "description": "Identical replay: the original receipt", "headers": TICKET_OUTCOME},
}


@router.post(
    "/{basket_id}/finalize",
    status_code=201,
    summary="Finalize with the till's ticket number; the receipt",
    responses=RECEIPT_RESPONSES,
    response_model=None,
)
@served_lean(_lean_body(FinalizeIn))
async def post_finalize(
    basket_id: UUID, body: FinalizeIn, device: CurrentDevice, services: CurrentServices
) -> Response:
    return receipt_response(await finalize_basket(device, basket_id, body, services))


def receipt_response(done: Finalized) -> Response:
    """201 with the receipt of a new ticket; 200 with the original receipt on an identical replay; the
    `X-Ticket-Outcome` header says which (`TICKET_OUTCOME`)."""
    return Response(
        done.receipt.model_dump_json(),
        status_code=200 if done.replayed else 201,
        media_type="application/json",
        headers={"X-Ticket-Outcome": "already_exists" if done.replayed else "created"},
    )
