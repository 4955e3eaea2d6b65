"""Use case: stream tokens verified once, remembered until they expire — in memory, and in the database so that a
restart does not make every till pay for a signature check again.

A till keeps its token (up to 15 minutes) and comes back with it after a restart of the notifier, as ten thousand
of them do at once. The same bytes, checked with the same keys, give the same claims: what is remembered is the
token's SHA-256 digest (never the token) and its claims. A key withdrawn from pos-api's set stops new tokens at once;
the ones already verified live out their 15 minutes at most, on every replica sharing the database.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Final

from caisse_contracts.stream import StreamClaims
from notifier.domain.errors import TokenRefusedError
from notifier.service_layer.ports import TokenStore, TokenVerifier

log = logging.getLogger(__name__)

LEEWAY_S: Final = 5
"""A remembered token's end, as the verifier's own leeway lets it pass."""
REMEMBERED: Final = 100_000
"""Verified tokens remembered at most in memory (one per till, a few hundred bytes each)."""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class RememberedTokens:
    """A `TokenVerifier` in front of another: each token is checked once, then remembered until it expires."""

    def __init__(self, verifier: TokenVerifier, store: TokenStore, *, limit: int = REMEMBERED) -> None:
        self._verifier = verifier
        self._store = store
        self._limit = limit
        self._known: dict[bytes, StreamClaims] = {}
        self._fresh: dict[bytes, StreamClaims] = {}
        """Verified since the last `save`."""

    async def load(self) -> None:
        """At start: the tokens still valid that this notifier (or another replica) verified."""
        remembered = await self._store.remembered(time.time())
        for key, claims in remembered[: self._limit]:
            self._known[key] = claims
        log.info("%d verified stream tokens remembered from the database", len(self._known))

    async def verify(self, token: str) -> StreamClaims:
        key = digest(token)
        known = self._known.get(key)
        if known is not None:
            if time.time() > known.exp + LEEWAY_S:
                del self._known[key]
                raise TokenRefusedError("the token expired")
            return known
        claims = await self._verifier.verify(token)
        if len(self._known) >= self._limit:
            now = time.time()
            self._known = {k: c for k, c in self._known.items() if c.exp + LEEWAY_S >= now}
            if len(self._known) >= self._limit:
                self._known.clear()
        self._known[key] = self._fresh[key] = claims
        return claims

    async def save(self) -> int:
        """Write the tokens verified since the last call (one statement) and forget the expired ones; what fails
        to be written is kept for the next call. The number written."""
        fresh = list(self._fresh.items())
        await self._store.remember(fresh, time.time() - LEEWAY_S)
        for key, claims in fresh:
            if self._fresh.get(key) is claims:
                del self._fresh[key]
        return len(fresh)
