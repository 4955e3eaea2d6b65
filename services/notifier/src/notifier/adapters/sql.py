"""The notifier's database on asyncpg: the configuration it rebuilt, its change log, the tills' presence, the
outbox of `till.presence` and the stream tokens verified."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, PatchOperationV1
from caisse_contracts.stream import StreamClaims
from caisse_contracts.topics import PRESENCE
from caisse_runtime.outbox import OutboxRow, insert_outbox
from caisse_runtime.pg import HotPool
from notifier.domain.placement import Placement
from notifier.service_layer.ports import Saved, TillRow, TillsOf
from notifier.service_layer.state import ChangeRecord, Entity

LOAD_ENTITIES: Final = """
    select entity_type, entity_id, version, deleted, item::text, territory_id, company_id, shop_id, pos_id, position
    from config_entities
"""
LOAD_LOG: Final = """
    select position, entity_type, entity_id, from_version, version, deleted, patch::text,
        territory_id, company_id, shop_id, pos_id,
        had_before, before_territory_id, before_company_id, before_shop_id, before_pos_id
    from (select * from config_changes order by position desc limit $1) as newest
    order by position
"""
HORIZON: Final = "select horizon from config_log where id = 1"
SAVE_ENTITIES: Final = """
    insert into config_entities as e
        (entity_type, entity_id, version, deleted, item, territory_id, company_id, shop_id, pos_id, position)
    select * from unnest($1::text[], $2::uuid[], $3::int[], $4::bool[], $5::jsonb[], $6::uuid[], $7::uuid[],
        $8::uuid[], $9::uuid[], $10::bigint[])
    on conflict (entity_type, entity_id) do update set
        version = excluded.version, deleted = excluded.deleted, item = excluded.item,
        territory_id = excluded.territory_id, company_id = excluded.company_id, shop_id = excluded.shop_id,
        pos_id = excluded.pos_id, position = excluded.position
    where e.position < excluded.position
"""
SAVE_CHANGES: Final = """
    insert into config_changes (position, entity_type, entity_id, from_version, version, deleted, patch,
        territory_id, company_id, shop_id, pos_id,
        had_before, before_territory_id, before_company_id, before_shop_id, before_pos_id)
    select * from unnest($1::bigint[], $2::text[], $3::uuid[], $4::int[], $5::int[], $6::bool[], $7::jsonb[],
        $8::uuid[], $9::uuid[], $10::uuid[], $11::uuid[],
        $12::bool[], $13::uuid[], $14::uuid[], $15::uuid[], $16::uuid[])
    on conflict (position) do nothing
"""
FORGET: Final = """
    with gone as (
        delete from config_changes
        where position <= (select max(position) from config_changes) - $1
        returning position
    )
    update config_log set horizon = greatest(horizon, (select max(position) from gone))
    where id = 1 and exists (select 1 from gone)
"""
TILL_COLUMNS: Final = """pos_id, territory_id, company_id, shop_id, notifier, connection_id, connected, connected_at,
    disconnected_at, last_seen_at, acked_position, close_code"""
SAVE_TILLS: Final = f"""
    insert into tills as t ({TILL_COLUMNS})
    select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::bool[],
        $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::int[])
    on conflict (pos_id) do update set
        territory_id = excluded.territory_id, company_id = excluded.company_id, shop_id = excluded.shop_id,
        notifier = excluded.notifier, connection_id = excluded.connection_id, connected = excluded.connected,
        connected_at = excluded.connected_at, disconnected_at = excluded.disconnected_at,
        last_seen_at = excluded.last_seen_at, acked_position = excluded.acked_position,
        close_code = excluded.close_code
    where t.connection_id = excluded.connection_id or t.connected_at <= excluded.connected_at
"""  # noqa: S608
"""A replica's late word on an older connection never overwrites a newer connection of the same till."""
REMEMBERED_TOKENS: Final = "select digest, claims::text from verified_tokens where expires_at >= to_timestamp($1)"
REMEMBER_TOKENS: Final = """
    insert into verified_tokens (digest, claims, expires_at)
    select d, c, to_timestamp(e) from unnest($1::bytea[], $2::jsonb[], $3::float8[]) as t(d, c, e)
    on conflict (digest) do nothing
"""
FORGET_TOKENS: Final = "delete from verified_tokens where expires_at < to_timestamp($1)"
SEEN: Final = "update tills set last_seen_at = $2 where notifier = $1 and connected and last_seen_at < $2"
LIST_TILLS: Final = f"""
    select {TILL_COLUMNS} from tills
    where ($1::uuid is null or shop_id = $1) and ($2::uuid is null or company_id = $2)
    order by shop_id, pos_id
    limit $3
"""  # noqa: S608


def _placement(row: asyncpg.Record, prefix: str = "") -> Placement:
    return Placement(
        row[f"{prefix}territory_id"], row[f"{prefix}company_id"], row[f"{prefix}shop_id"], row[f"{prefix}pos_id"]
    )


def _patch(text: str) -> tuple[PatchOperationV1, ...]:
    return tuple(PatchOperationV1.model_validate(op) for op in json.loads(text))


class NotifierDatabase(HotPool):
    """The notifier's pool and its statements."""

    async def load(self, keep: int) -> Saved:
        async with self.opened().acquire() as conn:
            entities = [
                Entity(
                    EntityType(r["entity_type"]),
                    r["entity_id"],
                    r["version"],
                    r["deleted"],
                    json.loads(r["item"]),
                    _placement(r),
                    r["position"],
                )
                for r in await conn.fetch(LOAD_ENTITIES)
            ]
            log = [
                ChangeRecord(
                    position=r["position"],
                    entity_type=EntityType(r["entity_type"]),
                    entity_id=r["entity_id"],
                    from_version=r["from_version"],
                    version=r["version"],
                    deleted=r["deleted"],
                    patch=_patch(r["patch"]),
                    placement=_placement(r),
                    before=_placement(r, "before_") if r["had_before"] else None,
                )
                for r in await conn.fetch(LOAD_LOG, keep)
            ]
            horizon: int = await conn.fetchval(HORIZON)
        return Saved(entities, log, horizon)

    async def save(self, entities: Sequence[Entity], records: Sequence[ChangeRecord], keep: int) -> None:
        if not records:
            return
        async with self.opened().acquire() as conn, conn.transaction():
            await conn.execute(
                SAVE_ENTITIES,
                [e.entity_type.value for e in entities],
                [e.entity_id for e in entities],
                [e.version for e in entities],
                [e.deleted for e in entities],
                [json.dumps(e.item) for e in entities],
                [e.placement.territory_id for e in entities],
                [e.placement.company_id for e in entities],
                [e.placement.shop_id for e in entities],
                [e.placement.pos_id for e in entities],
                [e.position for e in entities],
            )
            before = [r.before or Placement() for r in records]
            await conn.execute(
                SAVE_CHANGES,
                [r.position for r in records],
                [r.entity_type.value for r in records],
                [r.entity_id for r in records],
                [r.from_version for r in records],
                [r.version for r in records],
                [r.deleted for r in records],
                [json.dumps([op.model_dump() for op in r.patch]) for r in records],
                [r.placement.territory_id for r in records],
                [r.placement.company_id for r in records],
                [r.placement.shop_id for r in records],
                [r.placement.pos_id for r in records],
                [r.before is not None for r in records],
                [b.territory_id for b in before],
                [b.company_id for b in before],
                [b.shop_id for b in before],
                [b.pos_id for b in before],
            )
            await conn.execute(FORGET, keep)

    async def save_presence(self, rows: Sequence[TillRow], events: Sequence[Envelope[Any]]) -> None:
        if not rows and not events:
            return
        async with self.opened().acquire() as conn, conn.transaction():
            if rows:
                await conn.execute(
                    SAVE_TILLS,
                    *(
                        [getattr(r, column) for r in rows]
                        for column in (
                            "pos_id",
                            "territory_id",
                            "company_id",
                            "shop_id",
                            "notifier",
                            "connection_id",
                            "connected",
                            "connected_at",
                            "disconnected_at",
                            "last_seen_at",
                            "acked_position",
                            "close_code",
                        )
                    ),
                )
            await insert_outbox(
                conn,
                [
                    OutboxRow.of(
                        e,
                        topic=PRESENCE.name,
                        key=str(e.data.pos_id),
                        aggregate_type="till",
                        aggregate_id=str(e.data.pos_id),
                    )
                    for e in events
                ],
            )

    async def remembered(self, now: float) -> list[tuple[bytes, StreamClaims]]:
        rows = await self.opened().fetch(REMEMBERED_TOKENS, now)
        return [(bytes(r["digest"]), StreamClaims.model_validate_json(r["claims"])) for r in rows]

    async def remember(self, tokens: Sequence[tuple[bytes, StreamClaims]], expired_before: float) -> None:
        async with self.opened().acquire() as conn, conn.transaction():
            if tokens:
                await conn.execute(
                    REMEMBER_TOKENS,
                    [d for d, _ in tokens],
                    [c.model_dump_json() for _, c in tokens],
                    [float(c.exp) for _, c in tokens],
                )
            await conn.execute(FORGET_TOKENS, expired_before)

    async def seen(self, notifier: str, at: datetime) -> None:
        await self.opened().execute(SEEN, notifier, at)

    async def tills(self, of: TillsOf) -> list[TillRow]:
        rows = await self.opened().fetch(LIST_TILLS, of.shop_id, of.company_id, of.limit)
        return [TillRow(**dict(r.items())) for r in rows]
