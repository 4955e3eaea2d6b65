"""What hw-proxy's use cases need from the outside: the local store (config cache, enrolment, sessions, sales, the
outbox), the device secret, stream tokens, and pos-api."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from caisse_contracts.stream import StreamToken
from hw_proxy.domain.config_cache import CachedItem, EntityKey, StreamState

Clock = Callable[[], datetime]


class ConfigStore(Protocol):
    """The till's config cache and its stream state, kept across restarts; every write is one transaction."""

    async def stream_state(self) -> StreamState:
        """The last position stored, when the notifier was last heard, and whether a reset was left half-done."""
        ...

    async def cached(self, key: EntityKey) -> CachedItem | None:
        """The row held for one entity (live, removed, or awaiting its snapshot), or None."""
        ...

    async def items(self) -> list[CachedItem]:
        """Every row held, in entity order."""
        ...

    async def awaiting_snapshot(self) -> list[EntityKey]:
        """The entities whose item the till asked for and has not received yet."""
        ...

    async def record(
        self, write: CachedItem | None, *, position: int | None, at: datetime, seen_in_reset: bool
    ) -> None:
        """One message, in one transaction: the item's row (if any), the stream position (if any, never backwards)
        and the time it came; `seen_in_reset` marks the row as received since the reset began."""
        ...

    async def begin_reset(self, at: datetime) -> None:
        """A reset starts: no row counts as received since, and the reset is stored as in progress."""
        ...

    async def finish_reset(self, position: int | None, at: datetime) -> int:
        """The reset's `Synced`, in one transaction: drop every row not received since the reset began, store the
        position and the sync time, and end the reset. Returns how many rows were dropped."""
        ...

    async def synced(self, position: int | None, at: datetime) -> None:
        """A `Synced` outside a reset: the till has caught up to `position` (never backwards)."""
        ...


class StreamTokens(Protocol):
    """Where the till gets the token that opens its config stream (pos-api)."""

    async def fetch(self) -> StreamToken:
        """A fresh stream token for this till; raises `TokenUnavailableError` when none can be had now."""
        ...


class TokenUnavailableError(Exception):
    """No stream token could be had: pos-api is away, or refuses the device (`refused`)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


class EnrolmentStore(Protocol):
    """Where the till keeps its serial (the secret lives apart, `SecretKeeper`)."""

    async def enrolled_serial(self) -> str | None: ...

    async def enrol(self, serial: str, at: datetime) -> None: ...


class SecretKeeper(Protocol):
    """The till's device secret, in a place only the agent may read (a 0600 file)."""

    def write(self, secret: SecretStr) -> None: ...

    def read(self) -> SecretStr | None: ...
