"""Settings common to every central service; each service subclasses them with its own env prefix."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TraceExporter(StrEnum):
    NONE = "none"
    OTLP = "otlp"
    CONSOLE = "console"
    """JSON lines, one span a line, to `trace_file` (or stderr): for tests and for a quick look."""


class ServiceSettings(BaseSettings):
    """What a central service reads from its environment. Secrets are `SecretStr` and never logged."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    host: str = "127.0.0.1"
    port: int = 8100
    database_url: SecretStr = SecretStr("postgresql+asyncpg://caisse:caisse@127.0.0.1:15432/caisse")
    database_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:19092"
    trace_exporter: TraceExporter = TraceExporter.NONE
    trace_file: str | None = None
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint; the SDK default if unset.")
    log_level: str = "INFO"
    workers: int = Field(default=1, ge=1, le=64, description="Server processes; more than one uses more cores.")
    consumer_group_suffix: str = Field(
        default="",
        description="Appended to Kafka group ids (not to DLQ names): separate stacks sharing one broker.",
    )
    run_relay: bool = Field(default=True, description="Relay the outbox in this process (off: a separate relay runs).")
    relay_batch_size: int = 500
    relay_idle_wait_s: float = 0.5
    consumer_max_backoff_s: float = 5.0
