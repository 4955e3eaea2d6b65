"""Where a configuration item sits, which tills it reaches, and what a till is told when it changes.

An item's placement is the hierarchy keys its `config.changed` carries (territory, company, shop, POS: the
tenant keys pos-api writes). A till's scope is its POS with its shop, company and territory. A placement reaches a
till when it names at least one key and every key it names is the till's: a territory's item reaches every till
of the territory, a product (territory + company) the tills of its company, a per-shop override or a cashier
(… + shop) the tills of the shop, a POS its own till. An item that names no key (a federation admin) reaches no till:
a till never receives what is not its hierarchy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from uuid import UUID

from caisse_contracts.stream import Scope

PlacementKey = tuple[UUID, ...]
"""A placement as its leading keys: (territory,), (territory, company), (territory, company, shop) or all four."""


@dataclass(frozen=True, slots=True)
class Placement:
    territory_id: UUID | None = None
    company_id: UUID | None = None
    shop_id: UUID | None = None
    pos_id: UUID | None = None

    @property
    def key(self) -> PlacementKey | None:
        """The placement as the keys a scope is indexed by, None when it names no key or skips a level (such an item
        is matched key by key with `reaches`)."""
        keys: list[UUID] = []
        for value in (self.territory_id, self.company_id, self.shop_id, self.pos_id):
            if value is None:
                break
            keys.append(value)
        rest = (self.territory_id, self.company_id, self.shop_id, self.pos_id)[len(keys) :]
        if not keys or any(v is not None for v in rest):
            return None
        return tuple(keys)

    def reaches(self, scope: Scope) -> bool:
        named = [
            (self.territory_id, scope.territory_id),
            (self.company_id, scope.company_id),
            (self.shop_id, scope.shop_id),
            (self.pos_id, scope.pos_id),
        ]
        return any(mine is not None for mine, _ in named) and all(
            mine is None or mine == theirs for mine, theirs in named
        )


def scope_keys(scope: Scope) -> tuple[PlacementKey, PlacementKey, PlacementKey, PlacementKey]:
    """The four placement keys whose items reach a till of `scope`."""
    t, c, s, p = scope.territory_id, scope.company_id, scope.shop_id, scope.pos_id
    return (t,), (t, c), (t, c, s), (t, c, s, p)


def placement_of(scope: Scope) -> Placement:
    return Placement(scope.territory_id, scope.company_id, scope.shop_id, scope.pos_id)


class Route(Enum):
    """What a till is told of one change."""

    NOTHING = "nothing"
    PATCH = "patch"
    """It had the item here before: the patch from the previous version."""
    ITEM = "item"
    """The item came into its scope (created, or moved in): the whole item."""
    REMOVED = "removed"
    """Deleted, or moved out of its scope."""


def route(before: Placement | None, after: Placement, *, deleted: bool, scope: Scope) -> Route:
    """What a till of `scope` is told of a change that moved an item from `before` (None: it is new) to `after`."""
    was, now = before is not None and before.reaches(scope), after.reaches(scope)
    if deleted:
        return Route.REMOVED if (was or now) else Route.NOTHING
    if now:
        return Route.PATCH if was else Route.ITEM
    return Route.REMOVED if was else Route.NOTHING
