"""Use case: take a batch of `config.changed` read from the topic into the notifier's picture, keep it, send it on.

The batch is kept in the database first (a replay changes nothing there), then applied in memory, then routed to
the connected tills: a till never hears of a change this replica would not still know after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from caisse_contracts.events import ConfigChangedV1
from notifier.domain.placement import Placement
from notifier.service_layer.hub import Hub
from notifier.service_layer.ports import ConfigStore
from notifier.service_layer.state import ConfigState, Incoming


@dataclass(frozen=True, slots=True)
class Read:
    """A `config.changed` as read: its position in the topic and the tenant keys of its envelope."""

    position: int
    change: ConfigChangedV1
    placement: Placement


class Intake:
    def __init__(self, state: ConfigState, hub: Hub, store: ConfigStore) -> None:
        self._state = state
        self._hub = hub
        self._store = store
        self.caught_up_to: int = -1
        """The newest position taken."""

    async def take(self, batch: Sequence[Read]) -> int:
        """Apply the batch; the number of changes that were new. If the database fails, nothing is taken and the
        batch comes again."""
        records, entities = self._state.plan([Incoming(r.position, r.change, r.placement) for r in batch])
        if records:
            await self._store.save(entities, records, self._state.keep)
            # From here to the fan-out nothing awaits: a till joining meanwhile is caught up before or after it.
            self._state.commit(records, entities)
            self._hub.publish(records)
        if batch:
            self.caught_up_to = max(self.caught_up_to, *(r.position for r in batch))
        return len(records)
