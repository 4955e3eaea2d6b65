"""The notifier's picture of the configuration: the latest item of every entity and the log of recent changes.

Every replica builds the same picture from `caisse.config.v1` (and from its database, which keeps the log longer
than compaction keeps the topic): positions are the topic's offsets, so a till may resume on any replica. The
picture lives in memory, where a change is routed to the tills it reaches and a reconnecting till is caught up
without a database round trip per till.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from caisse_contracts.events import ConfigChangedV1, EntityType, PatchOperationV1
from caisse_contracts.stream import Change, Item, Removed, Reset, Scope, Synced
from notifier.domain.placement import Placement, PlacementKey, Route, route, scope_keys

EntityKey = tuple[EntityType, UUID]
ResetReason = Literal["first", "too_old", "unknown_position", "moved"]
Message = Change | Item | Removed | Reset | Synced


@dataclass(slots=True)
class Entity:
    """The latest version of one entity (a deleted one stays as a tombstone: its version still orders replays)."""

    entity_type: EntityType
    entity_id: UUID
    version: int
    deleted: bool
    item: dict[str, Any]
    placement: Placement
    position: int


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change as the log keeps it: enough to tell every till what it needs, in position order."""

    position: int
    entity_type: EntityType
    entity_id: UUID
    from_version: int | None
    version: int
    deleted: bool
    patch: tuple[PatchOperationV1, ...]
    placement: Placement
    before: Placement | None
    """Where the entity sat before this change (None: it was new, or deleted)."""

    @property
    def entity(self) -> EntityKey:
        return self.entity_type, self.entity_id


@dataclass(frozen=True, slots=True)
class Incoming:
    """A `config.changed` read at `position`, placed where its tenant keys say."""

    position: int
    change: ConfigChangedV1
    placement: Placement


class ConfigState:
    """Entities and the change log, in memory. `keep` bounds the log; `horizon` is the newest position the log no
    longer holds (a till older than it is sent its whole scope again)."""

    def __init__(self, *, keep: int) -> None:
        self.keep = keep
        self.entities: dict[EntityKey, Entity] = {}
        self._by_key: dict[PlacementKey, set[EntityKey]] = {}
        self._loose: set[EntityKey] = set()
        self.log: list[ChangeRecord] = []
        self._positions: list[int] = []
        self.horizon: int = -1
        self.latest: int | None = None

    # Building the picture

    def restore(self, entities: Iterable[Entity], log: Iterable[ChangeRecord], horizon: int) -> None:
        """Load what the database kept (before the topic is read again)."""
        for entity in entities:
            self._put(entity)
        for record in sorted(log, key=lambda r: r.position):
            self._append(record)
        self.horizon = max(self.horizon, horizon)
        self._trim()

    def plan(self, batch: Sequence[Incoming]) -> tuple[list[ChangeRecord], list[Entity]]:
        """What a batch changes, without changing anything yet: its new changes (one already applied is skipped:
        the topic is read again at every start) and the entities as they will stand."""
        overlay: dict[EntityKey, Entity] = {}
        records: list[ChangeRecord] = []
        for incoming in sorted(batch, key=lambda i: i.position):
            change, key = incoming.change, (incoming.change.entity_type, incoming.change.entity_id)
            current = overlay.get(key) or self.entities.get(key)
            if current is not None and current.position >= incoming.position:
                continue
            records.append(
                ChangeRecord(
                    position=incoming.position,
                    entity_type=change.entity_type,
                    entity_id=change.entity_id,
                    from_version=change.previous_version,
                    version=change.version,
                    deleted=change.deleted,
                    patch=change.patch,
                    placement=incoming.placement,
                    before=current.placement if current is not None and not current.deleted else None,
                )
            )
            overlay[key] = Entity(
                change.entity_type,
                change.entity_id,
                change.version,
                change.deleted,
                change.item,
                incoming.placement,
                incoming.position,
            )
        return records, list(overlay.values())

    def commit(self, records: Sequence[ChangeRecord], entities: Sequence[Entity]) -> None:
        """Take what `plan` found."""
        for entity in entities:
            current = self.entities.get((entity.entity_type, entity.entity_id))
            if current is not None:
                self._unindex(current)
            self._put(entity)
        for record in records:
            self._append(record)
        self._trim()

    def apply(self, incoming: Incoming) -> ChangeRecord | None:
        """Take one change at once; None when it was applied already."""
        records, entities = self.plan([incoming])
        self.commit(records, entities)
        return records[0] if records else None

    def _put(self, entity: Entity) -> None:
        key = (entity.entity_type, entity.entity_id)
        self.entities[key] = entity
        self.latest = entity.position if self.latest is None else max(self.latest, entity.position)
        if entity.deleted:
            return
        placement_key = entity.placement.key
        if placement_key is None:
            self._loose.add(key)
        else:
            self._by_key.setdefault(placement_key, set()).add(key)

    def _unindex(self, entity: Entity) -> None:
        key = (entity.entity_type, entity.entity_id)
        self._loose.discard(key)
        placement_key = entity.placement.key
        if placement_key is not None and placement_key in self._by_key:
            self._by_key[placement_key].discard(key)

    def _append(self, record: ChangeRecord) -> None:
        if self._positions and record.position <= self._positions[-1]:
            return  # the database and the topic both hold it
        self.log.append(record)
        self._positions.append(record.position)
        self.latest = record.position if self.latest is None else max(self.latest, record.position)

    def _trim(self) -> None:
        extra = len(self.log) - self.keep
        if extra > 0:
            self.horizon = max(self.horizon, self._positions[extra - 1])
            del self.log[:extra]
            del self._positions[:extra]

    # Reading it for a till

    def in_scope(self, scope: Scope) -> Iterator[Entity]:
        """The live entities a till of `scope` keeps."""
        for placement_key in scope_keys(scope):
            for key in self._by_key.get(placement_key, ()):
                yield self.entities[key]
        for key in self._loose:
            entity = self.entities[key]
            if entity.placement.reaches(scope):
                yield entity

    def reset(self, scope: Scope, reason: ResetReason) -> list[Message]:
        """The whole scope: what a till keeps once `Synced` comes, replacing all it had."""
        items: list[Message] = [Reset(scope=scope, reason=reason)]
        items += [
            Item(position=None, entity_type=e.entity_type, entity_id=e.entity_id, version=e.version, item=e.item)
            for e in sorted(self.in_scope(scope), key=lambda e: e.position)
        ]
        items.append(Synced(position=self.latest))
        return items

    def catch_up(self, scope: Scope, position: int | None) -> list[Message]:
        """What a till of `scope` that stored `position` is missing, ending with `Synced`."""
        if position is None:
            return self.reset(scope, "first")
        if position < self.horizon:
            return self.reset(scope, "too_old")
        if self.latest is None or position > self.latest:
            return self.reset(scope, "unknown_position")
        messages: list[Message] = []
        sent_whole: set[EntityKey] = set()
        for record in self.log[bisect_right(self._positions, position) :]:
            message = self.message_for(record, scope, whole_sent=record.entity in sent_whole)
            if message is None:
                continue
            if isinstance(message, Item):
                sent_whole.add(record.entity)
            messages.append(message)
        messages.append(Synced(position=self.latest))
        return messages

    def message_for(self, record: ChangeRecord, scope: Scope, *, whole_sent: bool = False) -> Message | None:
        """What a till of `scope` is told of `record` (None: nothing). An entity that came into the scope is sent
        whole as it stands now; its later patches are in it already (`whole_sent`)."""
        match route(record.before, record.placement, deleted=record.deleted, scope=scope):
            case Route.NOTHING:
                return None
            case Route.REMOVED:
                return Removed(
                    position=record.position,
                    entity_type=record.entity_type,
                    entity_id=record.entity_id,
                    version=record.version,
                    reason="deleted" if record.deleted else "moved",
                )
            case Route.PATCH if not whole_sent:
                return Change(
                    position=record.position,
                    entity_type=record.entity_type,
                    entity_id=record.entity_id,
                    from_version=record.from_version,
                    version=record.version,
                    patch=record.patch,
                )
            case Route.ITEM:
                current = self.entities[record.entity]
                if whole_sent or current.deleted or not current.placement.reaches(scope):
                    return None  # a later record of the catch-up says what became of it
                return Item(
                    position=record.position,
                    entity_type=current.entity_type,
                    entity_id=current.entity_id,
                    version=current.version,
                    item=current.item,
                )
        return None

    def lag(self, scope: Scope, position: int | None) -> int:
        """How many changes of `scope` a till that stored `position` has not acknowledged."""
        if position is None:
            return sum(1 for _ in self.in_scope(scope))
        return sum(
            1
            for record in self.log[bisect_right(self._positions, position) :]
            if route(record.before, record.placement, deleted=record.deleted, scope=scope) is not Route.NOTHING
        )

    def item(self, entity_type: EntityType, entity_id: UUID, scope: Scope) -> Item | Removed | None:
        """The entity as a till of `scope` may see it now (its answer to `Snapshot`), None if it is unknown. The item
        carries no position: answering a question moves no till forward in the log."""
        entity = self.entities.get((entity_type, entity_id))
        if entity is None:
            return None
        if entity.deleted or not entity.placement.reaches(scope):
            return Removed(
                position=None,
                entity_type=entity_type,
                entity_id=entity_id,
                version=entity.version,
                reason="deleted" if entity.deleted else "moved",
            )
        return Item(
            position=None, entity_type=entity_type, entity_id=entity_id, version=entity.version, item=entity.item
        )
