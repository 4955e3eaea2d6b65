"""FastAPI dependencies: what the composition root put on the application for the routes (the use cases'
services, the secret box, paheko-bridge's token digest, the session-service proxy), the authenticated operator
and the authenticated till."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from pos_api.domain.config import Actor
from pos_api.domain.till import Device
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy
from pos_api.service_layer.config import authenticate
from pos_api.service_layer.ports import SecretBox
from pos_api.service_layer.services import Services
from pos_api.service_layer.till import authenticate_device


async def get_services(request: Request) -> Services:
    # async although it awaits nothing: FastAPI would run a plain function in a worker thread, per request.
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


CurrentSecretBox = Annotated[SecretBox, Depends(get_secret_box)]


async def get_bridge_token_sha256(request: Request) -> str | None:
    """Digest of paheko-bridge's bearer token, for the internal credentials route; None: the route is off."""
    digest: str | None = getattr(request.app.state, "bridge_token_sha256", None)
    return digest


BridgeTokenSha256 = Annotated[str | None, Depends(get_bridge_token_sha256)]


async def get_session_service(request: Request) -> SessionServiceProxy:
    proxy: SessionServiceProxy = request.app.state.session_service
    return proxy


CurrentSessionService = Annotated[SessionServiceProxy, Depends(get_session_service)]


async def get_actor(services: CurrentServices, authorization: Annotated[str | None, Header()] = None) -> Actor:
    token = (
        authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else None
    )
    return await authenticate(token, services)


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_device(
    services: CurrentServices,
    x_device_serial: Annotated[str | None, Header()] = None,
    x_device_secret: Annotated[str | None, Header()] = None,
) -> Device:
    return await authenticate_device(x_device_serial, x_device_secret, services)


CurrentDevice = Annotated[Device, Depends(get_device)]
