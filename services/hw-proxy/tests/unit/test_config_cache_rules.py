"""The rules of the till's config cache (pure): a patch applies only on the version it starts from, an item replaces
an older one, a removal leaves a tombstone, and whatever cannot be applied is asked for (contracts' stream.py)."""

from __future__ import annotations

import uuid

from caisse_contracts.events.config import EntityType, PatchOperationV1
from caisse_contracts.stream import Change, Item, Removed
from hw_proxy.domain.config_cache import CachedItem, EntityKey, on_change, on_item, on_removed, patched

SHOP = EntityKey(EntityType.SHOP, uuid.UUID("6f1c1d2e-0000-4000-8000-000000000001"))


def change(from_version: int | None, version: int, *ops: PatchOperationV1, position: int = 10) -> Change:
    return Change(
        position=position,
        entity_type=SHOP.entity_type,
        entity_id=SHOP.entity_id,
        from_version=from_version,
        version=version,
        patch=ops,
    )


def replace_name(name: str) -> PatchOperationV1:
    return PatchOperationV1(op="replace", path="/name", value=name)


def held(version: int, *, awaiting_snapshot: bool = False) -> CachedItem:
    return CachedItem(SHOP, version, {"name": f"v{version}"}, awaiting_snapshot=awaiting_snapshot)


def test_a_patch_applies_on_the_version_it_starts_from() -> None:
    verdict = on_change(held(3), change(3, 4, replace_name("Le Grenier"), position=12))
    assert verdict.write == CachedItem(SHOP, 4, {"name": "Le Grenier"}, position=12)
    assert not verdict.ask_snapshot


def test_a_creation_patches_the_empty_item() -> None:
    add = PatchOperationV1(op="add", path="/name", value="Le Grenier")
    verdict = on_change(None, change(None, 1, add))
    assert verdict.write is not None
    assert verdict.write.item == {"name": "Le Grenier"}


def test_a_patch_on_another_version_is_not_applied_and_the_item_is_asked_for() -> None:
    verdict = on_change(held(2), change(3, 4, replace_name("Le Grenier"), position=12))
    assert verdict.ask_snapshot
    assert verdict.write == CachedItem(SHOP, 2, {"name": "v2"}, position=12, awaiting_snapshot=True)


def test_a_change_of_an_item_never_held_is_asked_for() -> None:
    verdict = on_change(None, change(3, 4, replace_name("Le Grenier")))
    assert verdict.ask_snapshot
    assert verdict.write is not None
    assert verdict.write.item is None
    assert verdict.write.awaiting_snapshot


def test_a_patch_that_does_not_fit_the_item_is_asked_for() -> None:
    broken = PatchOperationV1(op="remove", path="/address/street")
    verdict = on_change(held(3), change(3, 4, broken))
    assert verdict.ask_snapshot
    assert verdict.write is not None
    assert verdict.write.item == {"name": "v3"}


def test_a_failed_test_operation_is_a_patch_that_does_not_fit() -> None:
    assert patched({"name": "a"}, (PatchOperationV1(op="test", path="/name", value="b"),)) is None


def test_a_change_the_till_already_has_changes_nothing() -> None:
    assert on_change(held(5), change(3, 4, replace_name("old"))).write is None
    assert not on_change(held(5), change(3, 4, replace_name("old"))).ask_snapshot


def test_changes_of_an_item_awaiting_its_snapshot_are_not_applied() -> None:
    verdict = on_change(held(3, awaiting_snapshot=True), change(3, 4, replace_name("x")))
    assert verdict.write is None
    assert verdict.ask_snapshot


def test_an_item_replaces_an_older_one_and_ends_the_wait() -> None:
    message = Item(position=None, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=7, item={"n": 1})
    verdict = on_item(held(3, awaiting_snapshot=True), message, in_reset=False)
    assert verdict.write == CachedItem(SHOP, 7, {"n": 1})


def test_an_item_older_than_the_one_held_is_ignored_outside_a_reset_only() -> None:
    message = Item(position=4, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=2, item={"n": 1})
    assert on_item(held(3), message, in_reset=False).write is None
    assert on_item(held(3), message, in_reset=True).write == CachedItem(SHOP, 2, {"n": 1}, position=4)


def test_a_removal_leaves_a_tombstone_that_an_item_of_the_same_version_does_not_revive() -> None:
    removed = Removed(position=9, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=4, reason="moved")
    verdict = on_removed(held(4), removed)
    assert verdict.write == CachedItem(SHOP, 4, None, removed="moved", position=9)
    stale = Item(position=10, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=4, item={"n": 1})
    assert on_item(verdict.write, stale, in_reset=False).write is None
    back = Item(position=11, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=5, item={"n": 2})
    assert on_item(verdict.write, back, in_reset=False).write == CachedItem(SHOP, 5, {"n": 2}, position=11)


def test_a_removal_older_than_the_item_held_is_ignored() -> None:
    removed = Removed(position=9, entity_type=SHOP.entity_type, entity_id=SHOP.entity_id, version=4, reason="deleted")
    assert on_removed(held(6), removed).write is None
