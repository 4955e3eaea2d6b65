"""One connection's messages applied to the till's SQLite store: what is stored, what is acknowledged, what is asked
for, and where the till resumes (contracts' stream.py; the rules of hw_proxy.service_layer.config_stream)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caisse_contracts.events.config import EntityType, PatchOperationV1
from caisse_contracts.stream import Change, EntityRef, Item, Removed, Reset, Scope, Synced
from hw_proxy.adapters.store import LocalStore
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.service_layer.config_stream import Applied, ConfigStreamSession, Resumption

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
SHOP = EntityKey(EntityType.SHOP, uuid.UUID("00000000-0000-4000-8000-00000000000a"))
POS = EntityKey(EntityType.POS, uuid.UUID("00000000-0000-4000-8000-00000000000b"))
PRODUCT = EntityKey(EntityType.PRODUCT, uuid.UUID("00000000-0000-4000-8000-00000000000c"))
SCOPE = Scope(territory_id=uuid.uuid4(), company_id=uuid.uuid4(), shop_id=SHOP.entity_id, pos_id=POS.entity_id)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    local = LocalStore(str(tmp_path / "till.sqlite3"))
    await local.open()
    yield local
    await local.close()


def session(store: LocalStore) -> ConfigStreamSession:
    return ConfigStreamSession(store, lambda: NOW)


def item(key: EntityKey, version: int, body: dict[str, object], position: int | None) -> Item:
    return Item(position=position, entity_type=key.entity_type, entity_id=key.entity_id, version=version, item=body)


def rename(key: EntityKey, from_version: int | None, version: int, name: str, position: int) -> Change:
    op = PatchOperationV1(op="replace" if from_version else "add", path="/name", value=name)
    return Change(
        position=position,
        entity_type=key.entity_type,
        entity_id=key.entity_id,
        from_version=from_version,
        version=version,
        patch=(op,),
    )


async def test_a_change_on_the_version_held_is_stored_with_its_position_and_acknowledged(store: LocalStore) -> None:
    live = session(store)
    await live.apply(item(SHOP, 1, {"name": "Grenier"}, 3))
    applied = await live.apply(rename(SHOP, 1, 2, "Le Grenier", 4))
    assert applied == Applied(stored_position=4)
    assert await store.cached(SHOP) == CachedItem(SHOP, 2, {"name": "Le Grenier"}, position=4)
    state = await store.stream_state()
    assert state.position == 4
    assert state.last_message_at == NOW


async def test_a_change_on_another_version_asks_for_the_item_once_and_keeps_what_the_till_has(
    store: LocalStore,
) -> None:
    live = session(store)
    await live.apply(item(SHOP, 1, {"name": "Grenier"}, 3))
    first = await live.apply(rename(SHOP, 2, 3, "Le Grenier", 5))
    assert first.snapshot == (EntityRef(entity_type=SHOP.entity_type, entity_id=SHOP.entity_id),)
    assert first.stored_position == 5
    again = await live.apply(rename(SHOP, 3, 4, "Le Grand Grenier", 6))
    assert again.snapshot == ()  # already asked on this connection
    held = await store.cached(SHOP)
    assert held is not None
    assert (held.version, held.item, held.awaiting_snapshot) == (1, {"name": "Grenier"}, True)
    assert (await store.stream_state()).position == 6


async def test_the_items_awaited_are_asked_for_again_after_a_reconnection(store: LocalStore) -> None:
    await session(store).apply(rename(SHOP, 2, 3, "Le Grenier", 5))
    resumption = await session(store).resumption()
    assert resumption == Resumption(5, (EntityRef(entity_type=SHOP.entity_type, entity_id=SHOP.entity_id),))


async def test_the_answer_to_a_snapshot_replaces_the_item_without_moving_the_position(store: LocalStore) -> None:
    live = session(store)
    await live.apply(rename(SHOP, 2, 3, "Le Grenier", 5))
    answer = await live.apply(item(SHOP, 9, {"name": "Le Grenier 9"}, 40))
    assert answer == Applied()
    # the row keeps the position its item came with; the stream's position does not move
    assert await store.cached(SHOP) == CachedItem(SHOP, 9, {"name": "Le Grenier 9"}, position=40)
    assert (await store.stream_state()).position == 5
    assert await store.awaiting_snapshot() == []
    late = await live.apply(rename(SHOP, 3, 4, "older", 6))  # the change the answer already holds
    assert late == Applied(stored_position=6)
    assert await store.cached(SHOP) == CachedItem(SHOP, 9, {"name": "Le Grenier 9"}, position=40)


async def test_an_item_without_a_position_outside_a_reset_does_not_move_the_position(store: LocalStore) -> None:
    live = session(store)
    await live.apply(item(SHOP, 1, {"name": "a"}, 3))
    assert await live.apply(item(POS, 1, {"name": "b"}, None)) == Applied()
    assert (await store.stream_state()).position == 3


async def test_a_removed_entity_leaves_the_items_served_and_its_position_is_stored(store: LocalStore) -> None:
    live = session(store)
    await live.apply(item(PRODUCT, 1, {"name": "Chaise"}, 3))
    removed = Removed(
        position=4, entity_type=PRODUCT.entity_type, entity_id=PRODUCT.entity_id, version=2, reason="deleted"
    )
    assert await live.apply(removed) == Applied(stored_position=4)
    held = await store.cached(PRODUCT)
    assert held is not None
    assert not held.live
    assert held.removed == "deleted"
    assert (await store.stream_state()).position == 4


async def test_after_a_reset_the_till_keeps_only_the_items_received_and_stores_the_position_at_synced(
    store: LocalStore,
) -> None:
    old = session(store)
    await old.apply(item(SHOP, 1, {"name": "a"}, 3))
    await old.apply(item(PRODUCT, 1, {"name": "gone"}, 4))
    live = session(store)
    assert await live.apply(Reset(scope=SCOPE, reason="too_old")) == Applied()
    assert await live.apply(item(SHOP, 5, {"name": "e"}, None)) == Applied()
    assert await live.apply(item(POS, 2, {"name": "p"}, None)) == Applied()
    state = await store.stream_state()
    assert (state.position, state.reset_in_progress) == (4, True)
    assert await live.apply(Synced(position=90)) == Applied(stored_position=90)
    assert [row.key for row in await store.items()] == [POS, SHOP]
    state = await store.stream_state()
    assert (state.position, state.reset_in_progress, state.last_synced_at) == (90, False, NOW)


async def test_a_reset_cut_short_is_started_again_whole(store: LocalStore) -> None:
    await session(store).apply(item(SHOP, 1, {"name": "a"}, 3))
    cut = session(store)
    await cut.apply(Reset(scope=SCOPE, reason="moved"))
    await cut.apply(item(POS, 2, {"name": "p"}, None))
    resumption = await session(store).resumption()
    assert resumption.position is None  # the notifier sends the whole scope again


async def test_a_synced_outside_a_reset_drops_nothing_and_moves_the_position_forward_only(store: LocalStore) -> None:
    live = session(store)
    await live.apply(item(SHOP, 1, {"name": "a"}, 8))
    assert await live.apply(Synced(position=12)) == Applied(stored_position=12)
    await live.apply(Synced(position=10))
    assert (await store.stream_state()).position == 12
    assert [row.key for row in await store.items()] == [SHOP]
