"""The till's unit of work on a plain asyncpg pool: every sale passes here, so each statement is prepared once.

The back office keeps SQLAlchemy (`sql.py`); the till's requests are a few fixed statements that asyncpg
prepares once per connection and runs without a query builder in between. Both write the same tables.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.tills import BasketContent
from caisse_runtime.outbox import OutboxRow, insert_outbox
from caisse_runtime.pg import HotPool, PooledWork
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.tickets import TicketConflict
from pos_api.service_layer.ports import (
    CheckoutView,
    ClosingMark,
    DeviceCredential,
    SessionState,
    StoredBasket,
    StoredTicket,
)


def _ticket(row: asyncpg.Record) -> StoredTicket:
    return StoredTicket(
        ticket=TicketFinalizedV1.model_validate_json(row["body"], strict=False),
        content_hash=row["content_hash"],
        received_at=row["received_at"],
    )


class PgTickets:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        row = await self._conn.fetchrow(
            "select body, content_hash, received_at from tickets where pos_id = $1 and number = $2", pos_id, number
        )
        return _ticket(row) if row else None

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None:
        row = await self._conn.fetchrow(
            "select body, content_hash, received_at from tickets where id = $1 for update"
            if for_update
            else "select body, content_hash, received_at from tickets where id = $1",
            ticket_id,
        )
        return _ticket(row) if row else None

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]:
        rows = await self._conn.fetch(
            "select body, content_hash, received_at from tickets where kind = 'credit_note' and body->>'original_ticket_id' = $1",
            str(ticket_id),
        )
        return [_ticket(row) for row in rows]

    async def last_number(self, pos_id: UUID) -> int | None:
        found: int | None = await self._conn.fetchval("select max(number) from tickets where pos_id = $1", pos_id)
        return found

    async def note_number(self, pos_id: UUID, number: int, at: datetime) -> None:
        await self._conn.execute(
            """
            with filled as (
                update ticket_gaps set filled_at = $3
                where pos_id = $1 and number = $2 and filled_at is null
            )
            insert into ticket_gaps (pos_id, number, detected_at)
            select $1, missing, $3
            from generate_series(
                (select coalesce(max(number), 0) + 1 from tickets where pos_id = $1 and number < $2), $2 - 1
            ) as missing
            where not exists (select 1 from tickets where pos_id = $1 and number = missing)
            on conflict do nothing
            """,
            pos_id,
            number,
            at,
        )

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        rows = await self._conn.fetch(
            "select pos_id, number, detected_at from ticket_gaps"
            " where pos_id = any($1::uuid[]) and filled_at is null order by pos_id, number",
            pos_ids,
        )
        return [(row["pos_id"], row["number"], row["detected_at"]) for row in rows]

    async def add(self, stored: StoredTicket) -> bool:
        try:
            inserted = await self._add(stored)
        except asyncpg.UniqueViolationError:  # its id is taken: the same basket finalized under another number
            return False
        return inserted is not None

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        await self._conn.execute(
            """
            insert into ticket_conflicts (pos_id, number, attempt_sha256, existing_ticket_id, attempted_ticket_id,
                                          source, attempt, detected_at)
            values ($1, $2, $3, $4, $5, $6, $7::json, $8)
            on conflict do nothing
            """,
            conflict.pos_id,
            conflict.number,
            conflict.attempt_sha256,
            conflict.existing_ticket_id,
            conflict.attempted_ticket_id,
            conflict.source,
            json.dumps(conflict.attempt, separators=(",", ":")),
            conflict.detected_at,
        )

    async def conflicts(self, pos_ids: list[UUID]) -> list[TicketConflict]:
        rows = await self._conn.fetch(
            "select pos_id, number, existing_ticket_id, attempted_ticket_id, source, attempt, detected_at"
            " from ticket_conflicts where pos_id = any($1::uuid[]) order by detected_at, pos_id, number",
            pos_ids,
        )
        return [
            TicketConflict(
                row["pos_id"],
                row["number"],
                row["existing_ticket_id"],
                row["attempted_ticket_id"],
                row["source"],
                json.loads(row["attempt"]),
                row["detected_at"],
            )
            for row in rows
        ]

    async def _add(self, stored: StoredTicket) -> UUID | None:
        t = stored.ticket
        inserted: UUID | None = await self._conn.fetchval(
            """
            insert into tickets (id, pos_id, number, session_id, shop_id, kind, total_incl_tax, currency,
                                 finalized_at, received_at, content_hash, body)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json)
            on conflict (pos_id, number) do nothing
            returning id
            """,
            t.ticket_id,
            t.pos_id,
            t.number,
            t.session_id,
            t.shop_id,
            t.kind.value,
            t.total_incl_tax,
            t.currency,
            t.finalized_at,
            stored.received_at,
            stored.content_hash,
            t.model_dump_json(),
        )
        return inserted


SESSION_OPENED: Final = """
insert into pos_sessions (pos_id, session_id, status, opened_at, closed_at, last_ticket_number)
values ($1, $2, 'open', $3, null, null)
on conflict (pos_id) do update
set session_id = excluded.session_id, status = 'open', opened_at = excluded.opened_at,
    closed_at = null, last_ticket_number = null
where pos_sessions.opened_at <= excluded.opened_at
  and (pos_sessions.session_id <> excluded.session_id or pos_sessions.status = 'open')
"""
"""A late `session.opened` (or a retried open) never reopens the same session once it is closing or closed."""

SESSION_FOR_CLOSE: Final = (
    "select status, last_ticket_number from pos_sessions where pos_id = $1 and session_id = $2 for update"
)
"""Waits for any sale writing in the session (finalize's write locks its row shared); every later sale waits for
the close's commit and then finds the session no longer open."""

SESSION_LAST_NUMBER: Final = "select max(number) from tickets where pos_id = $1 and session_id = $2"

SESSION_CLOSING: Final = """
update pos_sessions set status = 'closing', last_ticket_number = $3
where pos_id = $1 and session_id = $2 and status in ('open', 'closing')
"""


def _session(row: asyncpg.Record) -> SessionState:
    status = row["status"]
    return SessionState(
        row["pos_id"],
        row["session_id"],
        status == "open",
        row["opened_at"],
        status == "closing",
        row["last_ticket_number"] if status == "closing" else None,
    )


class PgSessions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def of_pos(self, pos_id: UUID, *, lock: bool = False) -> SessionState | None:
        row = await self._conn.fetchrow(
            "select pos_id, session_id, status, opened_at, last_ticket_number from pos_sessions"
            " where pos_id = $1 for share"
            if lock
            else "select pos_id, session_id, status, opened_at, last_ticket_number from pos_sessions where pos_id = $1",
            pos_id,
        )
        return _session(row) if row else None

    async def opened(self, pos_id: UUID, session_id: UUID, opened_at: datetime) -> None:
        await self._conn.execute(SESSION_OPENED, pos_id, session_id, opened_at)

    async def mark_closing(self, pos_id: UUID, session_id: UUID, declared: int | None) -> ClosingMark | None:
        async with self._conn.transaction():
            row = await self._conn.fetchrow(SESSION_FOR_CLOSE, pos_id, session_id)
            if row is None:
                return None
            # a new statement, so a new snapshot: it sees the sale the lock waited for
            held = await self._conn.fetchval(SESSION_LAST_NUMBER, pos_id, session_id)
            numbers = (declared, held, row["last_ticket_number"] if row["status"] == "closing" else None)
            last = max((n for n in numbers if n is not None), default=None)
            await self._conn.execute(SESSION_CLOSING, pos_id, session_id, last)
        return ClosingMark(row["status"] == "open", last)

    async def reopen(self, pos_id: UUID, session_id: UUID) -> None:
        await self._conn.execute(
            "update pos_sessions set status = 'open', last_ticket_number = null"
            " where pos_id = $1 and session_id = $2 and status = 'closing'",
            pos_id,
            session_id,
        )

    async def closed(self, pos_id: UUID, session_id: UUID, closed_at: datetime, last_ticket_number: int | None) -> None:
        await self._conn.execute(
            "update pos_sessions set status = 'closed', closed_at = $3, last_ticket_number = $4"
            " where pos_id = $1 and session_id = $2",
            pos_id,
            session_id,
            closed_at,
            last_ticket_number,
        )


def _basket(row: asyncpg.Record) -> StoredBasket:
    return StoredBasket(
        id=row["id"],
        pos_id=row["pos_id"],
        version=row["version"],
        content=BasketContent.model_validate_json(row["content"]),
        finalized=row["status"] == "finalized",
        ticket_id=row["ticket_id"],
        updated_at=row["updated_at"],
    )


class PgBaskets:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, basket_id: UUID, *, for_update: bool = False) -> StoredBasket | None:
        row = await self._conn.fetchrow(
            "select id, pos_id, version, content, status, ticket_id, updated_at from baskets where id = $1 for update"
            if for_update
            else "select id, pos_id, version, content, status, ticket_id, updated_at from baskets where id = $1",
            basket_id,
        )
        return _basket(row) if row else None

    async def put(self, basket: StoredBasket) -> None:
        await self._conn.execute(
            """
            insert into baskets (id, pos_id, version, content, status, ticket_id, updated_at)
            values ($1, $2, $3, $4::json, $5, $6, $7)
            on conflict (id) do update
            set pos_id = excluded.pos_id, version = excluded.version, content = excluded.content,
                status = excluded.status, ticket_id = excluded.ticket_id, updated_at = excluded.updated_at
            """,
            basket.id,
            basket.pos_id,
            basket.version,
            basket.content.model_dump_json(),
            "finalized" if basket.finalized else "open",
            basket.ticket_id,
            basket.updated_at,
        )

    async def open_of_pos(self, pos_id: UUID) -> StoredBasket | None:
        row = await self._conn.fetchrow(
            "select id, pos_id, version, content, status, ticket_id, updated_at from baskets where pos_id = $1 and status = 'open'"
            " order by updated_at desc limit 1",
            pos_id,
        )
        return _basket(row) if row else None


class PgSeats:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def take(self, product_id: UUID, capacity: int, quantity: int) -> int | None:
        await self._conn.execute(
            "insert into event_seats (product_id, capacity, sold) values ($1, $2, 0) on conflict do nothing",
            product_id,
            capacity,
        )
        left: int | None = await self._conn.fetchval(
            "update event_seats set sold = sold + $3, capacity = $2"
            " where product_id = $1 and sold + $3 <= $2 returning capacity - sold",
            product_id,
            capacity,
            quantity,
        )
        return left

    async def left(self, product_id: UUID, capacity: int) -> int:
        found: int = await self._conn.fetchval(
            "select greatest($2 - coalesce((select sold from event_seats where product_id = $1), 0), 0)",
            product_id,
            capacity,
        )
        return found


class PgOutbox:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        # The row carries the writing span's trace context: the use case leaves tracing to the outbox.
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        await insert_outbox(self._conn, [row])


def _item(row: asyncpg.Record) -> StoredItem:
    return StoredItem(
        entity_type=EntityType(row["entity_type"]),
        id=row["id"],
        version=row["version"],
        hierarchy=Hierarchy(row["territory_id"], row["company_id"], row["shop_id"], row["pos_id"]),
        item=json.loads(row["item"]),
        deleted=row["deleted"],
    )


class PgConfigReader:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        row = await self._conn.fetchrow(
            "select entity_type, id, version, territory_id, company_id, shop_id, pos_id, item, deleted from config_items where id = $1 for update"
            if for_update
            else "select entity_type, id, version, territory_id, company_id, shop_id, pos_id, item, deleted from config_items where id = $1",
            entity_id,
        )
        return _item(row) if row else None

    async def list(
        self, entity_type: EntityType, *, company_id: UUID | None = None, shop_id: UUID | None = None
    ) -> list[StoredItem]:
        rows = await self._conn.fetch(
            "select entity_type, id, version, territory_id, company_id, shop_id, pos_id, item, deleted from config_items"
            " where entity_type = $1 and not deleted"
            " and ($2::uuid is null or company_id = $2) and ($3::uuid is null or shop_id = $3)"
            " order by updated_at",
            entity_type.value,
            company_id,
            shop_id,
        )
        return [_item(row) for row in rows]

    async def generation(self) -> int:
        value: int = await self._conn.fetchval("select generation from config_generation where id = 1")
        return value


class PgDeviceCredentials:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def device(self, serial: str) -> DeviceCredential | None:
        row = await self._conn.fetchrow(
            "select pos_id, serial, secret_sha256 from device_credentials where serial = $1", serial
        )
        return DeviceCredential(row["pos_id"], row["serial"], row["secret_sha256"]) if row else None


CHECKOUT_READ: Final = """
select b.id, b.pos_id, b.version, b.content, b.status, b.ticket_id, b.updated_at,
       t.body, t.content_hash, t.received_at,
       s.session_id, s.status as session_status, s.opened_at, s.last_ticket_number as awaited,
       (select max(number) from tickets where pos_id = $2) as last_number
from (select 1) as one
left join lateral (
    select id, pos_id, version, content, status, ticket_id, updated_at from baskets where id = $1 {lock}
) as b on true
left join tickets as t on t.pos_id = $2 and t.number = $3
left join pos_sessions as s on s.pos_id = $2
"""

CHECKOUT_RECORD: Final = """
with basket as (
    insert into baskets as b (id, pos_id, version, content, status, ticket_id, updated_at)
    select $20, $2, $21, $22::json, 'finalized', $1, $10
    where exists (
        select 1 from pos_sessions
        where pos_id = $2 and session_id = $4 and (status = 'open' or (status = 'closing' and $3 <= last_ticket_number))
        for share
    )
      and ($23 = 0 or exists (select 1 from baskets where id = $20))
    on conflict (id) do update
    set version = excluded.version, content = excluded.content, status = 'finalized',
        ticket_id = excluded.ticket_id, updated_at = excluded.updated_at
    where b.pos_id = excluded.pos_id and b.status = 'open' and b.version = $23
    returning id
), ticket as (
    insert into tickets (id, pos_id, number, session_id, shop_id, kind, total_incl_tax, currency,
                         finalized_at, received_at, content_hash, body)
    select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json from basket
    returning id
), event as (
    insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, traceparent, tracestate)
    select $13, 'ticket', $1::text, $14, $15, $2::text, $16::json, $17::json, $18, $19 from ticket
), filled as (
    update ticket_gaps set filled_at = $10
    where pos_id = $2 and number = $3 and filled_at is null and exists (select 1 from ticket)
), skipped as (
    insert into ticket_gaps (pos_id, number, detected_at)
    select $2, missing, $10
    from generate_series(
        (select coalesce(max(number), 0) + 1 from tickets where pos_id = $2 and number < $3), $3 - 1
    ) as missing
    where exists (select 1 from ticket) and not exists (select 1 from tickets where pos_id = $2 and number = missing)
    on conflict do nothing
)
select count(*) from ticket
"""
"""Finalize's write, guarded: the basket ends only if it is still open at the version finalize read (a new one
only if finalize expects none and nobody created it meanwhile) and the ticket's session is still the till's
open one; the ticket only if the basket ended. A number or a ticket id already taken raises, and the statement
leaves nothing behind. The session's row is locked shared for the statement: a close marking it closing
waits for the sale, or the sale, waiting for the close, finds it no longer open (a snapshot taken before the
close committed does not let it in)."""


class PgCheckout:
    """Finalize's read in one statement and its write in one statement (ticket, gaps, event, basket).

    In a transaction the read locks the basket. Without one (`PgTillWork(steps=True)`) each statement is atomic
    on its own and the write's guards stand in for the lock: a sale costs two round trips in all.
    """

    def __init__(self, conn: asyncpg.Connection, *, lock: bool) -> None:
        self._conn = conn
        self._read = CHECKOUT_READ.format(lock="for update" if lock else "")

    async def read(self, basket_id: UUID, pos_id: UUID, number: int) -> CheckoutView:
        row = await self._conn.fetchrow(self._read, basket_id, pos_id, number)
        if row is None:  # pragma: no cover - the query always answers one row
            raise RuntimeError("checkout read answered no row")
        return CheckoutView(
            basket=_basket(row) if row["id"] is not None else None,
            holder=_ticket(row) if row["body"] is not None else None,
            session=(
                SessionState(
                    pos_id,
                    row["session_id"],
                    row["session_status"] == "open",
                    row["opened_at"],
                    row["session_status"] == "closing",
                    row["awaited"] if row["session_status"] == "closing" else None,
                )
                if row["session_id"] is not None
                else None
            ),
            last_number=row["last_number"],
        )

    async def record(
        self, stored: StoredTicket, basket: StoredBasket, event: Envelope[Any], *, topic: str, expected_version: int
    ) -> bool:
        t = stored.ticket
        body = stored.body or t.model_dump_json()
        row = OutboxRow.of(  # with the writing span's trace context
            event,
            topic=topic,
            key=str(t.pos_id),
            aggregate_type="ticket",
            aggregate_id=str(t.ticket_id),
            data_json=body,
        )
        try:
            inserted: int = await self._conn.fetchval(
                CHECKOUT_RECORD,
                t.ticket_id,
                t.pos_id,
                t.number,
                t.session_id,
                t.shop_id,
                t.kind.value,
                t.total_incl_tax,
                t.currency,
                t.finalized_at,
                stored.received_at,
                stored.content_hash,
                body,
                row.id,
                row.type,
                row.topic,
                row.payload,
                row.headers,
                row.traceparent,
                row.tracestate,
                basket.id,
                basket.version,
                basket.content.model_dump_json(),
                expected_version,
            )
        except asyncpg.UniqueViolationError:  # the number is taken, or the basket's id is already a ticket
            return False
        return inserted == 1


class PgTillWork(PooledWork):
    """One transaction on one connection of the pool; leaving without `commit()` rolls it back.

    With `steps=True` there is no transaction: each statement commits on its own and `commit()` has nothing
    left to do. For use cases whose writes are each one guarded statement (finalize), that saves the BEGIN
    and COMMIT round trips and holds no lock while Python computes.
    """

    tickets: PgTickets
    sessions: PgSessions
    baskets: PgBaskets
    seats: PgSeats
    outbox: PgOutbox
    config: PgConfigReader
    credentials: PgDeviceCredentials
    checkout: PgCheckout

    def __init__(self, pool: asyncpg.Pool, *, steps: bool = False) -> None:
        super().__init__(pool, begin_on_entry=not steps)
        self._steps = steps

    def bind(self, conn: asyncpg.Connection) -> None:
        self.tickets = PgTickets(conn)
        self.sessions = PgSessions(conn)
        self.baskets = PgBaskets(conn)
        self.seats = PgSeats(conn)
        self.outbox = PgOutbox(conn)
        self.config = PgConfigReader(conn)
        self.credentials = PgDeviceCredentials(conn)
        self.checkout = PgCheckout(conn, lock=not self._steps)


class TillPool(HotPool):
    """The asyncpg pool of the till's units of work, opened when the service starts and closed when it stops."""

    def __init__(self, dsn: str, *, size: int = 20) -> None:
        super().__init__(dsn, size=size, what="till's")

    def work(self) -> PgTillWork:
        return PgTillWork(self.opened())

    def steps(self) -> PgTillWork:
        return PgTillWork(self.opened(), steps=True)
