"""FastAPI dependencies of session-service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from session_service.service_layer.ports import Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Services:
    uow: UnitOfWorkFactory
    clock: Clock


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]
