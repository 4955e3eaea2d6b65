"""The rules of the till's config cache: what one message of the notifier's stream does to one cached item.

Each rule takes the row the till holds (or None) and the message, and returns the row to store (or None: the
cache keeps what it has) and whether the till must ask the notifier for the whole item. A change the till cannot
apply (it does not hold the version the patch starts from, or the patch does not fit) leaves the item as it was,
marked `awaiting_snapshot`: the till keeps selling with what it has and asks for the item; the stream's position
moves on (the other entities' changes are not held back), and the mark is stored with it, so the request is sent
again after a restart until the item arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import jsonpatch
import jsonpointer

from caisse_contracts.events.config import EntityType, PatchOperationV1
from caisse_contracts.stream import Change, Item, Removed

RemovedReason = Literal["deleted", "moved"]

NOTHING_HELD = 0
"""The version of a row the till asked for without ever holding the item (entity versions start at 1)."""


@dataclass(frozen=True, slots=True)
class EntityKey:
    """Which entity a cached item is: its type and id."""

    entity_type: EntityType
    entity_id: UUID


@dataclass(frozen=True, slots=True)
class CachedItem:
    """One entity as the till holds it.

    `item` is None when the entity was removed (`removed` says why) or when the till asked for an item it never
    held. `position` is the stream position the item came with (None: inside a reset or as a snapshot's answer).
    """

    key: EntityKey
    version: int
    item: dict[str, Any] | None
    removed: RemovedReason | None = None
    position: int | None = None
    awaiting_snapshot: bool = False

    @property
    def live(self) -> bool:
        """The till holds this entity's item and may use it."""
        return self.item is not None and self.removed is None


@dataclass(frozen=True, slots=True)
class StreamState:
    """How far the till's cache is: the last position stored, and when the notifier was last heard."""

    position: int | None
    last_message_at: datetime | None
    last_synced_at: datetime | None
    reset_in_progress: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one message does to one cached item: the row to store (None: unchanged) and whether to ask for it."""

    write: CachedItem | None
    ask_snapshot: bool = False


def patched(item: dict[str, Any], patch: tuple[PatchOperationV1, ...]) -> dict[str, Any] | None:
    """`item` with the RFC 6902 `patch` applied, or None when the patch does not fit it."""
    operations = [op.model_dump() for op in patch]
    try:
        result = jsonpatch.apply_patch(item, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        return None
    return result if isinstance(result, dict) else None


def key_of(message: Change | Item | Removed) -> EntityKey:
    return EntityKey(message.entity_type, message.entity_id)


def _awaiting(row: CachedItem | None, key: EntityKey, position: int | None) -> Verdict:
    held = row or CachedItem(key, NOTHING_HELD, None)
    return Verdict(replace(held, awaiting_snapshot=True, position=position), ask_snapshot=True)


def on_change(row: CachedItem | None, change: Change) -> Verdict:
    """A patch from `from_version` to `version`: applied only on exactly `from_version`; otherwise ask for the item.

    A change the till already has (it holds `version` or newer, e.g. from a snapshot's answer) changes nothing.
    """
    key = key_of(change)
    if row is not None and row.awaiting_snapshot:
        return Verdict(None, ask_snapshot=True)
    if row is not None and row.version >= change.version:
        return Verdict(None)
    if change.from_version is None:
        base: dict[str, Any] | None = {} if row is None or not row.live else None
    else:
        base = row.item if row is not None and row.live and row.version == change.from_version else None
    result = patched(base, change.patch) if base is not None else None
    if result is None:
        return _awaiting(row, key, change.position)
    return Verdict(CachedItem(key, change.version, result, position=change.position))


def on_item(row: CachedItem | None, message: Item, *, in_reset: bool) -> Verdict:
    """The whole item: it replaces what the till holds, unless the till holds a newer version already.

    Inside a reset every item is taken as it comes: the reset is the truth of the till's scope.
    """
    key = key_of(message)
    fresh = CachedItem(key, message.version, dict(message.item), position=message.position)
    if in_reset or row is None or message.version > row.version:
        return Verdict(fresh)
    if message.version == row.version and row.removed is None:
        return Verdict(fresh)
    return Verdict(None)


def on_removed(row: CachedItem | None, message: Removed) -> Verdict:
    """The entity left the till's scope (deleted, or moved elsewhere): the till keeps only its tombstone."""
    if row is not None and row.removed is None and not row.awaiting_snapshot and row.version > message.version:
        return Verdict(None)
    return Verdict(
        CachedItem(key_of(message), message.version, None, removed=message.reason, position=message.position)
    )
