"""Use cases of the till's config stream on pos-api's side: a till's stream token, and the keys that verify it.

The notifier lets a till in on the token alone: its claims say which POS it is and where it sits (shop, company,
territory), so the notifier knows what to send without asking pos-api.
"""

from __future__ import annotations

from datetime import UTC, datetime

from caisse_contracts.stream import StreamClaims, StreamKeySet, StreamToken
from pos_api.domain.errors import StreamTokensNotConfiguredError, UnauthenticatedError
from pos_api.domain.till import Device
from pos_api.service_layer.services import Services


def issue_stream_token(device: Device, services: Services) -> StreamToken:
    """A new stream token for the till's own POS, valid from now for the signer's time to live."""
    signer = services.stream_tokens
    if signer is None:
        raise StreamTokensNotConfiguredError
    h = device.pos.hierarchy
    if h.territory_id is None or h.company_id is None or h.shop_id is None:
        raise UnauthenticatedError("this till's hierarchy is incomplete")
    issued_at = int(services.clock().timestamp())
    claims = StreamClaims(
        sub=f"pos:{device.pos_id}",
        pos=device.pos_id,
        shop=h.shop_id,
        company=h.company_id,
        territory=h.territory_id,
        iat=issued_at,
        exp=issued_at + signer.ttl_s,
    )
    return StreamToken(token=signer.sign(claims), expires_at=datetime.fromtimestamp(claims.exp, UTC))


def stream_token_if_configured(device: Device, services: Services) -> StreamToken | None:
    """The till's stream token for its boot data; None when pos-api hands out none."""
    return issue_stream_token(device, services) if services.stream_tokens is not None else None


def stream_keys(services: Services) -> StreamKeySet:
    """The public keys of the stream tokens (a JWKS); empty when pos-api signs none."""
    return services.stream_tokens.key_set() if services.stream_tokens is not None else StreamKeySet()
