"""paheko-bridge's settings, read from `PAHEKO_BRIDGE_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAHEKO_BRIDGE_", extra="ignore")

    port: int = 8103
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse_paheko_bridge")
    fec_directory: Path = Path("fec")
    """Where the FEC files of the companies without Paheko go: `<dir>/<company id>/<SIREN>FEC<year end>.txt`."""
    pos_api_url: str = Field(
        default="http://127.0.0.1:8101", description="Where companies' Paheko credentials are read."
    )
    pos_api_token: SecretStr | None = Field(
        default=None, description="The bridge's bearer token at pos-api (pos-api's POS_API_BRIDGE_TOKEN)."
    )
    ops_token: SecretStr | None = Field(
        default=None, description="Bearer token of the ops routes (push state, dead letters); unset: they answer 401."
    )
    breaker_threshold: int = Field(default=5, ge=1, description="Failures in a row that open a Paheko's circuit.")
    breaker_ttl_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a Paheko's open circuit stays open: then one request probes it (the others wait).",
    )
    retry_max_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait before a ticket or close Paheko could not take is tried again. While the circuit"
        " is open a try sends nothing, so a short wait only makes the probe follow the circuit's reopening closely.",
    )
    consumer_batch_size: int = Field(default=500, ge=1, le=5000)
