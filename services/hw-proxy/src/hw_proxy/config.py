"""hw-proxy's settings, read from `HW_PROXY_*` environment variables (on the till)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from caisse_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """What the till's agent reads from its environment; the device secret is a `SecretStr`, never logged."""

    model_config = SettingsConfigDict(env_prefix="HW_PROXY_", extra="ignore")

    port: int = 8105
    store_path: str = "hw-proxy.sqlite3"
    secret_path: str | None = Field(
        default=None,
        description="The file of the device secret (mode 0600, the agent's only); the store's path + `.secret` if unset.",
    )
    pos_api_url: str = "http://127.0.0.1:8101"
    pos_api_timeout_s: float = Field(default=10.0, gt=0, description="How long a call to pos-api may take.")
    forward_timeout_s: float = Field(
        default=0.5,
        gt=0,
        description="How long a sale's finalize or a cashier's login may wait for pos-api before the till goes on"
        " offline (the sale is then queued, the PIN checked locally).",
    )
    sync_batch_max: int = Field(
        default=500, ge=1, le=500, description="Sales or session operations sent in one sync request at most."
    )
    send_retry_first_s: float = Field(default=0.5, gt=0, description="The first retry delay's upper bound.")
    send_retry_max_s: float = Field(default=60.0, gt=0, description="The cap of the sender's retry delay.")
    number_recheck_s: float = Field(
        default=30.0,
        gt=0,
        description="While the till's numbers clash with pos-api's (restored from an old backup), how often it asks"
        " pos-api again whether ops released it.",
    )
    idle_trim_s: float = Field(
        default=2.0,
        ge=0,
        description="After this long without a request, the agent gives the memory it freed back to the system"
        " (glibc's malloc_trim; 0: never).",
    )
    report_every_s: float = Field(
        default=300.0, gt=0, description="How often the till reports itself to pos-api for ops, besides on a change."
    )
    notifier_url: str = Field(
        default="ws://127.0.0.1:8104", description="The notifier's base URL; the stream path comes with the token."
    )
    device_serial: str | None = Field(
        default=None,
        description="The till's serial, as enrolled in pos-api: kept in the store at start, with the secret in its"
        " file; left unset, the enrolment kept before is used (none: the till stays BOOTING, offline of pos-api).",
    )
    device_secret: SecretStr | None = Field(default=None, description="The till's device secret (never logged).")
    reconnect_first_s: float = Field(default=0.5, gt=0, description="The first reconnect delay's upper bound.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="The cap of the reconnect delay.")
    ack_interval_s: float = Field(
        default=0.25, ge=0, description="At most one `Ack` per this interval; the last position is always acked."
    )
    stale_after_s: float = Field(
        default=300.0, gt=0, description="The config is flagged stale after this long without contact."
    )
    print_retry_first_s: float = Field(
        default=0.5, gt=0, description="The printer worker's first retry delay's upper bound (printer away)."
    )
    print_retry_max_s: float = Field(default=10.0, gt=0, description="The cap of the printer worker's retry delay.")
    printer_timeout_s: float = Field(
        default=3.0, gt=0, description="How long the printer may take to connect or answer a status request."
    )
    printer_poll_s: float = Field(
        default=30.0,
        ge=0,
        description="While no print job waits, how often the printer's state is asked (DLE EOT), so that the"
        " cashier sees paper out or off line before the next sale; 0 turns it off.",
    )
    card_answer_quiet_s: float = Field(
        default=0.1,
        gt=0,
        le=5,
        description="How long the card terminal must stay silent after an answer that ends on a field boundary"
        " before the till takes it as whole (a terminal may split its answer across writes).",
    )
    fault_kill_after_messages: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process while it stores the Nth stream message, before its commit.",
    )
    fault_kill_after_sales: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process while it stores its Nth finalized sale, before its commit.",
    )
    fault_kill_after_committed_sales: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process once its Nth finalized sale is committed, before the cashier"
        " has the answer.",
    )
    fault_kill_after_credit_notes: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process while it stores its Nth credit note (or answers one made"
        " again), before its commit.",
    )
    fault_kill_after_committed_credit_notes: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process once its Nth credit note is committed (or answered again),"
        " before the cashier has the answer.",
    )
    fault_kill_after_card_answers: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process while it records the card terminal's Nth answer (after the"
        " terminal charged the card, before the till's commit): the operation is found pending at restart.",
    )
    fault_kill_after_answers: int | None = Field(
        default=None,
        ge=1,
        description="Tests only: SIGKILL the process while it records pos-api's Nth answer that something it sent"
        " is in (after pos-api wrote it, before the till marks it sent).",
    )
