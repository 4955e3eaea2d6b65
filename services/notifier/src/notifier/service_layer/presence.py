"""Use case: the tills' presence — who is connected, to which replica, how far each has acknowledged.

Each replica records its own connections: a row per till (the latest connection wins) and a `till.presence`
event when a till connects and goes away, and when it acknowledges (at most every `ack_event_every_s` per till).
Rows and events are written every `flush_s` (the events in batches); the positions the tills acknowledged join a batch
every `ack_every_s` only: ten thousand tills acknowledging the same change cost one statement, not ten thousand,
and not one a second. A replica also marks its connected tills seen every `seen_every_s` (one statement), so that
the tills of a replica that died are shown offline once that time has passed twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import PresenceKind, TillPresenceV1
from caisse_contracts.stream import Scope
from notifier.service_layer.ports import Clock, PresenceStore, TillRow, TillsOf
from notifier.service_layer.state import ConfigState

log = logging.getLogger(__name__)
SOURCE = "notifier"
FLUSH_BATCH = 500


@dataclass(frozen=True, slots=True)
class TillStatus:
    """A till as the ops read it."""

    row: TillRow
    online: bool
    lag: int | None
    """Changes of its scope it has not acknowledged (None: it never acknowledged anything)."""


class Presence:
    def __init__(
        self,
        store: PresenceStore,
        state: ConfigState,
        *,
        notifier: str,
        clock: Clock,
        new_id: Callable[[], UUID],
        ack_every_s: float = 5.0,
        ack_event_every_s: float = 60.0,
        seen_every_s: float = 10.0,
    ) -> None:
        self._store = store
        self._state = state
        self.notifier = notifier
        self._clock = clock
        self._new_id = new_id
        self._ack_every = timedelta(seconds=ack_every_s)
        self._ack_event_every = timedelta(seconds=ack_event_every_s)
        self.seen_every = timedelta(seconds=seen_every_s)
        self._live: dict[UUID, TillRow] = {}
        """This replica's connected tills, by connection."""
        self._dirty: dict[UUID, TillRow] = {}
        """Rows to write at the next flush: a connection, a disconnection, a move."""
        self._acked: dict[UUID, TillRow] = {}
        """Rows whose acknowledged position moved: written every `ack_every`."""
        self._events: list[Envelope[Any]] = []
        self._acked_event_at: dict[UUID, datetime] = {}
        self._seen_at: datetime | None = None
        self._acks_at: datetime | None = None

    def connected(self, connection_id: UUID, scope: Scope) -> None:
        now = self._clock()
        row = TillRow(
            pos_id=scope.pos_id,
            territory_id=scope.territory_id,
            company_id=scope.company_id,
            shop_id=scope.shop_id,
            notifier=self.notifier,
            connection_id=connection_id,
            connected=True,
            connected_at=now,
            disconnected_at=None,
            last_seen_at=now,
            acked_position=None,
            close_code=None,
        )
        self._live[connection_id] = self._dirty[connection_id] = row
        self._event(row, PresenceKind.CONNECTED, now)

    def moved(self, connection_id: UUID, scope: Scope) -> None:
        row = self._live.get(connection_id)
        if row is not None:
            moved = replace(row, territory_id=scope.territory_id, company_id=scope.company_id, shop_id=scope.shop_id)
            self._live[connection_id] = self._dirty[connection_id] = moved

    def acknowledged(self, connection_id: UUID, position: int) -> None:
        row = self._live.get(connection_id)
        if row is None or (row.acked_position is not None and position <= row.acked_position):
            return
        now = self._clock()
        row = replace(row, acked_position=position, last_seen_at=now)
        self._live[connection_id] = row
        if connection_id in self._dirty:
            self._dirty[connection_id] = row
        else:
            self._acked[connection_id] = row
        last = self._acked_event_at.get(connection_id)
        if last is None or now - last >= self._ack_event_every:
            self._acked_event_at[connection_id] = now
            self._event(row, PresenceKind.ACKNOWLEDGED, now)

    def disconnected(self, connection_id: UUID, close_code: int | None) -> None:
        row = self._live.pop(connection_id, None)
        self._acked_event_at.pop(connection_id, None)
        self._acked.pop(connection_id, None)
        if row is None:
            return
        now = self._clock()
        row = replace(row, connected=False, disconnected_at=now, last_seen_at=now, close_code=close_code)
        self._dirty[connection_id] = row
        self._event(row, PresenceKind.DISCONNECTED, now)

    def _event(self, row: TillRow, kind: PresenceKind, now: datetime) -> None:
        scope = _scope(row)
        payload = TillPresenceV1(
            pos_id=row.pos_id,
            shop_id=row.shop_id,
            company_id=row.company_id,
            territory_id=row.territory_id,
            kind=kind,
            notifier=row.notifier,
            connection_id=row.connection_id,
            position=row.acked_position,
            lag=self._state.lag(scope, row.acked_position) if row.acked_position is not None else None,
            close_code=row.close_code,
            at=now,
        )
        self._events.append(
            Envelope[TillPresenceV1].wrap(
                payload,
                event_id=self._new_id(),
                occurred_at=now,
                source=SOURCE,
                tenant=TenantKeys(
                    territory_id=row.territory_id, company_id=row.company_id, shop_id=row.shop_id, pos_id=row.pos_id
                ),
            )
        )

    async def flush(self) -> int:
        """Write what changed since the last flush (the acknowledged positions every `ack_every`; every
        `seen_every`, that the connected tills are still there); what fails to be written is kept for the next
        flush. The number of rows written."""
        now = self._clock()
        rows = dict(self._dirty)
        acks_due = self._acks_at is None or now - self._acks_at >= self._ack_every
        if acks_due:
            rows.update({k: v for k, v in self._acked.items() if k not in rows})
        events = list(self._events)
        seen_due = self._seen_at is None or now - self._seen_at >= self.seen_every
        if rows:
            # One row per till: its latest connection's.
            latest: dict[UUID, TillRow] = {}
            for row in rows.values():
                kept = latest.get(row.pos_id)
                if kept is None or row.connected_at >= kept.connected_at:
                    latest[row.pos_id] = row
            await self._store.save_presence(list(latest.values()), [])
            for connection_id, row in rows.items():
                if self._dirty.get(connection_id) is row:
                    del self._dirty[connection_id]
                if self._acked.get(connection_id) is row:
                    del self._acked[connection_id]
        # The events a batch at a time, the event loop free between them: ten thousand tills connecting at once
        # never hold up a change on its way to the others. What is written leaves the queue batch by batch.
        for start in range(0, len(events), FLUSH_BATCH):
            batch = events[start : start + FLUSH_BATCH]
            await self._store.save_presence([], batch)
            del self._events[: len(batch)]
            await asyncio.sleep(0)
        if acks_due:
            self._acks_at = now
        if seen_due and self._live:
            await self._store.seen(self.notifier, now)
            self._seen_at = now
        return len(rows)

    async def tills(self, of: TillsOf) -> list[TillStatus]:
        rows = await self._store.tills(of)
        now = self._clock()
        stale_after = self.seen_every * 2
        return [
            TillStatus(
                row=row,
                online=row.connected and now - row.last_seen_at <= stale_after,
                lag=self._state.lag(_scope(row), row.acked_position) if row.acked_position is not None else None,
            )
            for row in rows
        ]


def _scope(row: TillRow) -> Scope:
    return Scope(territory_id=row.territory_id, company_id=row.company_id, shop_id=row.shop_id, pos_id=row.pos_id)
