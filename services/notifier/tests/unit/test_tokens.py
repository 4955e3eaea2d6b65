"""Stream tokens checked with pos-api's keys: refused with a reason, and a token seen once costs no second check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notifier.adapters.tokens import JwksTokens
from notifier.domain.errors import TokenRefusedError
from stream_support import Keys, new_scope


@pytest.fixture
def keys() -> Iterator[Keys]:
    served = Keys()
    yield served
    served.close()


async def test_a_token_verified_once_is_remembered_until_it_expires(keys: Keys) -> None:
    tokens = JwksTokens(keys.url)
    scope = new_scope()
    token = keys.token(scope)
    claims = await tokens.verify(token)
    assert (claims.pos, claims.shop) == (scope.pos_id, scope.shop_id)
    keys.jwks = {"keys": []}  # pos-api withdrew every key: a new token is refused, the one seen still passes
    with pytest.raises(TokenRefusedError):
        await tokens.verify(keys.token(new_scope(), kid="another"))
    assert await tokens.verify(token) == claims


async def test_a_forged_or_expired_token_is_refused_with_its_reason(keys: Keys) -> None:
    tokens = JwksTokens(keys.url)
    with pytest.raises(TokenRefusedError, match="signature"):
        await tokens.verify(keys.token(new_scope(), key=Ed25519PrivateKey.generate()))
    with pytest.raises(TokenRefusedError, match="expired"):
        await tokens.verify(keys.token(new_scope(), ttl_s=-60))
    with pytest.raises(TokenRefusedError, match="longer"):
        await tokens.verify(keys.token(new_scope(), ttl_s=3600))
