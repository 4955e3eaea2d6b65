"""The inbox: one processed-event row per (consumer group, event id), written in the effect's transaction.

A redelivered event finds its row and changes nothing; the unique key makes two concurrent deliveries of
the same event serialize on PostgreSQL, and the loser sees a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

import asyncpg
from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

inbox_table = Table(
    "inbox",
    metadata,
    Column("consumer_group", Text, primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


async def claim(conn: AsyncConnection, group: str, event_id: UUID, event_type: str) -> bool:
    """True when this event is new for `group` (go on and apply it), False for a duplicate (do nothing)."""
    stmt = (
        insert(inbox_table)
        .values(consumer_group=group, event_id=event_id, event_type=event_type)
        .on_conflict_do_nothing()
        .returning(inbox_table.c.event_id)
    )
    return (await conn.execute(stmt)).first() is not None


CLAIM_MANY: Final = text(
    """
    insert into inbox (consumer_group, event_id, event_type)
    select :group, e.event_id, e.event_type
    from unnest(cast(:event_ids as uuid[]), cast(:event_types as text[])) as e (event_id, event_type)
    on conflict do nothing
    returning event_id
    """
)


class SqlInbox:
    """The inbox of one consumer group, bound to the connection of a unit of work."""

    def __init__(self, conn: AsyncConnection, group: str) -> None:
        self._conn = conn
        self._group = group

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        return await claim(self._conn, self._group, event_id, event_type)

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        """The ids among `events` that are new for the group (claimed now), in one statement."""
        unique = dict(events)
        if not unique:
            return set()
        result = await self._conn.execute(
            CLAIM_MANY, {"group": self._group, "event_ids": list(unique), "event_types": list(unique.values())}
        )
        return {row.event_id for row in result}


CLAIM_SQL: Final = """
insert into inbox (consumer_group, event_id, event_type)
select $1, e.event_id, e.event_type from unnest($2::uuid[], $3::text[]) as e (event_id, event_type)
on conflict do nothing
returning event_id
"""


async def claim_events(conn: asyncpg.Connection, group: str, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
    """The ids among `events` (id, type) that are new for `group`, claimed now in the caller's transaction; a
    redelivered event is not among them. One statement, whatever their number."""
    unique = dict(events)
    if not unique:
        return set()
    rows = await conn.fetch(CLAIM_SQL, group, list(unique), list(unique.values()))
    return {row[0] for row in rows}
