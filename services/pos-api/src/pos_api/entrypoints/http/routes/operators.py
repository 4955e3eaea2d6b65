"""Cashier routes: the back office sets a PIN; a till logs a cashier of its shop in with it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from pos_api.entrypoints.http.deps import CurrentActor, CurrentDevice, CurrentServices
from pos_api.service_layer.operators import cashier_login, set_pin

router = APIRouter(prefix="/v1", tags=["operators"])

Pin = Annotated[str, Field(min_length=4, max_length=8, pattern=r"^[0-9]+$")]


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Pin


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator_id: UUID
    pin: Pin


class LoginOut(BaseModel):
    operator_id: UUID
    name: str
    role: str


@router.put("/operators/{operator_id}/pin", status_code=204, summary="Set a cashier's PIN (4 to 8 digits)")
async def put_pin(operator_id: UUID, body: PinIn, actor: CurrentActor, services: CurrentServices) -> None:
    await set_pin(operator_id, body.pin, actor, services)


@router.post("/cashier-login", summary="A cashier of this till's shop logs in with their PIN")
async def post_login(body: LoginIn, device: CurrentDevice, services: CurrentServices) -> LoginOut:
    done = await cashier_login(device, body.operator_id, body.pin, services)
    return LoginOut(operator_id=done.operator_id, name=done.name, role=done.role.value)
