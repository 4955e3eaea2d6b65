"""The configuration a till request needs, kept in memory while the configuration generation stays the same.

Any change of the configuration or of a device secret bumps the generation in the same transaction, and
PostgreSQL announces the new one at commit. While a listener receives those announcements the cache follows
them and requests read nothing; without a listener, every request reads the generation (one row) itself.
Either way a rotated secret or a new price is seen by every process within milliseconds of its commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TillCache:
    generation: int = -1
    supervised: bool = False
    """True while a listener receives every new generation: requests then need not read it themselves."""
    devices: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """serial → (secret digest, device)."""
    contexts: dict[Any, Any] = field(default_factory=dict)
    """pos id → till context."""

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
