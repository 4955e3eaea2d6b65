"""PostgreSQL implementations of the bridge's ports: one connection and transaction per unit of work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.topics import PAHEKO_BRIDGE
from caisse_runtime import database
from caisse_runtime.inbox import SqlInbox
from caisse_runtime.outbox import OutboxItem, enqueue, enqueue_many
from paheko_bridge.domain.pushes import CloseStatus, DepositStatus, PushStatus
from paheko_bridge.service_layer.ports import CloseRow, DepositRow, PendingPush, PushRow

PUSH_COLUMNS = (
    "ticket_id, company_id, pos_id, session_id, number, status, attempts, next_attempt_at, last_error,"
    " received_at, pushed_at"
)


def _push(row: Row[Any]) -> PushRow:
    return PushRow(
        ticket_id=row.ticket_id,
        company_id=row.company_id,
        pos_id=row.pos_id,
        session_id=row.session_id,
        number=row.number,
        status=PushStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        received_at=row.received_at,
        pushed_at=row.pushed_at,
    )


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


class SqlPushes:
    def __init__(self, conn: AsyncConnection, memo: TicketMemo | None = None) -> None:
        self._conn = conn
        self._memo = memo or TicketMemo(capacity=0)

    async def add_many(self, tickets: Sequence[TicketFinalizedV1], received_at: datetime) -> int:
        result = await self._conn.execute(
            text(
                "insert into pushes (ticket_id, company_id, pos_id, session_id, number, ticket, next_attempt_at,"
                " received_at)"
                " select t.id, t.company, t.pos, t.session, t.number, t.ticket, :at, :at"
                " from unnest(cast(:ids as uuid[]), cast(:companies as uuid[]), cast(:poses as uuid[]),"
                " cast(:sessions as uuid[]), cast(:numbers as integer[]), cast(:tickets as json[]))"
                " as t (id, company, pos, session, number, ticket)"
                " on conflict do nothing returning ticket_id"
            ),
            {
                "ids": [t.ticket_id for t in tickets],
                "companies": [t.company_id for t in tickets],
                "poses": [t.pos_id for t in tickets],
                "sessions": [t.session_id for t in tickets],
                "numbers": [t.number for t in tickets],
                "tickets": [t.model_dump_json() for t in tickets],
                "at": received_at,
            },
        )
        inserted = {row.ticket_id for row in result}
        self._memo.remember([t for t in tickets if t.ticket_id in inserted])  # as stored: the first of an id stays
        return len(inserted)

    async def due(self, now: datetime, limit: int) -> list[PendingPush]:
        rows = await self._conn.execute(
            text(
                "select ticket_id, attempts from pushes as p"
                " where status = 'pending' and next_attempt_at <= :now"
                # a ticket never overtakes an earlier one of its POS that is waiting for its backoff
                " and not exists (select 1 from pushes as q where q.pos_id = p.pos_id and q.status = 'pending'"
                " and q.number < p.number and q.next_attempt_at > :now)"
                " order by pos_id, number limit :limit"
            ),
            {"now": now, "limit": limit},
        )
        due = [(row.ticket_id, row.attempts) for row in rows]
        known = {ticket_id: ticket for ticket_id, _ in due if (ticket := self._memo.get(ticket_id)) is not None}
        if missing := [ticket_id for ticket_id, _ in due if ticket_id not in known]:
            stored = await self._conn.execute(
                text("select ticket_id, ticket::text as ticket from pushes where ticket_id = any(:ids)"),
                {"ids": missing},
            )
            known.update((row.ticket_id, TicketFinalizedV1.model_validate_json(row.ticket)) for row in stored)
        return [PendingPush(known[ticket_id], attempts) for ticket_id, attempts in due]

    async def pushed_many(self, ticket_ids: Sequence[UUID], at: datetime) -> None:
        self._memo.forget(ticket_ids)
        if ticket_ids:
            await self._conn.execute(
                text(
                    "update pushes set status = 'pushed', pushed_at = :at, attempts = attempts + 1, last_error = null"
                    " where ticket_id = any(:ids)"
                ),
                {"ids": list(ticket_ids), "at": at},
            )

    async def failed(self, ticket_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            text(
                "update pushes set attempts = :attempts, next_attempt_at = :next, last_error = :reason"
                " where ticket_id = :id"
            ),
            {"id": ticket_id, "attempts": attempts, "next": next_attempt_at, "reason": reason[:2000]},
        )

    async def rejected(self, ticket_id: UUID, *, attempts: int, reason: str) -> None:
        await self._conn.execute(
            text(
                "update pushes set status = 'rejected', attempts = :attempts, last_error = :reason"
                " where ticket_id = :id"
            ),
            {"id": ticket_id, "attempts": attempts, "reason": reason[:2000]},
        )

    async def replay(self, ticket_id: UUID | None, now: datetime) -> int:
        result = await self._conn.execute(
            text(
                "update pushes set status = 'pending', next_attempt_at = :now"
                " where status = 'rejected' and (cast(:id as uuid) is null or ticket_id = :id) returning ticket_id"
            ),
            {"id": ticket_id, "now": now},
        )
        return len(result.all())

    async def resume(self, company_id: UUID, now: datetime) -> int:
        result = await self._conn.execute(
            text(
                "update pushes set next_attempt_at = :now"
                " where status = 'pending' and next_attempt_at > :now and company_id = :company"
            ),
            {"company": company_id, "now": now},
        )
        return result.rowcount

    async def pushed_numbers(self, session_id: UUID) -> list[int]:
        rows = await self._conn.execute(
            text("select number from pushes where session_id = :s and status = 'pushed'"), {"s": session_id}
        )
        return [r.number for r in rows]

    async def tickets_of_session(self, session_id: UUID) -> list[TicketFinalizedV1]:
        rows = await self._conn.execute(
            text(
                "select ticket::text as ticket from pushes where session_id = :s and status = 'pushed' order by number"
            ),
            {"s": session_id},
        )
        return [TicketFinalizedV1.model_validate_json(r.ticket) for r in rows]

    async def of_session(self, session_id: UUID) -> list[PushRow]:
        rows = await self._conn.execute(
            text(f"select {PUSH_COLUMNS} from pushes where session_id = :s order by number"),  # noqa: S608 - constant
            {"s": session_id},
        )
        return [_push(r) for r in rows]

    async def rejected_ones(self) -> list[PushRow]:
        rows = await self._conn.execute(
            text(f"select {PUSH_COLUMNS} from pushes where status = 'rejected' order by received_at"),  # noqa: S608
        )
        return [_push(r) for r in rows]

    async def get(self, ticket_id: UUID) -> tuple[PushRow, TicketFinalizedV1] | None:
        row = (
            await self._conn.execute(
                text(f"select {PUSH_COLUMNS}, ticket::text as ticket from pushes where ticket_id = :id"),  # noqa: S608
                {"id": ticket_id},
            )
        ).first()
        return (_push(row), TicketFinalizedV1.model_validate_json(row.ticket)) if row else None


def _close(row: Row[Any]) -> CloseRow:
    return CloseRow(
        closed=SessionClosedV1.model_validate_json(row.closed),
        status=CloseStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        differences=tuple(json.loads(row.differences)),
    )


CLOSE_COLUMNS = (
    "closed::text as closed, status, attempts, next_attempt_at, last_error, differences::text as differences"
)


class SqlCloses:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, closed: SessionClosedV1, received_at: datetime) -> bool:
        result = await self._conn.execute(
            text(
                "insert into closes (session_id, company_id, pos_id, closed, next_attempt_at, received_at)"
                " values (:s, :company, :pos, cast(:closed as jsonb), :at, :at) on conflict do nothing"
                " returning session_id"
            ),
            {
                "s": closed.session_id,
                "company": closed.company_id,
                "pos": closed.pos_id,
                "closed": closed.model_dump_json(),
                "at": received_at,
            },
        )
        return result.first() is not None

    async def waiting(self, now: datetime) -> list[CloseRow]:
        rows = await self._conn.execute(
            text(
                f"select {CLOSE_COLUMNS} from closes"  # noqa: S608 - constant columns
                " where status = 'waiting' and next_attempt_at <= :now order by received_at"
            ),
            {"now": now},
        )
        return [_close(r) for r in rows]

    async def settle(
        self,
        session_id: UUID,
        status: CloseStatus,
        *,
        at: datetime,
        differences: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
    ) -> None:
        await self._conn.execute(
            text(
                "update closes set status = :status, settled_at = :at, differences = cast(:diffs as jsonb),"
                " last_error = :reason where session_id = :s"
            ),
            {
                "s": session_id,
                "status": status.value,
                "at": at,
                "diffs": json.dumps(list(differences)),
                "reason": reason,
            },
        )

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            text(
                "update closes set attempts = :attempts, next_attempt_at = :next, last_error = :reason"
                " where session_id = :s"
            ),
            {"s": session_id, "attempts": attempts, "next": next_attempt_at, "reason": reason[:2000]},
        )

    async def resume(self, company_id: UUID, now: datetime) -> int:
        result = await self._conn.execute(
            text(
                "update closes set next_attempt_at = :now"
                " where status = 'waiting' and next_attempt_at > :now and company_id = :company"
            ),
            {"company": company_id, "now": now},
        )
        return result.rowcount

    async def get(self, session_id: UUID) -> CloseRow | None:
        row = (
            await self._conn.execute(
                text(f"select {CLOSE_COLUMNS} from closes where session_id = :s"),  # noqa: S608 - constant columns
                {"s": session_id},
            )
        ).first()
        return _close(row) if row else None


DEPOSIT_COLUMNS = "deposit::text as deposit, status, attempts, next_attempt_at, last_error"


def _deposit(row: Row[Any]) -> DepositRow:
    return DepositRow(
        deposit=SessionDepositConfirmedV1.model_validate_json(row.deposit),
        status=DepositStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
    )


class SqlDeposits:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, deposit: SessionDepositConfirmedV1, received_at: datetime) -> bool:
        result = await self._conn.execute(
            text(
                "insert into deposits (session_id, deposit_id, company_id, deposit, next_attempt_at, received_at)"
                " values (:s, :d, :company, cast(:deposit as jsonb), :at, :at) on conflict do nothing"
                " returning session_id"
            ),
            {
                "s": deposit.session_id,
                "d": deposit.deposit_id,
                "company": deposit.company_id,
                "deposit": deposit.model_dump_json(),
                "at": received_at,
            },
        )
        return result.first() is not None

    async def waiting(self, now: datetime) -> list[DepositRow]:
        rows = await self._conn.execute(
            text(
                f"select {DEPOSIT_COLUMNS} from deposits"  # noqa: S608 - constant columns
                " where status = 'waiting' and next_attempt_at <= :now order by received_at"
            ),
            {"now": now},
        )
        return [_deposit(r) for r in rows]

    async def settle(self, session_id: UUID, status: DepositStatus, *, at: datetime, reason: str | None = None) -> None:
        await self._conn.execute(
            text("update deposits set status = :status, settled_at = :at, last_error = :reason where session_id = :s"),
            {"s": session_id, "status": status.value, "at": at, "reason": reason},
        )

    async def failed(self, session_id: UUID, *, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self._conn.execute(
            text(
                "update deposits set attempts = :attempts, next_attempt_at = :next, last_error = :reason"
                " where session_id = :s"
            ),
            {"s": session_id, "attempts": attempts, "next": next_attempt_at, "reason": reason[:2000]},
        )

    async def get(self, session_id: UUID) -> DepositRow | None:
        row = (
            await self._conn.execute(
                text(f"select {DEPOSIT_COLUMNS} from deposits where session_id = :s"),  # noqa: S608 - constant columns
                {"s": session_id},
            )
        ).first()
        return _deposit(row) if row else None


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        await enqueue(
            self._conn, envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id
        )

    async def add_many(self, items: Sequence[OutboxItem]) -> None:
        await enqueue_many(self._conn, items)


class SqlUnitOfWork(database.SqlUnitOfWork):
    pushes: SqlPushes
    closes: SqlCloses
    deposits: SqlDeposits
    inbox: SqlInbox
    outbox: SqlOutbox

    def __init__(self, engine: AsyncEngine, memo: TicketMemo | None = None) -> None:
        super().__init__(engine)
        self._memo = memo

    def bind(self, conn: AsyncConnection) -> None:
        self.pushes = SqlPushes(conn, self._memo)
        self.closes = SqlCloses(conn)
        self.deposits = SqlDeposits(conn)
        self.inbox = SqlInbox(conn, PAHEKO_BRIDGE.name)
        self.outbox = SqlOutbox(conn)
