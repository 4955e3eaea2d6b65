"""FastAPI dependencies of session-service: its services, and who is calling (pos-api's service token, with the till
or the operator it calls for)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Final
from uuid import UUID

from fastapi import Depends, Header, Request

from session_service.domain.access import OPERATOR_ROLES, Caller
from session_service.domain.errors import UnauthenticatedError
from session_service.service_layer.ports import Clock, Documents, UnitOfWorkFactory
from session_service.service_layer.sessions import SessionServices

POS_HEADER: Final = "X-Caisse-Pos-Id"
OPERATOR_HEADER: Final = "X-Caisse-Operator-Id"
ROLE_HEADER: Final = "X-Caisse-Operator-Role"
SHOP_HEADER: Final = "X-Caisse-Shop-Id"
COMPANY_HEADER: Final = "X-Caisse-Company-Id"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Services:
    uow: UnitOfWorkFactory
    clock: Clock
    sessions: SessionServices
    documents: Documents
    wake_mail: Callable[[], None] = field(default=lambda: None)
    """Tells the mail sender that a report was just queued."""
    service_token_sha256: str | None = None
    """Digest of the service token pos-api calls with; unset, every request is refused."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


CurrentServices = Annotated[Services, Depends(get_services)]


def _uuid(value: str | None, header: str) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise UnauthenticatedError(f"{header} is not an id") from None


async def get_caller(
    services: CurrentServices,
    authorization: Annotated[str | None, Header(description="`Bearer <service token>` of pos-api")] = None,
    x_caisse_pos_id: Annotated[str | None, Header(description="The till pos-api calls for")] = None,
    x_caisse_operator_id: Annotated[str | None, Header(description="The operator pos-api calls for")] = None,
    x_caisse_operator_role: Annotated[str | None, Header(description="That operator's role")] = None,
    x_caisse_shop_id: Annotated[str | None, Header(description="That operator's shop")] = None,
    x_caisse_company_id: Annotated[str | None, Header(description="That operator's company")] = None,
) -> Caller:
    """pos-api's service token, alone (pos-api itself) or with the till or the operator it authenticated."""
    expected = services.service_token_sha256
    token = (
        authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else ""
    )
    if not token:
        raise UnauthenticatedError("the service token is required (session-service is reached through pos-api)")
    if expected is None or not hmac.compare_digest(token_digest(token), expected):
        raise UnauthenticatedError("unknown service token")
    pos_id = _uuid(x_caisse_pos_id, POS_HEADER)
    operator_id = _uuid(x_caisse_operator_id, OPERATOR_HEADER)
    if pos_id is not None and operator_id is not None:
        raise UnauthenticatedError(f"{POS_HEADER} and {OPERATOR_HEADER} name two callers")
    if pos_id is not None:
        return Caller.till(pos_id)
    if operator_id is not None:
        if x_caisse_operator_role not in OPERATOR_ROLES:
            raise UnauthenticatedError(f"{ROLE_HEADER} must be one of {', '.join(sorted(OPERATOR_ROLES))}")
        return Caller.operator(
            operator_id,
            x_caisse_operator_role,
            _uuid(x_caisse_shop_id, SHOP_HEADER),
            _uuid(x_caisse_company_id, COMPANY_HEADER),
        )
    return Caller.service()


CurrentCaller = Annotated[Caller, Depends(get_caller)]
