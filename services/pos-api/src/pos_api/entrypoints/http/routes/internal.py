"""Routes for the platform's own services, not for people or tills: paheko-bridge reads a company's Paheko
credentials here (they are stored encrypted and never shown in the back office)."""

from __future__ import annotations

import hmac
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header
from pydantic import BaseModel

from pos_api.domain.errors import NotFoundError, UnauthenticatedError
from pos_api.entrypoints.http.deps import BridgeTokenSha256, CurrentSecretBox, CurrentServices
from pos_api.service_layer.config import digest, paheko_credentials_for_bridge

router = APIRouter(prefix="/v1/internal", tags=["internal"], include_in_schema=False)


class PahekoCredentialsOut(BaseModel):
    api_user: str
    api_password: str


@router.get("/companies/{company_id}/paheko-credentials")
async def paheko_credentials(
    company_id: UUID,
    services: CurrentServices,
    box: CurrentSecretBox,
    expected: BridgeTokenSha256,
    authorization: Annotated[str | None, Header()] = None,
) -> PahekoCredentialsOut:
    if expected is None:
        raise NotFoundError("route", "/v1/internal")
    token = authorization.removeprefix("Bearer ").strip() if authorization else ""
    if not token or not hmac.compare_digest(digest(token), expected):
        raise UnauthenticatedError("paheko-bridge's bearer token is required")
    user, password = await paheko_credentials_for_bridge(company_id, services, box)
    return PahekoCredentialsOut(api_user=user, api_password=password)
