"""pos-api's settings, read from `POS_API_*` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from caisse_contracts.stream import STREAM_TOKEN_MAX_S
from caisse_contracts.sync import SYNC_BATCH_DEFAULT
from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POS_API_", extra="ignore")

    port: int = 8101
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_pos_api")
    secrets_key: SecretStr = Field(
        default=SecretStr("ZGV2ZWxvcG1lbnQtb25seS1rZXktY2hhbmdlLWl0ISE="),
        description="Fernet key encrypting stored Paheko credentials; the default is for development only.",
    )
    session_service_url: str = Field(
        default="http://127.0.0.1:8102", description="Where tills' sessions are forwarded."
    )
    session_service_token: SecretStr | None = Field(
        default=None,
        description="The service token pos-api calls session-service with (session-service's SERVICE_TOKEN).",
    )
    bridge_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of paheko-bridge, the only caller of the internal credentials route (unset: 404).",
    )
    till_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Database connections of the requests and consumers (the outbox relay has its own). A sale "
        "holds one for its two statements only; about one per two tills selling at once keeps them from queueing.",
    )
    sync_batch_max: int = Field(
        default=SYNC_BATCH_DEFAULT,
        ge=1,
        le=10_000,
        description="The most sales a till may send in one offline sync batch (`POST /v1/sync/sales`); a longer "
        "batch is a 413 and nothing of it is written.",
    )
    bootstrap_admin_token: SecretStr | None = Field(
        default=None, description="If set and unknown, a federation admin with this bearer token is created at start."
    )
    stream_signing_key: SecretStr | None = Field(
        default=None,
        description="PEM of the Ed25519 private key (PKCS8) that signs the tills' stream tokens for the notifier; "
        "the same on every pos-api. Unset: no stream token (503 on POST /v1/till/stream-token, `stream: null` in "
        "the POS data, an empty GET /v1/stream-keys).",
    )
    stream_token_ttl_s: int = Field(
        default=600, ge=60, le=STREAM_TOKEN_MAX_S, description="How long a stream token lives, in seconds."
    )
    stream_retired_keys: str | None = Field(
        default=None,
        description="Public PEMs (concatenated) of signing keys replaced in a rotation: published with the signing "
        "key, so that the tokens they signed are accepted until they run out; they never sign.",
    )

    @field_validator("stream_signing_key", "stream_retired_keys", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `POS_API_STREAM_SIGNING_KEY=` (as a compose file writes an unset variable) means no key, not an empty one.
        return None if isinstance(value, str) and not value.strip() else value
