"""The notifier's background rounds: writing the tills' presence, and minding the tokens of live connections."""

from __future__ import annotations

from caisse_runtime.worker import BackgroundWorker
from notifier.entrypoints.http.stream import StreamServices
from notifier.service_layer.presence import Presence


class PresenceWriter(BackgroundWorker):
    """Writes the presence every `every_s`; what is left is written when the service stops."""

    def __init__(self, presence: Presence, *, every_s: float) -> None:
        super().__init__("presence-writer", idle_s=every_s)
        self._presence = presence
        self._every_s = every_s

    async def round(self) -> float | None:
        await self._presence.flush()
        return self._every_s

    async def stop(self) -> None:
        await super().stop()
        await self._presence.flush()


class TokenSweeper(BackgroundWorker):
    """Every `every_s`: warns the tills whose token ends soon and closes those whose token ended."""

    def __init__(self, stream: StreamServices, *, every_s: float = 5.0) -> None:
        super().__init__("token-sweeper", idle_s=every_s)
        self._stream = stream
        self._every_s = every_s

    async def round(self) -> float | None:
        await self._stream.sweep()
        return self._every_s
