"""PostgreSQL adapters of the bridge's ports on asyncpg: one pooled connection and transaction per unit of work.

Every rule is computed in Python (the outbox row by `OutboxRow.of`, a kept reason by `domain.pushes.kept_reason`,
which ticket comes next by the statement's order only); the statements only persist and read. Their twins in
`adapters.memory` pass the same port tests (tests/ports).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.topics import PAHEKO_BRIDGE
from caisse_runtime.inbox import claim_events
from caisse_runtime.outbox import OutboxItem, OutboxRow, insert_outbox
from caisse_runtime.pg import HotPool, PooledWork
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus, kept_reason
from paheko_bridge.service_layer.ports import CloseRow, CloseSettled, DepositRow, PendingPush, PushRow


class TicketMemo:
    """The tickets the bridge stored last, decoded, by id: the forwarder takes them from here rather than
    fetch and parse again the JSON it stored a moment before. A finalized ticket never changes, so an entry is
    never stale; beyond `capacity` the oldest go, and the forwarder reads those from the table."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._tickets: dict[UUID, TicketFinalizedV1] = {}

    def remember(self, tickets: Sequence[TicketFinalizedV1]) -> None:
        for ticket in tickets:
            self._tickets[ticket.ticket_id] = ticket
        for oldest in list(self._tickets)[: max(0, len(self._tickets) - self._capacity)]:
            del self._tickets[oldest]

    def get(self, ticket_id: UUID) -> TicketFinalizedV1 | None:
        return self._tickets.get(ticket_id)

    def forget(self, ticket_ids: Sequence[UUID]) -> None:
        for ticket_id in ticket_ids:
            self._tickets.pop(ticket_id, None)


def _count(status: str) -> int:
    """The number of rows of a command's status (`UPDATE 3`)."""
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class NewPush:
    """A new row of `pushes`, its columns named: the statement takes one array per field, in this order."""

    ticket_id: UUID
    company_id: UUID
    pos_id: UUID
    session_id: UUID
    number: int
    ticket: str
    """The ticket's JSON, as the ticket event carried it."""

    @classmethod
    def of(cls, ticket: TicketFinalizedV1) -> NewPush:
        return cls(
            ticket.ticket_id,
            ticket.company_id,
            ticket.pos_id,
            ticket.session_id,
            ticket.number,
            ticket.model_dump_json(),
        )


NEW_PUSH_FIELDS: Final = tuple(f.name for f in fields(NewPush))

ADD_PUSHES_SQL: Final = """
insert into pushes (ticket_id, company_id, pos_id, session_id, number, ticket, next_attempt_at, received_at)
select t.*, $7::timestamptz, $7::timestamptz
from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::integer[], $6::json[]) as t
on conflict do nothing returning ticket_id
"""

DUE_SQL: Final = """
select ticket_id, attempts from pushes as p
where status = 'pending' and next_attempt_at <= $1
  -- a ticket never overtakes an earlier one of its POS that is waiting for its backoff
  and not exists (select 1 from pushes as q where q.pos_id = p.pos_id and q.status = 'pending'
                  and q.number < p.number and q.next_attempt_at > $1)
order by pos_id, number limit $2
"""

PUSH_COLUMNS: Final = (
    "ticket_id, company_id, pos_id, session_id, number, status, attempts, next_attempt_at, last_error, received_at,"
    " pushed_at"
)


def _push(row: asyncpg.Record) -> PushRow:
    return PushRow(**{name: row[name] for name in PushRow.__dataclass_fields__} | {"status": PushStatus(row["status"])})


class PgPushes:
    def __init__(self, conn: asyncpg.Connection, memo: TicketMemo) -> None:
        self._conn = conn
        self._memo = memo

    async def add_many(self, tickets: Sequence[TicketFinalizedV1], received_at: datetime) -> int:
        rows = [NewPush.of(ticket) for ticket in tickets]
        columns = ([getattr(row, name) for row in rows] for name in NEW_PUSH_FIELDS)
        inserted = {r["ticket_id"] for r in await self._conn.fetch(ADD_PUSHES_SQL, *columns, received_at)}
        self._memo.remember([t for t in tickets if t.ticket_id in inserted])  # as stored: the first of an id stays
        return len(inserted)

    async def due(self, now: datetime, limit: int) -> list[PendingPush]:
        due = [(r["ticket_id"], r["attempts"]) for r in await self._conn.fetch(DUE_SQL, now, limit)]
        known = {ticket_id: ticket for ticket_id, _ in due if (ticket := self._memo.get(ticket_id)) is not None}
        if missing := [ticket_id for ticket_id, _ in due if ticket_id not in known]:
            stored = await self._conn.fetch(
                "select ticket_id, ticket::text as ticket from pushes where ticket_id = any($1::uuid[])", missing
            )
            known.update((r["ticket_id"], TicketFinalizedV1.model_validate_json(r["ticket"])) for r in stored)
        return [PendingPush(known[ticket_id], attempts) for ticket_id, attempts in due]

    async def pushed_many(self, ticket_ids: Sequence[UUID], at: datetime) -> None:
        self._memo.forget(ticket_ids)
        if ticket_ids:
            await self._conn.execute(
                "update pushes set status = 'pushed', pushed_at = $2, attempts = attempts + 1, last_error = null"
                " where ticket_id = any($1::uuid[])",
                list(ticket_ids),
                at,
            )

    async def failed(self, ticket_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            "update pushes set attempts = $2, next_attempt_at = $3, last_error = $4 where ticket_id = $1",
            ticket_id,
            attempts,
            next_attempt_at,
            kept_reason(reason),
        )

    async def rejected(self, ticket_id: UUID, *, attempts: int, reason: str) -> None:
        await self._conn.execute(
            "update pushes set status = 'rejected', attempts = $2, last_error = $3 where ticket_id = $1",
            ticket_id,
            attempts,
            kept_reason(reason),
        )

    async def replay(self, ticket_id: UUID | None, now: datetime) -> int:
        return _count(
            await self._conn.execute(
                "update pushes set status = 'pending', next_attempt_at = $2"
                " where status = 'rejected' and ($1::uuid is null or ticket_id = $1)",
                ticket_id,
                now,
            )
        )

    async def resume(self, company_id: UUID, now: datetime) -> int:
        return _count(
            await self._conn.execute(
                "update pushes set next_attempt_at = $2"
                " where status = 'pending' and next_attempt_at > $2 and company_id = $1",
                company_id,
                now,
            )
        )

    async def pushed_numbers(self, session_id: UUID) -> list[int]:
        rows = await self._conn.fetch(
            "select number from pushes where session_id = $1 and status = 'pushed' order by number", session_id
        )
        return [r["number"] for r in rows]

    async def tickets_of_session(self, session_id: UUID) -> list[TicketFinalizedV1]:
        rows = await self._conn.fetch(
            "select ticket::text as ticket from pushes where session_id = $1 and status = 'pushed' order by number",
            session_id,
        )
        return [TicketFinalizedV1.model_validate_json(r["ticket"]) for r in rows]

    async def of_session(self, session_id: UUID) -> list[PushRow]:
        rows = await self._conn.fetch(
            f"select {PUSH_COLUMNS} from pushes where session_id = $1 order by number",  # noqa: S608 - constant
            session_id,
        )
        return [_push(r) for r in rows]

    async def rejected_ones(self) -> list[PushRow]:
        rows = await self._conn.fetch(
            f"select {PUSH_COLUMNS} from pushes where status = 'rejected' order by received_at, number"  # noqa: S608
        )
        return [_push(r) for r in rows]

    async def get(self, ticket_id: UUID) -> tuple[PushRow, TicketFinalizedV1] | None:
        row = await self._conn.fetchrow(
            f"select {PUSH_COLUMNS}, ticket::text as ticket from pushes where ticket_id = $1",  # noqa: S608
            ticket_id,
        )
        return (_push(row), TicketFinalizedV1.model_validate_json(row["ticket"])) if row else None


CLOSE_COLUMNS: Final = (
    "closed::text as closed, status, attempts, next_attempt_at, last_error, differences::text as differences"
)


def _close(row: asyncpg.Record) -> CloseRow:
    return CloseRow(
        closed=SessionClosedV1.model_validate_json(row["closed"]),
        status=CloseStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        differences=tuple(json.loads(row["differences"])),
    )


class PgCloses:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, closed: SessionClosedV1, received_at: datetime) -> bool:
        added = await self._conn.fetchval(
            "insert into closes (session_id, company_id, pos_id, closed, next_attempt_at, received_at)"
            " values ($1, $2, $3, $4::jsonb, $5, $5) on conflict do nothing returning session_id",
            closed.session_id,
            closed.company_id,
            closed.pos_id,
            closed.model_dump_json(),
            received_at,
        )
        return added is not None

    async def waiting(self, now: datetime) -> list[CloseRow]:
        rows = await self._conn.fetch(
            f"select {CLOSE_COLUMNS} from closes"  # noqa: S608 - constant columns
            " where status = 'waiting' and next_attempt_at <= $1 order by received_at, session_id",
            now,
        )
        return [_close(r) for r in rows]

    async def settle(self, session_id: UUID, settled: CloseSettled) -> None:
        await self._conn.execute(
            "update closes set status = $2, settled_at = $3, differences = $4::jsonb, last_error = $5"
            " where session_id = $1",
            session_id,
            settled.status.value,
            settled.at,
            json.dumps(list(settled.differences)),
            settled.reason,
        )

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            "update closes set attempts = $2, next_attempt_at = $3, last_error = $4 where session_id = $1",
            session_id,
            attempts,
            next_attempt_at,
            kept_reason(reason),
        )

    async def resume(self, company_id: UUID, now: datetime) -> int:
        return _count(
            await self._conn.execute(
                "update closes set next_attempt_at = $2"
                " where status = 'waiting' and next_attempt_at > $2 and company_id = $1",
                company_id,
                now,
            )
        )

    async def get(self, session_id: UUID) -> CloseRow | None:
        row = await self._conn.fetchrow(
            f"select {CLOSE_COLUMNS} from closes where session_id = $1",  # noqa: S608 - constant columns
            session_id,
        )
        return _close(row) if row else None


DEPOSIT_COLUMNS: Final = "deposit::text as deposit, status, attempts, next_attempt_at, last_error"


def _deposit(row: asyncpg.Record) -> DepositRow:
    return DepositRow(
        deposit=SessionDepositConfirmedV1.model_validate_json(row["deposit"]),
        status=DepositStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
    )


class PgDeposits:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, deposit: SessionDepositConfirmedV1, received_at: datetime) -> bool:
        added = await self._conn.fetchval(
            "insert into deposits (session_id, deposit_id, company_id, deposit, next_attempt_at, received_at)"
            " values ($1, $2, $3, $4::jsonb, $5, $5) on conflict do nothing returning session_id",
            deposit.session_id,
            deposit.deposit_id,
            deposit.company_id,
            deposit.model_dump_json(),
            received_at,
        )
        return added is not None

    async def waiting(self, now: datetime) -> list[DepositRow]:
        rows = await self._conn.fetch(
            f"select {DEPOSIT_COLUMNS} from deposits"  # noqa: S608 - constant columns
            " where status = 'waiting' and next_attempt_at <= $1 order by received_at, session_id",
            now,
        )
        return [_deposit(r) for r in rows]

    async def settle(self, session_id: UUID, status: DepositStatus, *, at: datetime, reason: str | None = None) -> None:
        await self._conn.execute(
            "update deposits set status = $2, settled_at = $3, last_error = $4 where session_id = $1",
            session_id,
            status.value,
            at,
            reason,
        )

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            "update deposits set attempts = $2, next_attempt_at = $3, last_error = $4 where session_id = $1",
            session_id,
            attempts,
            next_attempt_at,
            kept_reason(reason),
        )

    async def get(self, session_id: UUID) -> DepositRow | None:
        row = await self._conn.fetchrow(
            f"select {DEPOSIT_COLUMNS} from deposits where session_id = $1",  # noqa: S608 - constant columns
            session_id,
        )
        return _deposit(row) if row else None


class PgInbox:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        return await claim_events(self._conn, PAHEKO_BRIDGE.name, events)


class PgOutbox:
    """The outbox port: each item's row computed by `OutboxRow.of` (which adds the trace context of the span that
    writes it), persisted in the unit of work's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add_many(self, items: Sequence[OutboxItem]) -> None:
        await insert_outbox(self._conn, [outbox_row(item) for item in items])


def outbox_row(item: OutboxItem) -> OutboxRow:
    """The outbox row of `item`, as both the adapter and its fake store it."""
    return OutboxRow.of(
        item.envelope,
        topic=item.topic,
        key=item.key,
        aggregate_type=item.aggregate_type,
        aggregate_id=item.aggregate_id,
    )


class PgUnitOfWork(PooledWork):
    """The bridge's unit of work: one pooled connection, one transaction from entry to `commit()`."""

    pushes: PgPushes
    closes: PgCloses
    deposits: PgDeposits
    inbox: PgInbox
    outbox: PgOutbox

    def __init__(self, pool: asyncpg.Pool, memo: TicketMemo | None = None) -> None:
        super().__init__(pool, begin_on_entry=True)
        self._memo = memo or TicketMemo(capacity=0)

    def bind(self, conn: asyncpg.Connection) -> None:
        self.pushes = PgPushes(conn, self._memo)
        self.closes = PgCloses(conn)
        self.deposits = PgDeposits(conn)
        self.inbox = PgInbox(conn)
        self.outbox = PgOutbox(conn)


class BridgePool(HotPool):
    """The bridge's asyncpg pool (store and FEC journal), opened when the service starts and closed when it stops."""

    def __init__(self, dsn: str, *, size: int = 4, memo: TicketMemo | None = None) -> None:
        super().__init__(dsn, size=size, what="paheko-bridge")
        self._memo = memo or TicketMemo()

    def work(self) -> PgUnitOfWork:
        return PgUnitOfWork(self.opened(), self._memo)
