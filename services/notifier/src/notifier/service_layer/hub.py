"""The tills connected to this replica, indexed by where they sit, and the fan-out of each change to them.

A change is routed once per kind of message (the same JSON text goes to every till that gets the same message),
then offered to each till's own bounded queue: a slow till never slows the others, it is dropped instead and
resumes. A till whose own POS moved is given its new scope whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from caisse_contracts.events import EntityType
from caisse_contracts.stream import Scope
from notifier.domain.placement import PlacementKey, Route, route, scope_keys
from notifier.service_layer.state import ChangeRecord, ConfigState, Message

log = logging.getLogger(__name__)


class Till(Protocol):
    """One connected till, as the hub sees it."""

    scope: Scope

    def offer(self, text: str) -> bool:
        """Queue a live message; False when the till is too far behind (it is then being closed)."""

    def offer_many(self, texts: list[str]) -> None:
        """Queue a catch-up (or a whole scope): what it holds does not count as falling behind."""

    def rescope(self, scope: Scope) -> None:
        """The till's POS moved: from now on it sits there."""


def encode(messages: Sequence[Message]) -> list[str]:
    return [m.model_dump_json() for m in messages]


class Hub:
    def __init__(self, state: ConfigState) -> None:
        self._state = state
        self._by_key: dict[PlacementKey, set[Till]] = {}
        self._tills: set[Till] = set()

    def __len__(self) -> int:
        return len(self._tills)

    @property
    def tills(self) -> frozenset[Till]:
        return frozenset(self._tills)

    def join(self, till: Till, position: int | None) -> int:
        """Register `till` and queue what it misses since `position`, in one step: no change can come between the
        catch-up and the live messages. The number of messages queued."""
        messages = encode(self._state.catch_up(till.scope, position))
        till.offer_many(messages)
        self._index(till)
        return len(messages)

    def leave(self, till: Till) -> None:
        if till in self._tills:
            self._unindex(till)

    def publish(self, records: Sequence[ChangeRecord]) -> int:
        """Send each change to the tills it reaches, in position order; the number of messages offered."""
        offered = 0
        for record in records:
            offered += self._publish(record)
        return offered

    def _publish(self, record: ChangeRecord) -> int:
        reached: set[Till] = set()
        for placement in (record.placement, record.before):
            if placement is None:
                continue
            key = placement.key
            if key is not None:
                reached |= self._by_key.get(key, set())
            else:
                reached |= {t for t in self._tills if placement.reaches(t.scope)}
        texts: dict[Route, str | None] = {}
        offered = 0
        moved: list[Till] = []
        new_scope = _scope_of(record)
        for till in reached:
            if new_scope is not None and new_scope.pos_id == till.scope.pos_id and new_scope != till.scope:
                moved.append(till)  # its own POS moved: its whole new scope follows
                continue
            kind = route(record.before, record.placement, deleted=record.deleted, scope=till.scope)
            if kind is Route.NOTHING:
                continue
            if kind not in texts:  # one message per kind: every till told the same is sent the same text
                message = self._state.message_for(record, till.scope)
                texts[kind] = message.model_dump_json() if message is not None else None
            text = texts[kind]
            if text is not None:
                till.offer(text)
                offered += 1
        if new_scope is not None:
            for till in moved:
                offered += self._follow(till, new_scope)
        return offered

    def _follow(self, till: Till, scope: Scope) -> int:
        """The till's own POS moved: from now on it is told what its new place is told, starting with all of it."""
        log.info("POS %s moved to shop %s: its till gets its new scope", scope.pos_id, scope.shop_id)
        self._unindex(till)
        till.rescope(scope)
        messages = encode(self._state.reset(scope, "moved"))
        till.offer_many(messages)
        self._index(till)
        return len(messages)

    def _index(self, till: Till) -> None:
        self._tills.add(till)
        for key in scope_keys(till.scope):
            self._by_key.setdefault(key, set()).add(till)

    def _unindex(self, till: Till) -> None:
        self._tills.discard(till)
        for key in scope_keys(till.scope):
            tills = self._by_key.get(key)
            if tills is not None:
                tills.discard(till)
                if not tills:
                    del self._by_key[key]


def _scope_of(record: ChangeRecord) -> Scope | None:
    """Where a POS sits after `record`, if it is one still standing."""
    p = record.placement
    if record.entity_type is not EntityType.POS or record.deleted:
        return None
    if p.territory_id is None or p.company_id is None or p.shop_id is None or p.pos_id is None:
        return None
    return Scope(territory_id=p.territory_id, company_id=p.company_id, shop_id=p.shop_id, pos_id=p.pos_id)
