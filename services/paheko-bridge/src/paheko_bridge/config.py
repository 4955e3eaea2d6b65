"""paheko-bridge's settings, read from `PAHEKO_BRIDGE_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_contracts.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAHEKO_BRIDGE_", extra="ignore")

    port: int = 8103
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_paheko_bridge")
    fec_directory: Path = Path("fec")
    """Where the FEC files of the companies without Paheko go: `<dir>/<company id>/<SIREN>FEC<year end>.txt`."""
