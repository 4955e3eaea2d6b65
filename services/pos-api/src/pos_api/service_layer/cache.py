"""The configuration a till request needs, kept in memory while the configuration generation stays the same.

Every till request reads the generation (one indexed row) and uses the cached device and till context when
it has not moved; any change of the configuration or of a device secret bumps it, in the same transaction as
the change, so a rotated secret or a new price is seen by the very next request of every process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TillCache:
    generation: int = -1
    devices: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """serial → (secret digest, device)."""
    contexts: dict[Any, Any] = field(default_factory=dict)
    """pos id → till context."""

    def at(self, generation: int) -> TillCache:
        """Forget everything cached under another generation."""
        if generation != self.generation:
            self.devices.clear()
            self.contexts.clear()
            self.generation = generation
        return self
