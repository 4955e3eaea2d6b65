"""Stream tokens checked with pos-api's keys: refused with a reason, and a token seen once costs no second check,
not even after a restart (it is remembered, by digest, in the database)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from caisse_contracts.stream import StreamClaims
from notifier.adapters.tokens import JwksTokens
from notifier.domain.errors import TokenRefusedError
from notifier.service_layer.tokens import LEEWAY_S, RememberedTokens, digest
from stream_support import Keys, new_scope


class MemoryTokens:
    """The database's verified tokens, in memory."""

    def __init__(self) -> None:
        self.rows: dict[bytes, StreamClaims] = {}

    async def remembered(self, now: float) -> list[tuple[bytes, StreamClaims]]:
        return [(d, c) for d, c in self.rows.items() if c.exp >= now]

    async def remember(self, tokens: Sequence[tuple[bytes, StreamClaims]], expired_before: float) -> None:
        self.rows.update(tokens)
        self.rows = {d: c for d, c in self.rows.items() if c.exp >= expired_before}


@pytest.fixture
def keys() -> Iterator[Keys]:
    served = Keys()
    yield served
    served.close()


async def test_a_token_verified_once_is_remembered_until_it_expires(keys: Keys) -> None:
    tokens = RememberedTokens(JwksTokens(keys.url), MemoryTokens())
    scope = new_scope()
    token = keys.token(scope)
    claims = await tokens.verify(token)
    assert (claims.pos, claims.shop) == (scope.pos_id, scope.shop_id)
    keys.jwks = {"keys": []}  # pos-api withdrew every key: a new token is refused, the one seen still passes
    with pytest.raises(TokenRefusedError):
        await tokens.verify(keys.token(new_scope(), kid="another"))
    assert await tokens.verify(token) == claims


async def test_a_restarted_notifier_remembers_the_tokens_verified_before_by_digest_only(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryTokens()
    before = RememberedTokens(JwksTokens(keys.url), store)
    scope = new_scope()
    token, short = keys.token(scope), keys.token(new_scope(), ttl_s=60)
    claims = await before.verify(token)
    await before.verify(short)
    assert await before.save() == 2
    assert set(store.rows) == {digest(token), digest(short)}  # the digest, never the token
    assert await before.save() == 0  # nothing new

    keys.jwks = {"keys": []}  # the keys are gone: only what was verified before passes
    after = RememberedTokens(JwksTokens(keys.url), store)
    await after.load()
    assert await after.verify(token) == claims
    with pytest.raises(TokenRefusedError, match="unknown key"):
        await after.verify(keys.token(new_scope()))

    later = time.time() + 60 + LEEWAY_S + 1  # past the short token's end and the leeway
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenRefusedError, match="expired"):
        await after.verify(short)
    await after.save()
    assert set(store.rows) == {digest(token)}  # the expired one is forgotten


async def test_a_forged_or_expired_token_is_refused_with_its_reason(keys: Keys) -> None:
    tokens = JwksTokens(keys.url)
    with pytest.raises(TokenRefusedError, match="signature"):
        await tokens.verify(keys.token(new_scope(), key=Ed25519PrivateKey.generate()))
    with pytest.raises(TokenRefusedError, match="expired"):
        await tokens.verify(keys.token(new_scope(), ttl_s=-60))
    with pytest.raises(TokenRefusedError, match="longer"):
        await tokens.verify(keys.token(new_scope(), ttl_s=3600))
