"""Basket routes of the till: persist on every change, read with computed totals, finalize with the ticket number."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from caisse_contracts.tills import BasketPut, FinalizeIn, Receipt
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.service_layer.baskets import BasketView, finalize_basket, read_basket, save_basket

router = APIRouter(prefix="/v1/baskets", tags=["till"])


def _view(view: BasketView, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = f'"{view.basket.version}"'
    return {
        "id": str(view.basket.id),
        "version": view.basket.version,
        "status": "finalized" if view.basket.finalized else "open",
        "ticket_id": str(view.basket.ticket_id) if view.basket.ticket_id else None,
        "content": view.basket.content.model_dump(mode="json"),
        "computed": view.computed.as_dict(),
    }


@router.put("/{basket_id}", summary="Save the basket (optimistic: the version read, 0 for a new one)")
async def put_basket(
    basket_id: UUID, body: BasketPut, device: CurrentDevice, services: CurrentServices, response: Response
) -> dict[str, Any]:
    return _view(await save_basket(device, basket_id, body, services.config), response)


@router.get("/{basket_id}", summary="The basket with its computed totals")
async def get_basket(
    basket_id: UUID, device: CurrentDevice, services: CurrentServices, response: Response
) -> dict[str, Any]:
    return _view(await read_basket(device, basket_id, services.config), response)


@router.post("/{basket_id}/finalize", status_code=201, summary="Finalize with the till's ticket number; the receipt")
async def post_finalize(
    basket_id: UUID, body: FinalizeIn, device: CurrentDevice, services: CurrentServices, response: Response
) -> Receipt:
    finalized = await finalize_basket(device, basket_id, body, services.config)
    if finalized.replayed:
        response.status_code = 200
    response.headers["X-Ticket-Outcome"] = "already_exists" if finalized.replayed else "created"
    return finalized.receipt
