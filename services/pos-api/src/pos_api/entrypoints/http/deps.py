"""FastAPI dependencies: the services a route needs, taken from the application's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pos_api.service_layer.ports import Clock, IdFactory, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Services:
    """What the composition root hands to the routes."""

    uow: UnitOfWorkFactory
    clock: Clock
    new_id: IdFactory


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]
