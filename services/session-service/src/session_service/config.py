"""session-service's settings, read from `SESSION_SERVICE_*` environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_contracts.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SESSION_SERVICE_", extra="ignore")

    port: int = 8102
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_session_service")
