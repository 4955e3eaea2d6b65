"""A till's stream token over HTTP on the fakes: handed out with the POS data and on refresh, to an authenticated
till only, and verified as the notifier verifies it, with pos-api's published keys alone (contracts: `stream.py`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from pos_api_setting import Setting, a_shop_with_a_till
from pydantic import SecretStr, ValidationError

from caisse_contracts.stream import STREAM_AUDIENCE, STREAM_ISSUER, STREAM_PATH, StreamClaims
from caisse_contracts.till_views import PosData
from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.adapters.stream_tokens import Ed25519StreamTokenSigner
from pos_api.bootstrap import build_app, stream_token_signer
from pos_api.config import Settings
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import till
from pos_api.service_layer.services import Services

NOW = datetime.now(UTC).replace(microsecond=0)
"""Real time: PyJWT checks `exp` and `iat` against the clock, as the notifier will."""
TTL_S = 600


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def secret_forms(key: Ed25519PrivateKey) -> list[str]:
    """Every way the private key could leak: the PEM's base64 body, and its 32 raw bytes as base64url (a JWK's `d`),
    base64 and hex."""
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    body = "".join(private_pem(key).splitlines()[1:-1])
    return [body, base64.urlsafe_b64encode(raw).decode().rstrip("="), base64.b64encode(raw).decode(), raw.hex()]


KEY = Ed25519PrivateKey.generate()


@dataclasses.dataclass
class Till:
    client: httpx.AsyncClient
    setting: Setting
    services: Services

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Device-Serial": self.setting.serial, "X-Device-Secret": self.setting.secret}


def app_on(services: Services) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(till.router)
    app.state.services = services
    return app


async def a_till(signer: Ed25519StreamTokenSigner | None, app: FastAPI | None = None) -> Till:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    services = dataclasses.replace(services, stream_tokens=signer)
    app = app or app_on(services)
    app.state.services = services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    return Till(client, setting, services)


def verified(token: str, key_set: dict[str, Any]) -> StreamClaims:
    """What the notifier does with a token: the key its header names, from the JWKS, then PyJWT's checks."""
    key = jwt.PyJWKSet.from_dict(key_set)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["EdDSA"],
        audience=STREAM_AUDIENCE,
        issuer=STREAM_ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    return StreamClaims.model_validate(claims)


async def test_the_token_of_the_pos_data_and_of_a_refresh_verify_with_the_published_keys_and_name_the_till() -> None:
    t = await a_till(Ed25519StreamTokenSigner(private_pem(KEY), ttl_s=TTL_S))
    boot = await t.client.get("/v1/pos-data", headers=t.headers)
    assert boot.status_code == 200, boot.text
    refreshed = await t.client.post("/v1/till/stream-token", headers=t.headers)
    assert refreshed.status_code == 200, refreshed.text
    keys = await t.client.get("/v1/stream-keys")
    assert keys.headers["cache-control"] == "public, max-age=300"

    expected = StreamClaims(
        sub=f"pos:{t.setting.pos_id}",
        pos=t.setting.pos_id,
        shop=t.setting.shop_id,
        company=t.setting.company_id,
        territory=t.setting.territory_id,
        iat=int(NOW.timestamp()),
        exp=int(NOW.timestamp()) + TTL_S,
    )
    for handed in (PosData.model_validate(boot.json()).stream, refreshed.json()):
        assert handed is not None
        token = handed["token"] if isinstance(handed, dict) else handed.token
        claims = verified(token, keys.json())
        assert claims == expected
        assert claims.exp - claims.iat == TTL_S <= 15 * 60
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert refreshed.json()["expires_at"] == datetime.fromtimestamp(expected.exp, UTC).isoformat().replace(
        "+00:00", "Z"
    )
    assert refreshed.json()["stream_path"] == STREAM_PATH == "/v1/stream"


async def test_the_published_keys_are_the_signing_keys_public_half_named_by_its_rfc7638_thumbprint() -> None:
    t = await a_till(Ed25519StreamTokenSigner(private_pem(KEY), ttl_s=TTL_S))
    (key,) = (await t.client.get("/v1/stream-keys")).json()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}  # no "d": the private half is never published
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key["x"] == base64.urlsafe_b64encode(raw).decode().rstrip("=")
    # RFC 8037 appendix A.3: the thumbprint of its example key, computed the same way.
    example = Ed25519PrivateKey.from_private_bytes(
        base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    )
    other = await a_till(Ed25519StreamTokenSigner(private_pem(example), ttl_s=60))
    published = (await other.client.get("/v1/stream-keys")).json()["keys"][0]
    assert published["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert published["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Device-Serial": "SER-1", "X-Device-Secret": "not-the-secret"},
        {"X-Device-Serial": "SER-unknown", "X-Device-Secret": "whatever"},
        {},
    ],
    ids=["wrong secret", "unknown serial", "no device headers"],
)
async def test_a_till_that_does_not_authenticate_gets_a_401_problem_and_no_token(headers: dict[str, str]) -> None:
    t = await a_till(Ed25519StreamTokenSigner(private_pem(KEY), ttl_s=TTL_S))
    for response in (
        await t.client.post("/v1/till/stream-token", headers=headers),
        await t.client.get("/v1/pos-data", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert "token" not in response.json()
        assert "eyJ" not in response.text  # no JWT anywhere in the answer


async def test_without_a_signing_key_a_refresh_is_a_503_the_pos_data_say_null_and_no_key_is_published() -> None:
    t = await a_till(None)
    refused = await t.client.post("/v1/till/stream-token", headers=t.headers)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "stream tokens are not configured"
    boot = await t.client.get("/v1/pos-data", headers=t.headers)
    assert boot.status_code == 200
    assert boot.json()["stream"] is None
    keys = await t.client.get("/v1/stream-keys")
    assert (keys.status_code, keys.json()) == (200, {"keys": []})


async def test_a_retired_key_is_published_and_its_tokens_verify_but_not_those_of_a_key_never_published() -> None:
    old, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    t = await a_till(Ed25519StreamTokenSigner(private_pem(KEY), ttl_s=TTL_S, retired_keys_pem=public_pem(old)))
    key_set = (await t.client.get("/v1/stream-keys")).json()
    signing, retired = key_set["keys"]
    handed = (await t.client.post("/v1/till/stream-token", headers=t.headers)).json()["token"]
    assert jwt.get_unverified_header(handed)["kid"] == signing["kid"]

    def token_of(key: Ed25519PrivateKey) -> str:
        return Ed25519StreamTokenSigner(private_pem(key), ttl_s=TTL_S).sign(
            StreamClaims(
                sub=f"pos:{t.setting.pos_id}",
                pos=t.setting.pos_id,
                shop=t.setting.shop_id,
                company=t.setting.company_id,
                territory=t.setting.territory_id,
                iat=int(NOW.timestamp()),
                exp=int(NOW.timestamp()) + TTL_S,
            )
        )

    assert jwt.get_unverified_header(token_of(old))["kid"] == retired["kid"]
    assert verified(token_of(old), key_set).pos == t.setting.pos_id
    with pytest.raises(KeyError):  # the JWKS has no key of the stranger's kid
        verified(token_of(stranger), key_set)
    forged = jwt.encode(
        jwt.decode(token_of(stranger), options={"verify_signature": False}),
        stranger,
        algorithm="EdDSA",
        headers={"kid": signing["kid"]},  # a stranger's signature under the signing key's name
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verified(forged, key_set)


def test_retired_keys_are_public_keys_only_and_a_bad_signing_key_stops_the_start_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="public-key PEMs") as leaked:
        Ed25519StreamTokenSigner(private_pem(KEY), ttl_s=TTL_S, retired_keys_pem=private_pem(KEY))
    assert all(form not in str(leaked.value) for form in secret_forms(KEY))
    with pytest.raises(ValueError, match="Ed25519 private key") as broken:
        Ed25519StreamTokenSigner(private_pem(KEY)[:-40], ttl_s=TTL_S)
    assert all(form[:20] not in str(broken.value) for form in secret_forms(KEY))
    with pytest.raises(ValueError, match="needs POS_API_STREAM_SIGNING_KEY"):
        stream_token_signer(Settings(stream_retired_keys=public_pem(KEY)))


@pytest.mark.parametrize("ttl_s", [59, 901])
def test_a_token_lives_between_a_minute_and_a_quarter_of_an_hour(ttl_s: int) -> None:
    with pytest.raises(ValidationError, match="stream_token_ttl_s"):
        Settings(stream_token_ttl_s=ttl_s)


def test_a_blank_signing_key_setting_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_API_STREAM_SIGNING_KEY", "")
    monkeypatch.setenv("POS_API_STREAM_RETIRED_KEYS", " ")
    settings = Settings()
    assert (settings.stream_signing_key, settings.stream_retired_keys) == (None, None)
    assert stream_token_signer(settings) is None


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


async def test_the_signing_key_appears_in_no_log_and_no_answer(every_log: pytest.LogCaptureFixture) -> None:
    settings = Settings(stream_signing_key=SecretStr(private_pem(KEY)), stream_token_ttl_s=TTL_S)
    app = build_app(settings)  # the composition root, as the service runs it; opens no connection
    signer = app.state.services.stream_tokens
    assert isinstance(signer, Ed25519StreamTokenSigner)
    t = await a_till(signer, app)
    answers = [
        await t.client.get("/v1/pos-data", headers=t.headers),
        await t.client.post("/v1/till/stream-token", headers=t.headers),
        await t.client.get("/v1/stream-keys"),
        await t.client.post("/v1/till/stream-token", headers={**t.headers, "X-Device-Secret": "wrong"}),
        await t.client.get("/openapi.json"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 200]
    logging.getLogger("test").info("settings: %s %r; signer: %r", settings, settings, signer)
    seen = every_log.text + "".join(a.text for a in answers) + "".join(str(dict(a.headers)) for a in answers)
    assert every_log.records
    for form in secret_forms(KEY):
        assert form not in seen
