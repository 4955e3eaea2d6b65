"""FastAPI dependencies: the services a route needs, the authenticated operator, the authenticated till."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request

from pos_api.domain.config import Actor
from pos_api.service_layer.cache import TillCache
from pos_api.service_layer.config import ConfigServices, authenticate
from pos_api.service_layer.ports import Clock, IdFactory, SecretBox, TillWorkFactory, UnitOfWorkFactory
from pos_api.service_layer.till import Device, authenticate_device


@dataclass(frozen=True, slots=True)
class Services:
    """What the composition root hands to the routes."""

    uow: UnitOfWorkFactory
    clock: Clock
    new_id: IdFactory
    secret_box: SecretBox
    cache: TillCache = field(default_factory=TillCache)
    till_uow: TillWorkFactory | None = None
    till_steps_uow: TillWorkFactory | None = None
    bridge_token_sha256: str | None = None
    """Digest of paheko-bridge's bearer token, for the internal credentials route."""

    _config: ConfigServices = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: the use cases keep per-process memory in it (the till cache, each till's last sale).
        config = ConfigServices(
            uow=self.uow,
            clock=self.clock,
            new_id=self.new_id,
            cache=self.cache,
            till_uow=self.till_uow,
            till_steps_uow=self.till_steps_uow,
        )
        object.__setattr__(self, "_config", config)

    @property
    def config(self) -> ConfigServices:
        return self._config


async def get_services(request: Request) -> Services:
    # async although it awaits nothing: FastAPI would run a plain function in a worker thread, per request.
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]


async def get_actor(services: CurrentServices, authorization: Annotated[str | None, Header()] = None) -> Actor:
    token = (
        authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else None
    )
    return await authenticate(token, services.config)


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_device(
    services: CurrentServices,
    x_device_serial: Annotated[str | None, Header()] = None,
    x_device_secret: Annotated[str | None, Header()] = None,
) -> Device:
    return await authenticate_device(x_device_serial, x_device_secret, services.config)


CurrentDevice = Annotated[Device, Depends(get_device)]
