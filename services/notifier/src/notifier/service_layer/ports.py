"""What the notifier's use cases need of the world: its database, the tokens' keys, the clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from caisse_contracts.envelope import Envelope
from caisse_contracts.stream import StreamClaims
from notifier.service_layer.state import ChangeRecord, Entity

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Saved:
    """What the database kept of the configuration."""

    entities: list[Entity]
    log: list[ChangeRecord]
    horizon: int


@dataclass(frozen=True, slots=True)
class TillRow:
    """A till's presence as the ops see it (one row per POS, the latest connection's)."""

    pos_id: UUID
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    notifier: str
    connection_id: UUID
    connected: bool
    connected_at: datetime
    disconnected_at: datetime | None
    last_seen_at: datetime
    acked_position: int | None
    close_code: int | None


@dataclass(frozen=True, slots=True)
class TillsOf:
    shop_id: UUID | None = None
    company_id: UUID | None = None
    limit: int = 1000


class ConfigStore(Protocol):
    async def load(self, keep: int) -> Saved:
        """The entities and the newest `keep` changes of the log."""

    async def save(self, entities: Sequence[Entity], records: Sequence[ChangeRecord], keep: int) -> None:
        """Keep a batch of changes (a replay changes nothing; an entity only moves forward) and forget the log
        beyond the newest `keep` changes."""


class PresenceStore(Protocol):
    async def save_presence(self, rows: Sequence[TillRow], events: Sequence[Envelope[Any]]) -> None:
        """Upsert the tills' rows and queue their `till.presence` events, in one transaction."""

    async def seen(self, notifier: str, at: datetime) -> None:
        """The tills connected to `notifier` were still there `at`."""

    async def tills(self, of: TillsOf) -> list[TillRow]: ...


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> StreamClaims:
        """The claims of a valid stream token; raises `TokenRefusedError` saying why otherwise."""


class TokenStore(Protocol):
    async def remembered(self, now: float) -> list[tuple[bytes, StreamClaims]]:
        """The verified tokens (their digests) that have not expired at `now` (a Unix time)."""

    async def remember(self, tokens: Sequence[tuple[bytes, StreamClaims]], expired_before: float) -> None:
        """Keep these verified tokens and forget those that expired before `expired_before` (a Unix time)."""
