"""hw-proxy's settings, read from `HW_PROXY_*` environment variables (on the till)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HW_PROXY_", extra="ignore")

    port: int = 8105
    store_path: str = "hw-proxy.sqlite3"
    pos_api_url: str = "http://127.0.0.1:8101"
