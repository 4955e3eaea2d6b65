"""The bridge's view of the configuration: the newest version of each company, category, shop, till and operator (what
Paheko's books name), from `config.changed`.

The topic is compacted and keyed by entity, so a view rebuilt from the beginning sees each entity's latest
version; an older or equal version never overwrites a newer one, so a replay changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, TypeVar
from uuid import UUID

from caisse_contracts.config import Category, Company, Pos, Shop
from caisse_contracts.events import ConfigChangedV1, EntityType
from caisse_runtime.pg import HotPool

Kept = TypeVar("Kept", Category, Shop)

KEPT = (
    EntityType.TERRITORY,
    EntityType.COMPANY,
    EntityType.CATEGORY,
    EntityType.SHOP,
    EntityType.POS,
    EntityType.OPERATOR,
)


@dataclass(frozen=True, slots=True)
class ConfigRow:
    """A row of `config_items`, its columns named: the upsert takes one array per field, in this order."""

    entity_id: UUID
    entity_type: str
    version: int
    deleted: bool
    company_id: UUID | None
    """The company an item belongs to (a company's own id for a company); None for what no company owns."""
    item: str
    """The item's JSON."""

    @classmethod
    def of(cls, change: ConfigChangedV1) -> ConfigRow:
        company = change.entity_id if change.entity_type is EntityType.COMPANY else change.item.get("company_id")
        return cls(
            change.entity_id,
            change.entity_type.value,
            change.version,
            change.deleted,
            UUID(str(company)) if company is not None else None,
            json.dumps(change.item),
        )


CONFIG_ROW_FIELDS: Final = tuple(f.name for f in fields(ConfigRow))

UPSERT_SQL: Final = """
insert into config_items (entity_id, entity_type, version, deleted, company_id, item)
select * from unnest($1::uuid[], $2::text[], $3::integer[], $4::boolean[], $5::uuid[], $6::jsonb[])
on conflict (entity_id) do update set version = excluded.version, deleted = excluded.deleted,
    company_id = excluded.company_id, item = excluded.item, received_at = now()
where config_items.version < excluded.version
returning entity_id
"""

TILLS_SQL: Final = """
select till.item::text as item from config_items till
join config_items shop on shop.entity_id = (till.item->>'shop_id')::uuid
where shop.company_id = $1 and shop.entity_type = 'shop' and till.entity_type = 'pos' and not till.deleted
order by till.entity_id
"""


class SqlConfigView:
    """The view in the bridge's `config_items` table, on its asyncpg pool."""

    def __init__(self, pool: HotPool) -> None:
        self._pool = pool
        self.generation = 0
        """Bumped on every change kept: what was derived from the view (a provisioned Paheko) is stale."""

    async def apply(self, changes: Sequence[ConfigChangedV1]) -> int:
        newest: dict[UUID, ConfigChangedV1] = {}
        for change in changes:
            if change.entity_type not in KEPT:
                continue
            known = newest.get(change.entity_id)
            if known is None or change.version > known.version:
                newest[change.entity_id] = change
        if not newest:
            return 0
        rows = [ConfigRow.of(change) for change in newest.values()]
        columns = ([getattr(row, name) for row in rows] for name in CONFIG_ROW_FIELDS)
        kept = len(await self._pool.opened().fetch(UPSERT_SQL, *columns))
        if kept:
            self.generation += 1
        return kept

    async def company(self, company_id: UUID) -> Company | None:
        found = await self._pool.opened().fetchval(
            "select item::text from config_items where entity_id = $1 and entity_type = 'company' and not deleted",
            company_id,
        )
        return Company.model_validate_json(found) if found else None

    async def timezone_of(self, company: Company) -> str:
        """The time zone of the company's territory (its business days), Europe/Paris until the territory is known."""
        return await self.territory_timezone(company) or "Europe/Paris"

    async def territory_timezone(self, company: Company) -> str | None:
        """The time zone of the company's territory, None while the view has not seen the territory: each entity
        has its own key, so a company's change can arrive before its territory's."""
        found = await self._pool.opened().fetchval(
            "select item->>'timezone' from config_items where entity_id = $1 and entity_type = 'territory'",
            company.territory_id,
        )
        return str(found) if found else None

    async def item(self, entity_id: UUID) -> dict[str, Any] | None:
        """The newest version of any kept item (a shop, a till, an operator…), None when unknown or deleted."""
        found = await self._pool.opened().fetchval(
            "select item::text from config_items where entity_id = $1 and not deleted", entity_id
        )
        return dict(json.loads(found)) if found else None

    async def categories(self, company_id: UUID) -> list[Category]:
        return await self._of_company(company_id, EntityType.CATEGORY, Category)

    async def shops(self, company_id: UUID) -> list[Shop]:
        return await self._of_company(company_id, EntityType.SHOP, Shop)

    async def _of_company(self, company_id: UUID, entity_type: EntityType, model: type[Kept]) -> list[Kept]:
        rows = await self._pool.opened().fetch(
            "select item::text as item from config_items"
            " where company_id = $1 and entity_type = $2 and not deleted order by entity_id",
            company_id,
            entity_type.value,
        )
        return [model.model_validate_json(r["item"]) for r in rows]

    async def tills(self, company_id: UUID) -> list[Pos]:
        """The company's tills, found through their shops: a till's item names its shop, not its company."""
        rows = await self._pool.opened().fetch(TILLS_SQL, company_id)
        return [Pos.model_validate_json(r["item"]) for r in rows]
