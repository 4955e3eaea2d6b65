"""session-service's settings, read from `SESSION_SERVICE_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SESSION_SERVICE_", extra="ignore")

    port: int = 8102
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_session_service")
    service_token: SecretStr | None = Field(
        default=None,
        description="The token pos-api calls with (Bearer); every route requires it. Unset: every request is 401.",
    )
    variance_comment_threshold: int = Field(
        default=500, ge=0, description="A close whose variance is beyond ± this (minor units) needs a comment."
    )
    close_wait_s: float = Field(default=10.0, ge=0, description="How long a close waits for the till's last tickets.")
    config_wait_s: float = Field(default=3.0, ge=0, description="How long an open waits for the POS's configuration.")
    clock_tolerance_s: float = Field(
        default=300.0,
        ge=0,
        description="How far ahead of session-service's clock a till's time (an offline open, movement or close) may"
        " be before it is refused as a wrong clock.",
    )
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "caisse@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_poll_s: float = Field(default=2.0, gt=0, description="How often queued reports are looked at.")
    mail_retry_first_s: float = Field(default=30.0, gt=0, description="First pause after a failed send; doubles.")
    mail_retry_max_s: float = Field(default=3600.0, gt=0)
