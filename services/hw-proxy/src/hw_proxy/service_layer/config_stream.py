"""Keep the till's config cache from the notifier's stream: one connection's messages, applied in order.

What the till stores, and why it can always resume from its stored position:

- every `Change`, `Item` and `Removed` is stored with its position in one transaction;
- a `Change` the till cannot apply (it holds another version, or the patch does not fit) does not hold the stream
  back: its position is stored with the entity marked `awaiting_snapshot`, and the till asks for the item
  (`Snapshot`). The mark is in the store, so the question is asked again on the next connection until the item
  comes; the position never passes a change that was lost, because the change is either applied or its entity is
  marked in the same transaction;
- an `Item` that answers the till's `Snapshot` (the till asked for it on this connection, or it comes without a
  position) replaces the item but does not move the position: it may come from further in the log than the
  stream has reached, and storing its position would skip what lies between;
- between `Reset` and `Synced`, the items are stored as they come (no position); at `Synced`, in one transaction,
  every row not received since the reset is dropped and the position is stored. A reset cut short (a crash, a
  lost connection) is started again whole: the till resumes from nothing until a reset has finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from caisse_contracts.stream import Change, EntityRef, Item, Removed, Reset, Synced
from hw_proxy.domain.config_cache import EntityKey, Verdict, key_of, on_change, on_item, on_removed
from hw_proxy.service_layer.ports import Clock, ConfigStore

log = logging.getLogger(__name__)

StreamMessage = Change | Item | Removed | Reset | Synced


@dataclass(frozen=True, slots=True)
class Resumption:
    """What the till says after `Hello`: the position to resume from, and the items it still waits for."""

    position: int | None
    snapshot: tuple[EntityRef, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    """What one stored message asks of the connection: a position to acknowledge, items to ask for."""

    stored_position: int | None = None
    snapshot: tuple[EntityRef, ...] = ()


def _ref(key: EntityKey) -> EntityRef:
    return EntityRef(entity_type=key.entity_type, entity_id=key.entity_id)


class ConfigStreamSession:
    """The application of one connection's messages to the store (a new session for each connection)."""

    def __init__(self, store: ConfigStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._in_reset = False
        self._asked: set[EntityKey] = set()

    @property
    def in_reset(self) -> bool:
        return self._in_reset

    async def resumption(self) -> Resumption:
        """Where to resume: the stored position (nothing while a reset is unfinished), and the items still awaited."""
        state = await self._store.stream_state()
        awaiting = await self._store.awaiting_snapshot()
        self._asked.update(awaiting)
        return Resumption(None if state.reset_in_progress else state.position, tuple(_ref(k) for k in awaiting))

    async def apply(self, message: StreamMessage) -> Applied:
        """Store one message of the stream (one transaction) and say what to acknowledge and ask for."""
        now = self._clock()
        if isinstance(message, Reset):
            self._in_reset = True
            await self._store.begin_reset(now)
            log.info("config reset (%s): the items up to the next Synced are the whole scope", message.reason)
            return Applied()
        if isinstance(message, Synced):
            if self._in_reset:
                self._in_reset = False
                dropped = await self._store.finish_reset(message.position, now)
                log.info("config reset done at position %s; %d item(s) dropped", message.position, dropped)
            else:
                await self._store.synced(message.position, now)
            return Applied(stored_position=message.position)
        key = key_of(message)
        row = await self._store.cached(key)
        position: int | None = message.position
        if isinstance(message, Change):
            verdict = on_change(row, message)
        elif isinstance(message, Removed):
            verdict = on_removed(row, message)
            self._asked.discard(key)
        else:
            verdict = on_item(row, message, in_reset=self._in_reset)
            if key in self._asked:
                position = None  # the answer to a Snapshot: see the module's docstring
                if verdict.write is not None:
                    self._asked.discard(key)
        if self._in_reset:
            position = None
        await self._store.record(verdict.write, position=position, at=now, seen_in_reset=self._in_reset)
        return Applied(stored_position=position, snapshot=self._to_ask(key, verdict))

    def _to_ask(self, key: EntityKey, verdict: Verdict) -> tuple[EntityRef, ...]:
        if not verdict.ask_snapshot or key in self._asked:
            return ()
        self._asked.add(key)
        log.info("config %s %s: the change does not apply, the item is asked for", key.entity_type, key.entity_id)
        return (_ref(key),)
