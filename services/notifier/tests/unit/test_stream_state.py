"""The notifier's picture and fan-out, without any server: routing by scope, catch-up by position, resets, slow
tills, a POS that moves."""

from __future__ import annotations

import uuid
from typing import Any

from caisse_contracts.events import ConfigChangedV1, EntityType, PatchOperationV1
from caisse_contracts.stream import TO_TILL, Change, CloseCode, Item, Removed, Reset, Scope, Synced
from notifier.domain.placement import Placement, Route, route
from notifier.service_layer.hub import Hub
from notifier.service_layer.state import ConfigState, Incoming

T, A, B = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # a territory, companies A and B
SHOP_A1, SHOP_A2, SHOP_B1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def scope(company: uuid.UUID, shop: uuid.UUID, pos: uuid.UUID | None = None) -> Scope:
    return Scope(territory_id=T, company_id=company, shop_id=shop, pos_id=pos or uuid.uuid4())


class FakeTill:
    def __init__(self, scope: Scope, max_queue: int = 100) -> None:
        self.scope = scope
        self.got: list[Any] = []
        self.closed: int | None = None
        self._max = max_queue

    def offer(self, text: str) -> bool:
        if len(self.got) >= self._max:
            self.closed = CloseCode.TOO_SLOW
            return False
        self.got.append(TO_TILL.validate_json(text))
        return True

    def offer_many(self, texts: list[str]) -> None:
        self.got += [TO_TILL.validate_json(t) for t in texts]

    def rescope(self, scope: Scope) -> None:
        self.scope = scope


class World:
    def __init__(self, keep: int = 1000) -> None:
        self.state = ConfigState(keep=keep)
        self.hub = Hub(self.state)
        self.position = 0
        self.versions: dict[uuid.UUID, int] = {}

    def change(
        self,
        entity_type: EntityType,
        entity_id: uuid.UUID,
        placement: Placement,
        *,
        deleted: bool = False,
        **item: Any,
    ) -> int:
        previous = self.versions.get(entity_id)
        version = (previous or 0) + 1
        self.versions[entity_id] = version
        change = ConfigChangedV1(
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            previous_version=previous,
            deleted=deleted,
            item={"id": str(entity_id), "version": version, **item},
            patch=(PatchOperationV1(op="replace", path="/version", value=version),) if previous else (),
        )
        self.position += 1
        record = self.state.apply(Incoming(self.position, change, placement))
        assert record is not None
        self.hub.publish([record])
        return self.position


def test_an_item_reaches_the_tills_below_every_key_it_names_and_no_other() -> None:
    till = scope(A, SHOP_A1)
    assert Placement(T).reaches(till)
    assert Placement(T, A).reaches(till)
    assert Placement(T, A, SHOP_A1).reaches(till)
    assert Placement(T, A, SHOP_A1, till.pos_id).reaches(till)
    assert not Placement(T, B).reaches(till)
    assert not Placement(T, A, SHOP_A2).reaches(till)
    assert not Placement(T, A, SHOP_A1, uuid.uuid4()).reaches(till)
    assert not Placement().reaches(till)  # a federation admin reaches no till


def test_a_move_is_a_removal_for_those_it_leaves_and_the_whole_item_for_those_it_reaches() -> None:
    here, there = scope(A, SHOP_A1), scope(A, SHOP_A2)
    before, after = Placement(T, A, SHOP_A1), Placement(T, A, SHOP_A2)
    assert route(before, after, deleted=False, scope=here) is Route.REMOVED
    assert route(before, after, deleted=False, scope=there) is Route.ITEM
    assert route(after, after, deleted=False, scope=there) is Route.PATCH
    assert route(after, after, deleted=True, scope=there) is Route.REMOVED
    assert route(None, after, deleted=False, scope=here) is Route.NOTHING


def test_a_till_of_company_a_never_hears_of_company_b() -> None:
    world = World()
    a, b = FakeTill(scope(A, SHOP_A1)), FakeTill(scope(B, SHOP_B1))
    world.hub.join(a, None)
    world.hub.join(b, None)
    a.got.clear()
    b.got.clear()
    product = uuid.uuid4()
    world.change(EntityType.PRODUCT, product, Placement(T, A), price=100)
    world.change(EntityType.PRODUCT, product, Placement(T, A), price=150)
    world.change(EntityType.TERRITORY, T, Placement(T), name="Métropole")
    assert [type(m) for m in a.got] == [Item, Change, Item]
    assert [type(m) for m in b.got] == [Item]  # the territory only
    assert all(getattr(m, "entity_id", None) != product for m in b.got)


def test_a_till_back_from_offline_gets_exactly_what_it_missed_then_synced() -> None:
    world = World()
    shop_item = uuid.uuid4()
    world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="Centre")
    world.change(EntityType.CATALOGUE_OVERRIDE, shop_item, Placement(T, A, SHOP_A1), price=10)
    stored = world.position
    first = world.change(EntityType.CATALOGUE_OVERRIDE, shop_item, Placement(T, A, SHOP_A1), price=20)
    world.change(EntityType.PRODUCT, uuid.uuid4(), Placement(T, B), price=5)  # another company's
    second = world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="Centre-ville")
    third = world.change(EntityType.CATALOGUE_OVERRIDE, shop_item, Placement(T, A, SHOP_A1), price=30)
    till = FakeTill(scope(A, SHOP_A1))
    world.hub.join(till, stored)
    assert [(type(m), getattr(m, "position", None)) for m in till.got] == [
        (Change, first),
        (Change, second),
        (Change, third),
        (Synced, third + 0),
    ]
    synced = till.got[-1]
    assert isinstance(synced, Synced)
    assert synced.position == world.state.latest


def test_a_first_connection_or_a_position_older_than_the_log_gets_the_whole_scope() -> None:
    world = World(keep=3)
    gone = uuid.uuid4()
    world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="Centre")
    world.change(EntityType.PRODUCT, gone, Placement(T, A), price=1)
    world.change(EntityType.PRODUCT, gone, Placement(T, A), deleted=True)
    for price in (1, 2, 3):
        world.change(EntityType.PRODUCT, uuid.uuid4(), Placement(T, B), price=price)
    till = FakeTill(scope(A, SHOP_A1))
    world.hub.join(till, 1)  # the log keeps the last 3 changes only
    reset = till.got[0]
    assert isinstance(reset, Reset)
    assert reset.reason == "too_old"
    assert [(type(m), getattr(m, "entity_id", None)) for m in till.got[1:-1]] == [(Item, SHOP_A1)]
    assert isinstance(till.got[-1], Synced)
    newcomer = FakeTill(scope(A, SHOP_A1))
    world.hub.join(newcomer, None)
    assert isinstance(newcomer.got[0], Reset)
    assert newcomer.got[0].reason == "first"


def test_an_item_moved_into_the_scope_while_offline_comes_whole_and_its_later_patches_in_it() -> None:
    world = World()
    cashier = uuid.uuid4()
    world.change(EntityType.OPERATOR, cashier, Placement(T, A, SHOP_A2), name="Alice")
    stored = world.position
    moved = world.change(EntityType.OPERATOR, cashier, Placement(T, A, SHOP_A1), name="Alice")
    world.change(EntityType.OPERATOR, cashier, Placement(T, A, SHOP_A1), name="Alice B.")
    here, there = FakeTill(scope(A, SHOP_A1)), FakeTill(scope(A, SHOP_A2))
    world.hub.join(here, stored)
    world.hub.join(there, stored)
    [item, synced] = here.got
    assert isinstance(item, Item)
    assert (item.position, item.version, item.item["name"]) == (moved, 3, "Alice B.")
    assert isinstance(synced, Synced)
    [removed, _] = there.got
    assert isinstance(removed, Removed)
    assert removed.reason == "moved"


def test_a_till_whose_pos_moves_to_another_shop_is_given_its_new_shop_whole() -> None:
    world = World()
    pos = uuid.uuid4()
    world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="Centre")
    world.change(EntityType.SHOP, SHOP_A2, Placement(T, A, SHOP_A2), name="Gare")
    world.change(EntityType.POS, pos, Placement(T, A, SHOP_A1, pos), name="Caisse 1")
    till = FakeTill(scope(A, SHOP_A1, pos))
    world.hub.join(till, world.position)
    till.got.clear()
    world.change(EntityType.POS, pos, Placement(T, A, SHOP_A2, pos), name="Caisse 1")
    assert till.scope.shop_id == SHOP_A2
    reset = till.got[0]
    assert isinstance(reset, Reset)
    assert reset.reason == "moved"
    assert {m.entity_id for m in till.got if isinstance(m, Item)} == {SHOP_A2, pos}
    till.got.clear()
    world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="Centre (fermé)")
    assert till.got == []  # its old shop is no longer its business


def test_a_slow_till_is_dropped_and_the_others_get_everything() -> None:
    world = World()
    slow, quick = FakeTill(scope(A, SHOP_A1), max_queue=5), FakeTill(scope(A, SHOP_A1), max_queue=10_000)
    world.hub.join(slow, world.position)
    world.hub.join(quick, world.position)
    product = uuid.uuid4()
    for price in range(50):
        world.change(EntityType.PRODUCT, product, Placement(T, A), price=price)
    assert slow.closed == CloseCode.TOO_SLOW
    assert len([m for m in quick.got if isinstance(m, Change | Item)]) == 50


def test_a_replayed_change_changes_nothing() -> None:
    world = World()
    product = uuid.uuid4()
    world.change(EntityType.PRODUCT, product, Placement(T, A), price=1)
    change = ConfigChangedV1(entity_type=EntityType.PRODUCT, entity_id=product, version=1, item={"price": 1}, patch=())
    assert world.state.apply(Incoming(1, change, Placement(T, A))) is None
    assert len(world.state.log) == 1


def test_lag_counts_the_changes_of_the_scope_after_the_position() -> None:
    world = World()
    world.change(EntityType.SHOP, SHOP_A1, Placement(T, A, SHOP_A1), name="x")
    acked = world.position
    world.change(EntityType.PRODUCT, uuid.uuid4(), Placement(T, A), price=1)
    world.change(EntityType.PRODUCT, uuid.uuid4(), Placement(T, B), price=1)
    world.change(EntityType.TERRITORY, T, Placement(T), name="t")
    assert world.state.lag(scope(A, SHOP_A1), acked) == 2
    assert world.state.lag(scope(A, SHOP_A1), world.position) == 0


def test_a_snapshot_answer_carries_no_position_and_says_removed_for_what_left_the_scope() -> None:
    world = World()
    product, gone = uuid.uuid4(), uuid.uuid4()
    world.change(EntityType.PRODUCT, product, Placement(T, A), price=1)
    world.change(EntityType.PRODUCT, gone, Placement(T, A), price=1)
    world.change(EntityType.PRODUCT, gone, Placement(T, A), deleted=True)
    till = scope(A, SHOP_A1)
    item = world.state.item(EntityType.PRODUCT, product, till)
    assert isinstance(item, Item)
    assert (item.position, item.version) == (None, 1)
    removed = world.state.item(EntityType.PRODUCT, gone, till)
    assert isinstance(removed, Removed)
    assert (removed.position, removed.reason) == (None, "deleted")
    assert isinstance(world.state.item(EntityType.PRODUCT, product, scope(B, SHOP_B1)), Removed)  # not its company's
    assert world.state.item(EntityType.PRODUCT, uuid.uuid4(), till) is None
