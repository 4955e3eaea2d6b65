"""The inbox: one processed-event row per (consumer group, event id), written in the effect's transaction.

A redelivered event finds its row and changes nothing; the unique key makes two concurrent deliveries of
the same event serialize on PostgreSQL, and the loser sees a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

import asyncpg

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
