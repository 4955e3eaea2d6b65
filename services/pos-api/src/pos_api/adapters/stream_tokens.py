"""The tills' stream tokens as EdDSA JWTs (PyJWT over `cryptography`'s Ed25519), and the JWKS that verifies them.

pos-api holds the one private key; the notifier holds only the public keys (`GET /v1/stream-keys`), so that a till
connects to the stream without the notifier calling pos-api. A key rotation: the new key signs, the old one's
public PEM goes to the retired keys until every token it signed has run out (`STREAM_TOKEN_MAX_S`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from caisse_contracts.stream import STREAM_TOKEN_MAX_S, StreamClaims, StreamKey, StreamKeySet

ALGORITHM: Final = "EdDSA"
_PUBLIC_PEM: Final = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def stream_key(public: Ed25519PublicKey) -> StreamKey:
    """The JWK of a public key, named by its RFC 7638 thumbprint."""
    jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    # RFC 7638 §3: the key's required members only (for OKP: crv, kty, x), sorted, without whitespace.
    required = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, sort_keys=True, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(required.encode()).digest()).rstrip(b"=").decode()
    return StreamKey(x=jwk["x"], kid=kid)


def private_key(pem: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM (PKCS8, unencrypted); the error never quotes the key."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the stream signing key is not the PEM of an unencrypted Ed25519 private key (PKCS8)")
    return key


def public_keys(pems: str) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys of concatenated PEMs; anything else in the text is refused (a private key above all,
    which has no place among the keys that are published)."""
    blocks = _PUBLIC_PEM.findall(pems)
    if _PUBLIC_PEM.sub("", pems).strip():
        raise ValueError("the retired stream keys must be public-key PEMs (BEGIN PUBLIC KEY) and nothing else")
    keys = []
    for n, block in enumerate(blocks):
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"retired stream key {n + 1} is not an Ed25519 public key")
        keys.append(key)
    return keys


class Ed25519StreamTokenSigner:
    """Signs stream tokens with one Ed25519 key and publishes it, then the retired keys, as a JWKS."""

    def __init__(self, signing_key_pem: str, *, ttl_s: int, retired_keys_pem: str | None = None) -> None:
        if not 0 < ttl_s <= STREAM_TOKEN_MAX_S:
            raise ValueError(f"a stream token lives at most {STREAM_TOKEN_MAX_S} s, not {ttl_s}")
        self._key = private_key(signing_key_pem)
        self._ttl_s = ttl_s
        signing = stream_key(self._key.public_key())
        retired = [stream_key(key) for key in public_keys(retired_keys_pem or "")]
        unique = {key.kid: key for key in (signing, *retired)}  # the signing key listed once, first
        self._kid = signing.kid
        self._key_set = StreamKeySet(keys=tuple(unique.values()))

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    def sign(self, claims: StreamClaims) -> str:
        return jwt.encode(claims.model_dump(mode="json"), self._key, algorithm=ALGORITHM, headers={"kid": self._kid})

    def key_set(self) -> StreamKeySet:
        return self._key_set

    def __repr__(self) -> str:
        return f"Ed25519StreamTokenSigner(kid={self._kid!r}, ttl_s={self._ttl_s})"
