"""pos-api as the till's source of stream tokens: `POST /v1/till/stream-token`, authenticated by the device."""

from __future__ import annotations

import logging
from typing import Final

import httpx
from pydantic import ValidationError

from caisse_contracts.stream import StreamToken
from hw_proxy.domain.enrolment import DeviceIdentity
from hw_proxy.service_layer.ports import TokenUnavailableError

log = logging.getLogger(__name__)

STREAM_TOKEN_PATH: Final = "/v1/till/stream-token"  # noqa: S105 (a route, not a secret)


class PosApiStreamTokens:
    """Asks pos-api for a stream token with the till's serial and secret (the secret goes in a header, never in a
    log line)."""

    def __init__(self, client: httpx.AsyncClient, identity: DeviceIdentity) -> None:
        self._client = client
        self._identity = identity

    async def fetch(self) -> StreamToken:
        credentials = self._identity.credentials
        if credentials is None:
            raise TokenUnavailableError("the till is not enrolled", refused=True)
        headers = credentials.headers()
        try:
            response = await self._client.post(STREAM_TOKEN_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise TokenUnavailableError(f"pos-api does not answer ({type(exc).__name__})") from None
        if response.status_code in (401, 403, 404):
            raise TokenUnavailableError(f"pos-api refuses the device ({response.status_code})", refused=True)
        if response.status_code != 200:
            raise TokenUnavailableError(f"pos-api answers {response.status_code}")
        try:
            return StreamToken.model_validate_json(response.content)
        except ValidationError:
            raise TokenUnavailableError("pos-api's stream token does not match the contract") from None
