"""notifier's settings, read from `NOTIFIER_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    port: int = 8104
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_notifier")
    database_pool_size: int = 4
    pos_api_url: str = Field(
        default="http://127.0.0.1:8101", description="pos-api, whose /v1/stream-keys verify the tills' tokens."
    )
    name: str | None = Field(default=None, description="This replica's name (default: host name and process id).")
    ops_token: SecretStr | None = Field(default=None, description="Bearer token of GET /v1/tills (unset: 401).")
    log_keep: int = Field(
        default=100_000, ge=100, description="Changes the log keeps; a till further behind gets its scope whole."
    )
    max_queue: int = Field(
        default=1000, ge=10, description="Live messages a till may have waiting before it is dropped (TOO_SLOW)."
    )
    ping_s: float = Field(default=10.0, gt=0, le=15, description="WebSocket pings; a half-open connection ends in 2×.")
    presence_flush_s: float = Field(default=1.0, gt=0)
    presence_ack_every_s: float = Field(default=5.0, gt=0, description="How often acknowledged positions are written.")
    presence_ack_event_every_s: float = Field(
        default=60.0, gt=0, description="A till's `acknowledged` presence event, at most this often."
    )
    presence_seen_every_s: float = Field(default=10.0, gt=0)
