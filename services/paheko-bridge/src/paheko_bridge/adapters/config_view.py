"""The bridge's view of the configuration: the newest version of each company, category, shop, till and operator (what
Paheko's books name), from `config.changed`.

The topic is compacted and keyed by entity, so a view rebuilt from the beginning sees each entity's latest
version; an older or equal version never overwrites a newer one, so a replay changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from caisse_contracts.config import Category, Company, Pos, Shop
from caisse_contracts.events import ConfigChangedV1, EntityType

Kept = TypeVar("Kept", Category, Shop)

KEPT = (
    EntityType.TERRITORY,
    EntityType.COMPANY,
    EntityType.CATEGORY,
    EntityType.SHOP,
    EntityType.POS,
    EntityType.OPERATOR,
)


class SqlConfigView:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
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
        kept = 0
        async with self._engine.begin() as conn:
            for change in newest.values():
                company = (
                    change.entity_id if change.entity_type is EntityType.COMPANY else change.item.get("company_id")
                )
                result = await conn.execute(
                    text(
                        "insert into config_items (entity_id, entity_type, version, deleted, company_id, item)"
                        " values (:id, :type, :version, :deleted, :company, cast(:item as jsonb))"
                        " on conflict (entity_id) do update set version = excluded.version,"
                        " deleted = excluded.deleted, company_id = excluded.company_id, item = excluded.item,"
                        " received_at = now() where config_items.version < excluded.version returning entity_id"
                    ),
                    {
                        "id": change.entity_id,
                        "type": change.entity_type.value,
                        "version": change.version,
                        "deleted": change.deleted,
                        "company": company,
                        "item": json.dumps(change.item),
                    },
                )
                kept += len(result.all())
        if kept:
            self.generation += 1
        return kept

    async def company(self, company_id: UUID) -> Company | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "select item::text as item from config_items"
                        " where entity_id = :id and entity_type = 'company' and not deleted"
                    ),
                    {"id": company_id},
                )
            ).first()
        return Company.model_validate_json(row.item) if row else None

    async def timezone_of(self, company: Company) -> str:
        """The time zone of the company's territory (its business days), Europe/Paris until the territory is known."""
        return await self.territory_timezone(company) or "Europe/Paris"

    async def territory_timezone(self, company: Company) -> str | None:
        """The time zone of the company's territory, None while the view has not seen the territory: each entity
        has its own key, so a company's change can arrive before its territory's."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    text(
                        "select item->>'timezone' from config_items where entity_id = :id and entity_type = 'territory'"
                    ),
                    {"id": company.territory_id},
                )
            ).scalar_one_or_none()
        return str(found) if found else None

    async def item(self, entity_id: UUID) -> dict[str, Any] | None:
        """The newest version of any kept item (a shop, a till, an operator…), None when unknown or deleted."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    text("select item::text from config_items where entity_id = :id and not deleted"),
                    {"id": entity_id},
                )
            ).scalar_one_or_none()
        return dict(json.loads(found)) if found else None

    async def categories(self, company_id: UUID) -> list[Category]:
        return await self._of_company(company_id, EntityType.CATEGORY, Category)

    async def shops(self, company_id: UUID) -> list[Shop]:
        return await self._of_company(company_id, EntityType.SHOP, Shop)

    async def _of_company(self, company_id: UUID, entity_type: EntityType, model: type[Kept]) -> list[Kept]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select item::text as item from config_items"
                    " where company_id = :id and entity_type = :type and not deleted order by entity_id"
                ),
                {"id": company_id, "type": entity_type.value},
            )
            return [model.model_validate_json(r.item) for r in rows]

    async def tills(self, company_id: UUID) -> list[Pos]:
        """The company's tills, found through their shops: a till's item names its shop, not its company."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select till.item::text as item from config_items till"
                    " join config_items shop on shop.entity_id = cast(till.item->>'shop_id' as uuid)"
                    " where shop.company_id = :id and shop.entity_type = 'shop'"
                    " and till.entity_type = 'pos' and not till.deleted order by till.entity_id"
                ),
                {"id": company_id},
            )
            return [Pos.model_validate_json(r.item) for r in rows]
