"""The event envelope every Kafka message carries, and its mapping to CloudEvents `ce_*` Kafka headers.

The record value is the whole envelope as JSON; the headers repeat the routing facts (id, type, version,
source, time, tenant keys) so that a consumer, a DLQ browser or a Kafka tool can see them without parsing
the body, plus the W3C `traceparent` that carries the trace across Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

SPEC_VERSION = "1.0"


class Payload(BaseModel):
    """Base of every event payload. Subclasses set `EVENT_TYPE` and `VERSION`.

    Unknown fields are ignored on decode: a minor version adds optional fields, and a consumer built
    against an older minor version must still read the message.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str]
    VERSION: ClassVar[int]


class TenantKeys(BaseModel):
    """Where in the hierarchy an event belongs; keys that do not apply stay empty."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    territory_id: UUID | None = None
    company_id: UUID | None = None
    shop_id: UUID | None = None
    pos_id: UUID | None = None


PayloadT = TypeVar("PayloadT", bound=Payload)


class Envelope(BaseModel, Generic[PayloadT]):
    """One event: its identity (the idempotency key), type and schema version, origin, tenant, trace, data.

    Decode with the concrete type, `Envelope[TicketFinalizedV1].model_validate_json(raw)`: a bare
    `Envelope` would not know its payload.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(description="Unique event id; consumers deduplicate on it.")
    type: str = Field(description="Event type, e.g. ticket.finalized.")
    version: StrictInt = Field(description="Schema version of `data` (major).", ge=1)
    occurred_at: AwareDatetime = Field(description="When the fact happened, aware UTC.")
    source: str = Field(description="The producing service.")
    tenant: TenantKeys = Field(default_factory=TenantKeys)
    traceparent: str | None = Field(default=None, description="W3C trace context of the producing span.")
    tracestate: str | None = None
    data: PayloadT

    @classmethod
    def wrap(
        cls,
        data: PayloadT,
        *,
        event_id: UUID,
        occurred_at: datetime,
        source: str,
        tenant: TenantKeys | None = None,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> Self:
        return cls(
            id=event_id,
            type=data.EVENT_TYPE,
            version=data.VERSION,
            occurred_at=occurred_at,
            source=source,
            tenant=tenant or TenantKeys(),
            traceparent=traceparent,
            tracestate=tracestate,
            data=data,
        )

    def kafka_headers(self) -> dict[str, str]:
        return kafka_headers(self)

    def dump_json_with_data(self, data_json: str) -> str:
        """`model_dump_json()` when the caller already holds `data.model_dump_json()`: the payload (most of the
        message) is not serialized twice. `data` is the envelope's last field, so the text is the same."""
        head = self.model_dump_json(exclude={"data"})
        return f'{head[:-1]},"data":{data_json}}}'


def kafka_headers(envelope: Envelope[Any]) -> dict[str, str]:
    """CloudEvents Kafka binding headers (`ce_*`) for an envelope, plus W3C trace context."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(envelope.id),
        "ce_type": envelope.type,
        "ce_source": envelope.source,
        "ce_time": envelope.occurred_at.isoformat(),
        "ce_dataversion": str(envelope.version),
        "content-type": "application/json",
    }
    for key, value in envelope.tenant.model_dump(exclude_none=True).items():
        headers[f"ce_{key.replace('_', '')}"] = str(value)
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    if envelope.tracestate:
        headers["tracestate"] = envelope.tracestate
    return headers


class EnvelopeHead(BaseModel):
    """The envelope without its payload: enough to route, deduplicate or dead-letter an unknown event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    type: str
    version: StrictInt
    occurred_at: AwareDatetime
    source: str
    tenant: TenantKeys = Field(default_factory=TenantKeys)
    traceparent: str | None = None
