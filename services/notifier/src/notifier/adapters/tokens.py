"""Stream tokens checked with pos-api's public keys (its JWKS), fetched once and kept: no call to pos-api per
connection. A token signed by a key not seen yet makes the keys be fetched again (at most every `refetch_s`), so a
rotation at pos-api needs no restart here. (`service_layer.tokens.RememberedTokens` in front of it checks each
token once.)"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import httpx
import jwt
from pydantic import ValidationError

from caisse_contracts.stream import STREAM_AUDIENCE, STREAM_ISSUER, STREAM_TOKEN_MAX_S, StreamClaims
from notifier.domain.errors import TokenRefusedError
from notifier.service_layer.tokens import LEEWAY_S

log = logging.getLogger(__name__)

KEYS_PATH: Final = "/v1/stream-keys"
READY_RETRY_S: Final = 3.0


class JwksTokens:
    """Verifies stream tokens against the JWKS at `{pos_api_url}/v1/stream-keys`."""

    def __init__(self, pos_api_url: str, *, refetch_s: float = 30.0, timeout_s: float = 5.0) -> None:
        self._url = pos_api_url.rstrip("/") + KEYS_PATH
        self._refetch_s = refetch_s
        self._timeout_s = timeout_s
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None

    @property
    def loaded(self) -> bool:
        return self._fetched_at is not None

    async def answers(self) -> bool:
        """Readiness: the keys are known (asked again, at most every few seconds, while they are not)."""
        now = time.monotonic()
        if not self.loaded and (self._tried_at is None or now - self._tried_at >= READY_RETRY_S):
            await self.fetch()
        return self.loaded

    async def fetch(self) -> None:
        """Fetch the keys; a failure keeps the ones known and is logged (the next unknown key tries again)."""
        self._tried_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                document = response.json()
            keys = jwt.PyJWKSet.from_dict(document) if document.get("keys") else None
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            log.warning("pos-api's stream keys could not be fetched from %s: %s", self._url, exc)
            return
        self._keys = {k.key_id: k for k in keys.keys if k.key_id} if keys is not None else {}
        self._fetched_at = time.monotonic()
        log.info("%d stream key(s) known from pos-api", len(self._keys))

    async def verify(self, token: str) -> StreamClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRefusedError("not a token") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefusedError("the token names no key")
        key = self._keys.get(kid)
        if key is None and (self._fetched_at is None or time.monotonic() - self._fetched_at >= self._refetch_s):
            await self.fetch()
            key = self._keys.get(kid)
        if key is None:
            raise TokenRefusedError("signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["EdDSA"],
                audience=STREAM_AUDIENCE,
                issuer=STREAM_ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefusedError("the token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRefusedError("the signature does not match") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefusedError("the token is not for the notifier") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRefusedError("the token is not pos-api's") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefusedError(f"invalid token: {exc}") from exc
        try:
            parsed = StreamClaims.model_validate(claims)
        except ValidationError as exc:
            raise TokenRefusedError("the token's claims are not a till's") from exc
        if parsed.exp - parsed.iat > STREAM_TOKEN_MAX_S:
            raise TokenRefusedError("the token lives longer than a stream token may")
        return parsed
