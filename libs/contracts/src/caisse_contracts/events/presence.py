"""`till.presence` v1: a till connected to a notifier, acknowledged a position, or went away."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictInt

from caisse_contracts.envelope import Payload


class PresenceKind(StrEnum):
    CONNECTED = "connected"
    ACKNOWLEDGED = "acknowledged"
    DISCONNECTED = "disconnected"


class TillPresenceV1(Payload):
    """A till's config stream: connected, acknowledged a position (at most every few seconds), or disconnected.

    Keyed by `pos_id` on a compacted topic: the latest record of a till says where it stands.
    """

    EVENT_TYPE: ClassVar[str] = "till.presence"
    VERSION: ClassVar[int] = 1

    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    territory_id: UUID
    kind: PresenceKind
    notifier: str = Field(description="The notifier replica the till is (or was) connected to.")
    connection_id: UUID
    position: StrictInt | None = Field(default=None, ge=0, description="The last position the till acknowledged.")
    lag: StrictInt | None = Field(default=None, ge=0, description="Changes of its scope it had not acknowledged.")
    close_code: StrictInt | None = Field(default=None, description="How the connection ended (disconnected only).")
    at: AwareDatetime
