"""The configuration a till request needs, kept in memory while the configuration generation stays the same.

Any change of the configuration or of a device secret bumps the generation in the same transaction, and
PostgreSQL announces the new one at commit. While a listener receives those announcements the cache follows
them and requests read nothing; without a listener, every request reads the generation (one row) itself.
Either way a rotated secret or a new price is seen by every process within milliseconds of its commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from pos_api.domain.till import Device, TillContext
from pos_api.service_layer.ports import SessionState


@dataclass
class TillCache:
    generation: int = -1
    supervised: bool = False
    """True while a listener receives every new generation: requests then need not read it themselves."""
    devices: dict[str, tuple[str, Device]] = field(default_factory=dict)
    """serial → (secret digest, device)."""
    contexts: dict[UUID, TillContext] = field(default_factory=dict)
    """pos id → till context, validated once as it was loaded."""

    def forget(self) -> None:
        """Drop everything now: this process just changed the configuration (others hear of it at commit)."""
        self.devices.clear()
        self.contexts.clear()
        self.generation = -1

    def at(self, generation: int) -> TillCache:
        """Forget everything cached under another generation."""
        if generation != self.generation:
            self.devices.clear()
            self.contexts.clear()
            self.generation = generation
        return self


TILLS_REMEMBERED = 50_000
"""More tills than a federation has: past it the oldest entry goes, and that till's next sale reads first."""


@dataclass
class SaleMemo:
    """What each till's last sale showed this process: its open cash session and its highest ticket number.

    Finalize uses it to skip its read: it writes at once, guarded by what the memo says, and the write lands
    only if the database agrees (the session still open, the basket at the version the till names, the number
    free). Anything else (a closed session, a replay, a stale basket, a sale of another process) fails the
    guard without writing, and finalize then reads and answers as it always does. The highest number known
    here is never above the database's, so a jump it allows, the database's would allow too.
    """

    tills: dict[UUID, tuple[SessionState, int | None]] = field(default_factory=dict)

    def of(self, pos_id: UUID) -> tuple[SessionState, int | None] | None:
        return self.tills.get(pos_id)

    def saw(self, pos_id: UUID, session: SessionState | None, last_number: int | None) -> None:
        if session is None or not session.is_open:
            self.tills.pop(pos_id, None)
            return
        if pos_id not in self.tills and len(self.tills) >= TILLS_REMEMBERED:
            del self.tills[next(iter(self.tills))]
        self.tills[pos_id] = (session, last_number)

    def sold(self, pos_id: UUID, number: int) -> None:
        known = self.tills.get(pos_id)
        if known is not None:
            session, last = known
            self.tills[pos_id] = (session, number if last is None else max(last, number))

    def forget(self, pos_id: UUID) -> None:
        self.tills.pop(pos_id, None)
