"""pos-api's ports on PostgreSQL, through asyncpg: each statement is prepared once per connection of the pool.

One unit of work serves the till's requests, the back office and the consumers: one transaction on one pooled
connection, or (`SqlPool.steps`) statements each atomic on its own, for a use case whose every write is one
guarded statement. The rules (the numbers a ticket skips, what an outbox row holds) are computed in Python,
by the domain and the runtime; the statements here only store what they computed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Any, Final, NamedTuple
from uuid import UUID

import asyncpg

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, StockReason, TicketFinalizedV1
from caisse_contracts.till_reports import NumberingRelease, TillReport
from caisse_contracts.tills import BasketContent
from caisse_contracts.topics import POS_API_SESSIONS
from caisse_runtime.inbox import claim_events
from caisse_runtime.outbox import OUTBOX_COLUMNS, OutboxRow, insert_outbox
from caisse_runtime.pg import HotPool, PooledWork
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.errors import TicketConflict
from pos_api.domain.stock import DocumentType, LevelChange, StockMovement, StockRule
from pos_api.domain.tickets import TicketGaps, gaps_of
from pos_api.service_layer.ports import (
    CheckoutView,
    ClosingMark,
    DeviceCredential,
    MovementFilter,
    PinState,
    ReceivedReport,
    SessionState,
    StockDocument,
    StockLevel,
    StoredBasket,
    StoredTicket,
)

BOOTSTRAP_LOCK: Final = zlib.crc32(b"pos-api:bootstrap-admin")
"""The advisory lock under which a starting process creates the bootstrap admin."""


def numbered(sql: str, names: Sequence[str]) -> str:
    """`sql` with each `:name` in it written as asyncpg's `$n`, `n` being the place of `name` among `names` (the
    fields of the row the statement takes, in their order): a name the row lacks fails as the module loads."""
    places = {name: f"${i}" for i, name in enumerate(names, 1)}
    return re.sub(r"(?<![:\w]):(\w+)", lambda found: places[found[1]], sql)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _atomic(conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
    """The unit of work's transaction when there is one; a transaction of its own otherwise (`steps`)."""
    return nullcontext() if conn.is_in_transaction() else conn.transaction()


class TicketRow(NamedTuple):
    """A row of `tickets`: the fields the statements below name, in the order they number them."""

    id: UUID
    pos_id: UUID
    number: int
    session_id: UUID
    shop_id: UUID
    kind: str
    total_incl_tax: int
    currency: str
    finalized_at: datetime
    received_at: datetime
    content_hash: str
    body: str

    @classmethod
    def of(cls, stored: StoredTicket) -> TicketRow:
        t = stored.ticket
        return cls(
            id=t.ticket_id,
            pos_id=t.pos_id,
            number=t.number,
            session_id=t.session_id,
            shop_id=t.shop_id,
            kind=t.kind.value,
            total_incl_tax=t.total_incl_tax,
            currency=t.currency,
            finalized_at=t.finalized_at,
            received_at=stored.received_at,
            content_hash=stored.content_hash,
            body=stored.body or t.model_dump_json(),
        )


class BasketRow(NamedTuple):
    """A row of `baskets`."""

    id: UUID
    pos_id: UUID
    version: int
    content: str
    status: str
    ticket_id: UUID | None
    updated_at: datetime

    @classmethod
    def of(cls, basket: StoredBasket) -> BasketRow:
        return cls(
            id=basket.id,
            pos_id=basket.pos_id,
            version=basket.version,
            content=basket.content.model_dump_json(),
            status="finalized" if basket.finalized else "open",
            ticket_id=basket.ticket_id,
            updated_at=basket.updated_at,
        )


class ConflictRow(NamedTuple):
    """A row of `ticket_conflicts`."""

    pos_id: UUID
    number: int
    attempt_sha256: str
    existing_ticket_id: UUID
    attempted_ticket_id: UUID
    source: str
    attempt: str
    detected_at: datetime

    @classmethod
    def of(cls, conflict: TicketConflict) -> ConflictRow:
        return cls(
            pos_id=conflict.pos_id,
            number=conflict.number,
            attempt_sha256=conflict.attempt_sha256,
            existing_ticket_id=conflict.existing_ticket_id,
            attempted_ticket_id=conflict.attempted_ticket_id,
            source=conflict.source,
            attempt=_json(conflict.attempt),
            detected_at=conflict.detected_at,
        )


class ConfigItemRow(NamedTuple):
    """A row of `config_items`, with the patch its history row keeps beside it."""

    id: UUID
    entity_type: str
    version: int
    territory_id: UUID | None
    company_id: UUID | None
    shop_id: UUID | None
    pos_id: UUID | None
    item: str
    deleted: bool
    updated_by: UUID | None
    updated_at: datetime
    patch: str


TICKET_BY_NUMBER: Final = "select body, content_hash, received_at from tickets where pos_id = $1 and number = $2"
TICKET_BY_ID: Final = "select body, content_hash, received_at from tickets where id = $1"
TICKET_BY_ID_LOCKED: Final = TICKET_BY_ID + " for update"
CREDIT_NOTES_OF: Final = (
    "select body, content_hash, received_at from tickets"
    " where kind = 'credit_note' and body->>'original_ticket_id' = $1 order by received_at"
)

TICKET_ADD: Final = numbered(
    """
    insert into tickets (id, pos_id, number, session_id, shop_id, kind, total_incl_tax, currency,
                         finalized_at, received_at, content_hash, body)
    values (:id, :pos_id, :number, :session_id, :shop_id, :kind, :total_incl_tax, :currency,
            :finalized_at, :received_at, :content_hash, :body::json)
    on conflict do nothing
    returning id
    """,
    TicketRow._fields,
)
"""Nothing written when the till already used the number or the ticket's id is already a ticket."""

GAP_CLOSED: Final = """
update ticket_gaps set filled_at = :received_at
where pos_id = :pos_id and number = :number and filled_at is null {when}
"""

GAPS_OPENED: Final = """
insert into ticket_gaps (pos_id, number, detected_at)
select :pos_id, missing, :received_at from unnest(:gaps::int[]) as missing
where not exists (select 1 from tickets where pos_id = :pos_id and number = missing) {when}
on conflict do nothing
"""
"""A ticket's `TicketGaps` stored: the gap of its number closed, the numbers it skips opened. A number read as
free may have been taken since (by a sale of another process): a ticket's number is never a gap."""

TICKET_GAPS: Final = numbered(
    f"with closed as ({GAP_CLOSED.format(when='')}) {GAPS_OPENED.format(when='')}",
    ("pos_id", "number", "received_at", "gaps"),
)


def _ticket(row: asyncpg.Record) -> StoredTicket:
    return StoredTicket(
        ticket=TicketFinalizedV1.model_validate_json(row["body"], strict=False),
        content_hash=row["content_hash"],
        received_at=row["received_at"],
    )


class SqlTickets:
    """The tickets, their gaps and the conflicts kept aside."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        row = await self._conn.fetchrow(TICKET_BY_NUMBER, pos_id, number)
        return _ticket(row) if row else None

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None:
        row = await self._conn.fetchrow(TICKET_BY_ID_LOCKED if for_update else TICKET_BY_ID, ticket_id)
        return _ticket(row) if row else None

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]:
        rows = await self._conn.fetch(CREDIT_NOTES_OF, str(ticket_id))
        return [_ticket(row) for row in rows]

    async def last_number(self, pos_id: UUID) -> int | None:
        found: int | None = await self._conn.fetchval("select max(number) from tickets where pos_id = $1", pos_id)
        return found

    async def last_numbers(self, pos_ids: list[UUID]) -> dict[UUID, int]:
        rows = await self._conn.fetch(
            "select p.id, (select max(number) from tickets t where t.pos_id = p.id) as last"
            " from unnest($1::uuid[]) as p (id)",
            pos_ids,
        )
        return {row["id"]: row["last"] for row in rows if row["last"] is not None}

    async def note_gaps(self, pos_id: UUID, gaps: TicketGaps, at: datetime) -> None:
        await self._conn.execute(TICKET_GAPS, pos_id, gaps.closed, at, list(gaps.opened))

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        rows = await self._conn.fetch(
            "select pos_id, number, detected_at from ticket_gaps"
            " where pos_id = any($1::uuid[]) and filled_at is null order by pos_id, number",
            pos_ids,
        )
        return [(row["pos_id"], row["number"], row["detected_at"]) for row in rows]

    async def add(self, stored: StoredTicket) -> bool:
        return await self._conn.fetchval(TICKET_ADD, *TicketRow.of(stored)) is not None

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        await self._conn.execute(CONFLICT_KEPT, *ConflictRow.of(conflict))

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

    async def matching(self, pos_id: UUID, numbers: list[int], ticket_ids: list[UUID]) -> list[StoredTicket]:
        rows = await self._conn.fetch(TICKETS_MATCHING, pos_id, numbers, ticket_ids)
        return [_ticket(row) for row in rows]


TICKETS_MATCHING: Final = (
    "select body, content_hash, received_at from tickets where pos_id = $1 and number = any($2::int[])"
    " union all"
    " select body, content_hash, received_at from tickets where id = any($3::uuid[])"
    " and not (pos_id = $1 and number = any($2::int[]))"
)
"""Two index reads (the till's numbers, the ids) rather than one scan: each ticket once."""


CONFLICT_KEPT: Final = numbered(
    """
    insert into ticket_conflicts (pos_id, number, attempt_sha256, existing_ticket_id, attempted_ticket_id,
                                  source, attempt, detected_at)
    values (:pos_id, :number, :attempt_sha256, :existing_ticket_id, :attempted_ticket_id,
            :source, :attempt::json, :detected_at)
    on conflict do nothing
    """,
    ConflictRow._fields,
)

SESSION_OF_POS: Final = (
    "select pos_id, session_id, status, opened_at, last_ticket_number from pos_sessions where pos_id = $1"
)
SESSION_OF_POS_SHARED: Final = SESSION_OF_POS + " for share"

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
the close's commit and then finds the session no longer as it read it."""

SESSION_LAST_NUMBER: Final = "select max(number) from tickets where pos_id = $1 and session_id = $2"

SESSION_CLOSING: Final = """
update pos_sessions set status = 'closing', last_ticket_number = $3
where pos_id = $1 and session_id = $2 and status in ('open', 'closing')
"""


def _session(
    pos_id: UUID, session_id: UUID, status: str, opened_at: datetime, last_ticket_number: int | None
) -> SessionState:
    return SessionState(
        pos_id,
        session_id,
        status == "open",
        opened_at,
        status == "closing",
        last_ticket_number if status == "closing" else None,
    )


def _status(session: SessionState) -> str:
    """The `pos_sessions.status` of a session as `_session` reads it back."""
    return "open" if session.is_open else "closing" if session.closing else "closed"


class SqlSessions:
    """The read model of each till's cash session."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def of_pos(self, pos_id: UUID, *, lock: bool = False) -> SessionState | None:
        row = await self._conn.fetchrow(SESSION_OF_POS_SHARED if lock else SESSION_OF_POS, pos_id)
        return _session(*row) if row else None

    async def opened(self, pos_id: UUID, session_id: UUID, opened_at: datetime) -> None:
        await self._conn.execute(SESSION_OPENED, pos_id, session_id, opened_at)

    async def mark_closing(self, pos_id: UUID, session_id: UUID, declared: int | None) -> ClosingMark | None:
        async with _atomic(self._conn):
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


BASKET_GET: Final = "select id, pos_id, version, content, status, ticket_id, updated_at from baskets where id = $1"
BASKET_GET_LOCKED: Final = BASKET_GET + " for update"
BASKET_OPEN_OF_POS: Final = (
    "select id, pos_id, version, content, status, ticket_id, updated_at from baskets"
    " where pos_id = $1 and status = 'open' order by updated_at desc limit 1"
)

BASKET_PUT: Final = numbered(
    """
    insert into baskets (id, pos_id, version, content, status, ticket_id, updated_at)
    values (:id, :pos_id, :version, :content::json, :status, :ticket_id, :updated_at)
    on conflict (id) do update
    set pos_id = excluded.pos_id, version = excluded.version, content = excluded.content,
        status = excluded.status, ticket_id = excluded.ticket_id, updated_at = excluded.updated_at
    """,
    BasketRow._fields,
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


class SqlBaskets:
    """The tills' baskets, open or finalized."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, basket_id: UUID, *, for_update: bool = False) -> StoredBasket | None:
        row = await self._conn.fetchrow(BASKET_GET_LOCKED if for_update else BASKET_GET, basket_id)
        return _basket(row) if row else None

    async def put(self, basket: StoredBasket) -> None:
        await self._conn.execute(BASKET_PUT, *BasketRow.of(basket))

    async def open_of_pos(self, pos_id: UUID) -> StoredBasket | None:
        row = await self._conn.fetchrow(BASKET_OPEN_OF_POS, pos_id)
        return _basket(row) if row else None


class SqlSeats:
    """The seats sold of each event with a capacity."""

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


class SqlOutbox:
    """pos-api's outbox: one `OutboxRow` per event, in the unit of work's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        await insert_outbox(self._conn, [row])


class SqlInbox:
    """The inbox of pos-api's consumer group (`session.opened` and `session.closed`)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        return event_id in await claim_events(self._conn, POS_API_SESSIONS.name, [(event_id, event_type)])


ITEM_GET: Final = (
    "select entity_type, id, version, territory_id, company_id, shop_id, pos_id, item, deleted"
    " from config_items where id = $1"
)
ITEM_GET_LOCKED: Final = ITEM_GET + " for update"
ITEM_LIST: Final = (
    "select entity_type, id, version, territory_id, company_id, shop_id, pos_id, item, deleted from config_items"
    " where entity_type = $1 and not deleted"
    " and ($2::uuid is null or company_id = $2) and ($3::uuid is null or shop_id = $3)"
    " order by updated_at"
)

ITEM_PUT: Final = numbered(
    """
    with item as (
        insert into config_items (id, entity_type, version, territory_id, company_id, shop_id, pos_id, item,
                                  deleted, updated_by, updated_at)
        values (:id, :entity_type, :version, :territory_id, :company_id, :shop_id, :pos_id, :item::jsonb,
                :deleted, :updated_by, :updated_at)
        on conflict (id) do update
        set entity_type = excluded.entity_type, version = excluded.version, territory_id = excluded.territory_id,
            company_id = excluded.company_id, shop_id = excluded.shop_id, pos_id = excluded.pos_id,
            item = excluded.item, deleted = excluded.deleted, updated_by = excluded.updated_by,
            updated_at = excluded.updated_at
    )
    insert into config_history (id, version, entity_type, item, patch, deleted, changed_by, changed_at)
    values (:id, :version, :entity_type, :item::jsonb, :patch::jsonb, :deleted, :updated_by, :updated_at)
    """,
    ConfigItemRow._fields,
)
"""The item as it now is, and the same version in its history, in one statement."""


def _item(row: asyncpg.Record) -> StoredItem:
    return StoredItem(
        entity_type=EntityType(row["entity_type"]),
        id=row["id"],
        version=row["version"],
        hierarchy=Hierarchy(row["territory_id"], row["company_id"], row["shop_id"], row["pos_id"]),
        item=json.loads(row["item"]),
        deleted=row["deleted"],
    )


class SqlConfigItems:
    """The configuration items, their history and the generation that names their state."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        row = await self._conn.fetchrow(ITEM_GET_LOCKED if for_update else ITEM_GET, entity_id)
        return _item(row) if row else None

    async def put(
        self, stored: StoredItem, *, patch: list[dict[str, Any]], changed_by: UUID | None, changed_at: datetime
    ) -> None:
        h = stored.hierarchy
        row = ConfigItemRow(
            id=stored.id,
            entity_type=stored.entity_type.value,
            version=stored.version,
            territory_id=h.territory_id,
            company_id=h.company_id,
            shop_id=h.shop_id,
            pos_id=h.pos_id,
            item=_json(stored.item),
            deleted=stored.deleted,
            updated_by=changed_by,
            updated_at=changed_at,
            patch=_json(patch),
        )
        await self._conn.execute(ITEM_PUT, *row)

    async def list(
        self, entity_type: EntityType, *, company_id: UUID | None = None, shop_id: UUID | None = None
    ) -> list[StoredItem]:
        rows = await self._conn.fetch(
            ITEM_LIST,
            entity_type.value,
            company_id,
            shop_id,
        )
        return [_item(row) for row in rows]

    async def generation(self) -> int:
        value: int = await self._conn.fetchval("select generation from config_generation where id = 1")
        return value

    async def versions(self, refs: Sequence[tuple[UUID, int]]) -> Sequence[StoredItem]:
        rows = await self._conn.fetch(ITEM_VERSIONS, [r[0] for r in refs], [r[1] for r in refs])
        return [_item(row) for row in rows]


ITEM_VERSIONS: Final = """
select h.entity_type, h.id, h.version, h.item, h.deleted,
       i.territory_id, i.company_id, i.shop_id, i.pos_id
from unnest($1::uuid[], $2::int[]) as wanted (id, version)
join config_history as h on h.id = wanted.id and h.version = wanted.version
left join config_items as i on i.id = h.id
"""
"""Versions by their primary key. The history keeps no hierarchy keys: an item's are its current ones, which
only a move changes, and the items a sale is priced with (a territory, a company, its catalogue) never move."""


class SqlCredentials:
    """Device secrets, operator tokens and PINs, and the companies' sealed Paheko credentials."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def device(self, serial: str) -> DeviceCredential | None:
        row = await self._conn.fetchrow(
            "select pos_id, serial, secret_sha256 from device_credentials where serial = $1", serial
        )
        return DeviceCredential(row["pos_id"], row["serial"], row["secret_sha256"]) if row else None

    async def set_device(self, pos_id: UUID, serial: str, secret_sha256: str, at: datetime) -> None:
        await self._conn.execute(
            "insert into device_credentials (pos_id, serial, secret_sha256, rotated_at) values ($1, $2, $3, $4)"
            " on conflict (pos_id) do update"
            " set serial = excluded.serial, secret_sha256 = excluded.secret_sha256, rotated_at = excluded.rotated_at",
            pos_id,
            serial,
            secret_sha256,
            at,
        )

    async def operator_for_token(self, token_sha256: str) -> UUID | None:
        found: UUID | None = await self._conn.fetchval(
            "select operator_id from operator_credentials where token_sha256 = $1", token_sha256
        )
        return found

    async def set_operator_token(self, operator_id: UUID, token_sha256: str, at: datetime) -> None:
        await self._conn.execute(
            "insert into operator_credentials (operator_id, token_sha256, created_at) values ($1, $2, $3)"
            " on conflict (operator_id) do update set token_sha256 = excluded.token_sha256",
            operator_id,
            token_sha256,
            at,
        )

    async def hold_bootstrap(self) -> None:
        await self._conn.execute("select pg_advisory_xact_lock($1)", BOOTSTRAP_LOCK)

    async def set_paheko(self, company_id: UUID, user: str, password_encrypted: str, at: datetime) -> None:
        await self._conn.execute(
            "insert into company_secrets (company_id, paheko_api_user, paheko_api_password_encrypted, updated_at)"
            " values ($1, $2, $3, $4) on conflict (company_id) do update"
            " set paheko_api_user = excluded.paheko_api_user,"
            " paheko_api_password_encrypted = excluded.paheko_api_password_encrypted, updated_at = excluded.updated_at",
            company_id,
            user,
            password_encrypted,
            at,
        )

    async def set_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None:
        await self._conn.execute(
            "insert into operator_credentials (operator_id, pin_hash, failed_pins, locked_until, created_at)"
            " values ($1, $2, 0, null, $3) on conflict (operator_id) do update"
            " set pin_hash = excluded.pin_hash, failed_pins = 0, locked_until = null",
            operator_id,
            pin_hash,
            at,
        )

    async def pin_state(self, operator_id: UUID) -> PinState | None:
        row = await self._conn.fetchrow(
            "select pin_hash, failed_pins, locked_until from operator_credentials where operator_id = $1 for update",
            operator_id,
        )
        return PinState(row["pin_hash"], row["failed_pins"], row["locked_until"]) if row else None

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None:
        await self._conn.execute(
            "update operator_credentials set failed_pins = $2, locked_until = $3 where operator_id = $1",
            operator_id,
            failed_pins,
            locked_until,
        )

    async def has_paheko(self, company_id: UUID) -> bool:
        found: bool = await self._conn.fetchval(
            "select exists (select 1 from company_secrets where company_id = $1)", company_id
        )
        return found

    async def paheko(self, company_id: UUID) -> tuple[str, str] | None:
        row = await self._conn.fetchrow(
            "select paheko_api_user, paheko_api_password_encrypted from company_secrets where company_id = $1",
            company_id,
        )
        return (row["paheko_api_user"], row["paheko_api_password_encrypted"]) if row else None


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


class SaleGuards(NamedTuple):
    """What finalize read and decided on, which its write checks is still so, and the gaps its number opens."""

    expected_version: int
    """The basket's version as read; 0: never saved."""
    session_status: str
    session_awaited: int | None
    gaps: list[int]


RECORD_NAMES: Final = (
    *TicketRow._fields,
    *(f"basket_{name}" for name in BasketRow._fields),
    *(f"event_{name}" for name in OUTBOX_COLUMNS),
    *SaleGuards._fields,
)

_IF_RECORDED: Final = "and exists (select 1 from ticket)"

CHECKOUT_RECORD: Final = numbered(
    f"""
    with basket as (
        insert into baskets as b (id, pos_id, version, content, status, ticket_id, updated_at)
        select :basket_id, :basket_pos_id, :basket_version, :basket_content::json, :basket_status,
               :basket_ticket_id, :basket_updated_at
        where exists (
            select 1 from pos_sessions
            where pos_id = :pos_id and session_id = :session_id and status = :session_status
              and last_ticket_number is not distinct from :session_awaited
            for share
        )
          and (:expected_version = 0 or exists (select 1 from baskets where id = :basket_id))
        on conflict (id) do update
        set version = excluded.version, content = excluded.content, status = excluded.status,
            ticket_id = excluded.ticket_id, updated_at = excluded.updated_at
        where b.pos_id = excluded.pos_id and b.status = 'open' and b.version = :expected_version
        returning id
    ), ticket as (
        insert into tickets (id, pos_id, number, session_id, shop_id, kind, total_incl_tax, currency,
                             finalized_at, received_at, content_hash, body)
        select :id, :pos_id, :number, :session_id, :shop_id, :kind, :total_incl_tax, :currency,
               :finalized_at, :received_at, :content_hash, :body::json
        from basket
        returning id
    ), event as (
        insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, traceparent,
                            tracestate)
        select :event_id, :event_aggregate_type, :event_aggregate_id, :event_type, :event_topic, :event_key,
               :event_payload::json, :event_headers::json, :event_traceparent, :event_tracestate
        from ticket
    ), closed as ({GAP_CLOSED.format(when=_IF_RECORDED)}
    ), opened as ({GAPS_OPENED.format(when=_IF_RECORDED)}
    )
    select count(*) from ticket
    """,  # noqa: S608 - made of this module's constants
    RECORD_NAMES,
)
"""Finalize's write, guarded: the basket ends only if it is still open at the version finalize read (a new one
only if finalize read none and nobody created it meanwhile) and the till's session is still as finalize read
it; the ticket, its event and its gaps only if the basket ended. A number or a ticket id already taken raises,
and the statement leaves nothing behind. The session's row is locked shared for the statement: a close marking
it closing waits for the sale, or the sale, waiting for the close, finds the session changed (a snapshot taken
before the close committed does not let it in)."""


class SqlCheckout:
    """Finalize's read in one statement and its write in one statement (ticket, gaps, event, basket).

    In a transaction the read locks the basket. Without one (`SqlPool.steps`) each statement is atomic on its
    own and the write's guards stand in for the lock: a sale costs two round trips in all.
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
                _session(pos_id, row["session_id"], row["session_status"], row["opened_at"], row["awaited"])
                if row["session_id"] is not None
                else None
            ),
            last_number=row["last_number"],
        )

    async def record(
        self, stored: StoredTicket, basket: StoredBasket, event: Envelope[Any], *, topic: str, seen: CheckoutView
    ) -> bool:
        if seen.session is None:
            return False
        ticket = TicketRow.of(stored)
        row = OutboxRow.of(
            event,
            topic=topic,
            key=str(ticket.pos_id),
            aggregate_type="ticket",
            aggregate_id=str(ticket.id),
            data_json=ticket.body,
        )
        guards = SaleGuards(
            expected_version=seen.basket.version if seen.basket is not None else 0,
            session_status=_status(seen.session),
            session_awaited=seen.session.last_ticket_number,
            gaps=list(gaps_of(ticket.number, seen.last_number).opened),
        )
        try:
            inserted: int = await self._conn.fetchval(
                CHECKOUT_RECORD,
                *ticket,
                *BasketRow.of(basket),
                *(getattr(row, column) for column in OUTBOX_COLUMNS),
                *guards,
            )
        except asyncpg.UniqueViolationError:  # the number is taken, or the basket's id is already a ticket
            return False
        return inserted == 1


STOCK_RULES: Final = (
    "select item from config_items"
    " where id = any($1::uuid[]) and entity_type = 'product' and (item->>'stock_tracked')::boolean"
)

STOCK_ADD: Final = """
insert into stock_levels as s (shop_id, product_id, level, updated_at)
select $1, c.product_id, c.change, $4
from unnest($2::uuid[], $3::int[]) as c (product_id, change)
order by c.product_id
on conflict (shop_id, product_id) do update set level = s.level + excluded.level, updated_at = excluded.updated_at
returning product_id, level
"""
"""The changes added to the levels one product after the other, in the order of their ids: each row stays locked
until the transaction ends, and a second sale of it waits, then adds to the level the first left."""

STOCK_CREATE: Final = """
insert into stock_levels (shop_id, product_id, level, updated_at)
select $1, product_id, 0, $3 from unnest($2::uuid[]) as product_id order by product_id
on conflict do nothing
"""
STOCK_HOLD: Final = (
    "select product_id, level from stock_levels where shop_id = $1 and product_id = any($2::uuid[])"
    " order by product_id for update"
)


class MovementRow(NamedTuple):
    """A row of `stock_movements` (its `seq` is the database's)."""

    id: UUID
    shop_id: UUID
    product_id: UUID
    change: int
    level_before: int
    level_after: int
    reason: str
    document_type: str
    document_id: UUID | None
    document_ref: str | None
    pos_id: UUID | None
    moved_by: UUID | None
    moved_at: datetime

    @classmethod
    def of(cls, m: StockMovement) -> MovementRow:
        return cls(
            m.id,
            m.shop_id,
            m.product_id,
            m.change,
            m.level_before,
            m.level_after,
            m.reason.value,
            m.document_type.value,
            m.document_id,
            m.document_ref,
            m.pos_id,
            m.moved_by,
            m.moved_at,
        )


STOCK_RECORD: Final = f"""
insert into stock_movements ({", ".join(MovementRow._fields)})
select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[],
                     $9::uuid[], $10::text[], $11::uuid[], $12::uuid[], $13::timestamptz[])
on conflict (id) do nothing
"""  # noqa: S608 - made of this module's constants

MOVEMENT_COLUMNS: Final = "seq, " + ", ".join(MovementRow._fields)

DOCUMENT_COLUMNS: Final = "id, shop_id, document_type, reason, reference, note, content_sha256, created_by, created_at"
DOCUMENT_CLAIM: Final = f"""
insert into stock_documents ({DOCUMENT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict (id) do nothing returning id
"""  # noqa: S608 - made of this module's constants


def _movement(row: asyncpg.Record) -> StockMovement:
    return StockMovement(
        id=row["id"],
        shop_id=row["shop_id"],
        product_id=row["product_id"],
        change=row["change"],
        level_before=row["level_before"],
        level_after=row["level_after"],
        reason=StockReason(row["reason"]),
        document_type=DocumentType(row["document_type"]),
        document_id=row["document_id"],
        document_ref=row["document_ref"],
        pos_id=row["pos_id"],
        moved_by=row["moved_by"],
        moved_at=row["moved_at"],
        seq=row["seq"],
    )


class SqlStock:
    """The stock levels, their movements and the back office's stock documents."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def rules(self, product_ids: Sequence[UUID]) -> dict[UUID, StockRule]:
        rows = await self._conn.fetch(STOCK_RULES, list(product_ids))
        found = (StockRule.of(json.loads(row["item"])) for row in rows)
        return {rule.product_id: rule for rule in found if rule is not None}

    async def add(self, shop_id: UUID, changes: Sequence[tuple[UUID, int]], at: datetime) -> list[LevelChange]:
        ordered = sorted(changes)
        async with _atomic(self._conn):
            rows = await self._conn.fetch(STOCK_ADD, shop_id, [p for p, _ in ordered], [c for _, c in ordered], at)
        after = {row["product_id"]: row["level"] for row in rows}
        return [LevelChange(p, after[p] - c, after[p]) for p, c in ordered]

    async def hold(self, shop_id: UUID, product_ids: Sequence[UUID], at: datetime) -> dict[UUID, int]:
        ordered = sorted(set(product_ids))
        await self._conn.execute(STOCK_CREATE, shop_id, ordered, at)
        rows = await self._conn.fetch(STOCK_HOLD, shop_id, ordered)
        return {row["product_id"]: row["level"] for row in rows}

    async def record(self, movements: Sequence[StockMovement]) -> None:
        if movements:
            rows = [MovementRow.of(m) for m in movements]
            await self._conn.execute(STOCK_RECORD, *(list(column) for column in zip(*rows, strict=True)))

    async def claim_document(self, document: StockDocument) -> StockDocument | None:
        d = document
        values = (d.id, d.shop_id, d.document_type, d.reason, d.reference, d.note, d.content_sha256)
        if await self._conn.fetchval(DOCUMENT_CLAIM, *values, d.created_by, d.created_at) is not None:
            return None
        row = await self._conn.fetchrow(
            f"select {DOCUMENT_COLUMNS} from stock_documents where id = $1",  # noqa: S608 - constants
            d.id,
        )
        return StockDocument(*row) if row else None

    async def document_movements(self, document_id: UUID) -> list[StockMovement]:
        rows = await self._conn.fetch(
            f"select {MOVEMENT_COLUMNS} from stock_movements where document_id = $1 order by seq",  # noqa: S608
            document_id,
        )
        return [_movement(row) for row in rows]

    async def levels(self, shop_id: UUID, product_ids: Sequence[UUID] | None = None) -> list[StockLevel]:
        rows = await self._conn.fetch(
            "select shop_id, product_id, level, updated_at from stock_levels"
            " where shop_id = $1 and ($2::uuid[] is null or product_id = any($2::uuid[])) order by product_id",
            shop_id,
            list(product_ids) if product_ids is not None else None,
        )
        return [StockLevel(*row) for row in rows]

    async def movements(
        self, shop_id: UUID, where: MovementFilter, *, before_seq: int | None, limit: int
    ) -> list[StockMovement]:
        rows = await self._conn.fetch(
            f"select {MOVEMENT_COLUMNS} from stock_movements"  # noqa: S608 - made of this module's constants
            " where shop_id = $1 and ($2::uuid is null or product_id = $2) and ($3::text is null or reason = $3)"
            " and ($4::uuid is null or document_id = $4) and ($5::timestamptz is null or moved_at >= $5)"
            " and ($6::timestamptz is null or moved_at < $6) and ($7::bigint is null or seq < $7)"
            " order by seq desc limit $8",
            shop_id,
            where.product_id,
            where.reason,
            where.document_id,
            where.since,
            where.until,
            before_seq,
            limit,
        )
        return [_movement(row) for row in rows]


REPORT_SAVED: Final = """
insert into till_reports (pos_id, reported_at, received_at, report) values ($1, $2, $3, $4::jsonb)
on conflict (pos_id) do update set reported_at = excluded.reported_at, received_at = excluded.received_at,
    report = excluded.report
where till_reports.reported_at <= excluded.reported_at
returning 1
"""

RELEASE_KEPT: Final = """
with kept as (
    insert into numbering_releases (pos_id, resume_after, reason, released_by, released_at)
    values ($1, $2, $3, $4, $5)
    on conflict (pos_id, resume_after) do nothing
    returning pos_id, resume_after, reason, released_by, released_at
)
select * from kept
union all
select pos_id, resume_after, reason, released_by, released_at from numbering_releases
where pos_id = $1 and resume_after = $2 and not exists (select 1 from kept)
"""

LAST_RELEASES: Final = """
select distinct on (pos_id) pos_id, resume_after, reason, released_by, released_at from numbering_releases
where pos_id = any($1::uuid[]) order by pos_id, resume_after desc
"""


def _release(row: asyncpg.Record) -> NumberingRelease:
    return NumberingRelease(
        pos_id=row["pos_id"],
        resume_after=row["resume_after"],
        reason=row["reason"],
        released_by=row["released_by"],
        released_at=row["released_at"],
    )


class SqlTillReports:
    """The tills' last reports (one row a till, a newer report replacing an older one) and the numbering releases."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save(self, pos_id: UUID, report: TillReport, received_at: datetime) -> bool:
        saved = await self._conn.fetchval(
            REPORT_SAVED, pos_id, report.reported_at, received_at, report.model_dump_json()
        )
        return saved is not None

    async def of(self, pos_ids: list[UUID]) -> list[ReceivedReport]:
        rows = await self._conn.fetch(
            "select pos_id, received_at, report::text as report from till_reports where pos_id = any($1::uuid[])",
            pos_ids,
        )
        return [
            ReceivedReport(row["pos_id"], TillReport.model_validate_json(row["report"]), row["received_at"])
            for row in rows
        ]

    async def release(self, release: NumberingRelease) -> NumberingRelease:
        row = await self._conn.fetchrow(
            RELEASE_KEPT,
            release.pos_id,
            release.resume_after,
            release.reason,
            release.released_by,
            release.released_at,
        )
        return _release(row)

    async def last_releases(self, pos_ids: list[UUID]) -> dict[UUID, NumberingRelease]:
        return {row["pos_id"]: _release(row) for row in await self._conn.fetch(LAST_RELEASES, pos_ids)}


class SqlUnitOfWork(PooledWork):
    """One transaction on one connection of the pool; leaving without `commit()` rolls it back.

    With `steps=True` there is no transaction: each statement commits on its own and `commit()` has nothing
    left to do. For use cases whose writes are each one guarded statement (finalize), that saves the BEGIN
    and COMMIT round trips and holds no lock while Python computes.
    """

    tickets: SqlTickets
    sessions: SqlSessions
    baskets: SqlBaskets
    seats: SqlSeats
    outbox: SqlOutbox
    inbox: SqlInbox
    config: SqlConfigItems
    credentials: SqlCredentials
    checkout: SqlCheckout
    stock: SqlStock
    till_reports: SqlTillReports

    def __init__(self, pool: asyncpg.Pool, *, steps: bool = False) -> None:
        super().__init__(pool, begin_on_entry=not steps)
        self._steps = steps

    def bind(self, conn: asyncpg.Connection) -> None:
        self.tickets = SqlTickets(conn)
        self.sessions = SqlSessions(conn)
        self.baskets = SqlBaskets(conn)
        self.seats = SqlSeats(conn)
        self.outbox = SqlOutbox(conn)
        self.inbox = SqlInbox(conn)
        self.config = SqlConfigItems(conn)
        self.credentials = SqlCredentials(conn)
        self.checkout = SqlCheckout(conn, lock=not self._steps)
        self.stock = SqlStock(conn)
        self.till_reports = SqlTillReports(conn)


class SqlPool(HotPool):
    """pos-api's asyncpg pool, opened when the service starts and closed when it stops: every unit of work
    (the till's, the back office's, the consumers') runs on one of its connections."""

    def __init__(self, dsn: str, *, size: int = 20) -> None:
        super().__init__(dsn, size=size, what="pos-api's")

    def work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.opened())

    def steps(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.opened(), steps=True)
