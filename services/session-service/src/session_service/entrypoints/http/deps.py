"""FastAPI dependencies of session-service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from session_service.service_layer.ports import Clock, Documents, UnitOfWorkFactory
from session_service.service_layer.sessions import SessionServices


@dataclass(frozen=True, slots=True)
class Services:
    uow: UnitOfWorkFactory
    clock: Clock
    sessions: SessionServices
    documents: Documents
    wake_mail: Callable[[], None] = field(default=lambda: None)
    """Tells the mail sender that a report was just queued."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]
