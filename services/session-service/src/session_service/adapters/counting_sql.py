"""The unit of work of counting tickets, on a plain asyncpg pool: every `ticket.finalized` passes here.

Counting a batch is a few fixed statements (claim in the inbox, what is already counted, lock the totals, write
it all) that asyncpg prepares once per connection and runs without a query builder in between; the writes go
in one statement whose arrays PostgreSQL unnests, whatever the batch's size. The rest of the service keeps
SQLAlchemy (`sql.py`); both read and write the same tables, in the same format.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from uuid import UUID

import asyncpg

from caisse_runtime.pg import HotPool, PooledWork
from session_service.domain.sessions import Cheque
from session_service.domain.totals import CategoryTotal, RunningTotals
from session_service.service_layer.ports import AppliedTicket, LateTicket

CLAIM: Final = """
    insert into inbox (consumer_group, event_id, event_type)
    select $1, e.event_id, e.event_type
    from unnest($2::uuid[], $3::text[]) as e (event_id, event_type)
    on conflict do nothing
    returning event_id
"""


FOR_UPDATE: Final = """
    select session_id, pos_id, currency, ticket_count, credit_note_count, credit_note_total, first_number,
        last_number, total_incl_tax, cash_received, change_given, cash_rounding, weight_grams, by_method::text,
        by_category::text
    from session_totals
    where session_id = any($1::uuid[])
    order by session_id
    for update
"""

APPLIED_AND_CLOSED: Final = """
    with held as materialized (
        select session_id, status from cash_sessions
        where session_id = any($2::uuid[])
        order by session_id
        for share
    )
    select array(select ticket_id from session_tickets where ticket_id = any($1::uuid[])) as applied,
        array(select session_id from held where status = 'closed') as closed
"""
"""Every session's row is read, so every one is locked; a row a close updated meanwhile is read as it committed."""

SAVE_LATE: Final = """
    insert into late_tickets (ticket_id, session_id, pos_id, shop_id, company_id, number, kind, total_incl_tax,
        currency, by_method, finalized_at, event_id, received_at)
    select l.ticket_id, l.session_id, l.pos_id, l.shop_id, l.company_id, l.number, l.kind, l.total_incl_tax,
        l.currency, l.by_method::jsonb, l.finalized_at, l.event_id, l.received_at
    from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::integer[], $7::text[],
        $8::bigint[], $9::text[], $10::text[], $11::timestamptz[], $12::uuid[], $13::timestamptz[])
        as l (ticket_id, session_id, pos_id, shop_id, company_id, number, kind, total_incl_tax, currency,
            by_method, finalized_at, event_id, received_at)
    on conflict do nothing
"""

CLOSING: Final = "select session_id from cash_sessions where status = 'closing'"
CLOSING_AMONG: Final = "select session_id from cash_sessions where status = 'closing' and session_id = any($1::uuid[])"

SAVE: Final = """
    with totals as (
        insert into session_totals (
            session_id, pos_id, currency, ticket_count, credit_note_count, credit_note_total, first_number,
            last_number, total_incl_tax, cash_received, change_given, cash_rounding, weight_grams, by_method,
            by_category, updated_at
        )
        select t.session_id, t.pos_id, t.currency, t.ticket_count, t.credit_note_count, t.credit_note_total,
            t.first_number, t.last_number, t.total_incl_tax, t.cash_received, t.change_given, t.cash_rounding,
            t.weight_grams, t.by_method::jsonb, t.by_category::jsonb, $1
        from unnest(
            $2::uuid[], $3::uuid[], $4::text[], $5::integer[], $6::integer[], $7::bigint[], $8::integer[],
            $9::integer[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[],
            $16::text[]
        ) as t (
            session_id, pos_id, currency, ticket_count, credit_note_count, credit_note_total, first_number,
            last_number, total_incl_tax, cash_received, change_given, cash_rounding, weight_grams, by_method,
            by_category
        )
        on conflict (session_id) do update set
            pos_id = excluded.pos_id,
            currency = excluded.currency,
            ticket_count = excluded.ticket_count,
            credit_note_count = excluded.credit_note_count,
            credit_note_total = excluded.credit_note_total,
            first_number = excluded.first_number,
            last_number = excluded.last_number,
            total_incl_tax = excluded.total_incl_tax,
            cash_received = excluded.cash_received,
            change_given = excluded.change_given,
            cash_rounding = excluded.cash_rounding,
            weight_grams = excluded.weight_grams,
            by_method = excluded.by_method,
            by_category = excluded.by_category,
            updated_at = excluded.updated_at
    ),
    tickets as (
        insert into session_tickets (ticket_id, session_id, pos_id, number, total_incl_tax, event_id, applied_at)
        select a.ticket_id, a.session_id, a.pos_id, a.number, a.total_incl_tax, a.event_id, $1
        from unnest($17::uuid[], $18::uuid[], $19::uuid[], $20::integer[], $21::bigint[], $22::uuid[])
            as a (ticket_id, session_id, pos_id, number, total_incl_tax, event_id)
    )
    insert into session_cheques (payment_id, session_id, ticket_id, number, bank, amount)
    select c.payment_id, c.session_id, c.ticket_id, c.number, c.bank, c.amount
    from unnest($23::uuid[], $24::uuid[], $25::uuid[], $26::text[], $27::text[], $28::bigint[])
        as c (payment_id, session_id, ticket_id, number, bank, amount)
    on conflict do nothing
"""
"""The totals, the applied tickets and their cheques in one statement. A ticket already recorded (counted
meanwhile under another event id) violates its key and fails the whole statement, so totals are never saved
with a ticket counted twice; the batch is then retried message by message."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _totals(row: asyncpg.Record) -> RunningTotals:
    by_method: dict[str, list[int]] = json.loads(row["by_method"])
    by_category: dict[str, dict[str, Any]] = json.loads(row["by_category"])
    return RunningTotals(
        session_id=row["session_id"],
        pos_id=row["pos_id"],
        currency=row["currency"],
        ticket_count=row["ticket_count"],
        credit_note_count=row["credit_note_count"],
        credit_note_total=row["credit_note_total"],
        first_number=row["first_number"],
        last_number=row["last_number"],
        total_incl_tax=row["total_incl_tax"],
        cash_received=row["cash_received"],
        change_given=row["change_given"],
        cash_rounding=row["cash_rounding"],
        weight_grams=row["weight_grams"],
        by_method={k: (v[0], v[1]) for k, v in by_method.items()},
        by_category={UUID(k): CategoryTotal(**v) for k, v in by_category.items()},
    )


def _columns(items: Sequence[Any], *fields: str) -> list[list[Any]]:
    """One array per named field of `items`, for an `unnest` insert."""
    return [[getattr(item, name) for item in items] for name in fields]


def _totals_columns(totals: Sequence[RunningTotals]) -> list[list[Any]]:
    """The totals as one array per column of `session_totals` (JSON columns as text), in SAVE's order."""
    return [
        *_columns(
            totals,
            "session_id",
            "pos_id",
            "currency",
            "ticket_count",
            "credit_note_count",
            "credit_note_total",
            "first_number",
            "last_number",
            "total_incl_tax",
            "cash_received",
            "change_given",
            "cash_rounding",
            "weight_grams",
        ),
        [_compact({k: list(v) for k, v in t.by_method.items()}) for t in totals],
        [
            _compact(
                {
                    str(k): {"revenue_account": v.revenue_account, "amount": v.amount, "weight_grams": v.weight_grams}
                    for k, v in t.by_category.items()
                }
            )
            for t in totals
        ],
    ]


def _applied_columns(applied: Sequence[AppliedTicket]) -> list[list[Any]]:
    return _columns(applied, "ticket_id", "session_id", "pos_id", "number", "total_incl_tax", "event_id")


def _cheque_columns(cheques: Sequence[Cheque], applied: Sequence[AppliedTicket]) -> list[list[Any]]:
    session_of = {a.ticket_id: a.session_id for a in applied}
    payment_ids, ticket_ids, numbers, banks, amounts = _columns(
        cheques, "payment_id", "ticket_id", "number", "bank", "amount"
    )
    return [payment_ids, [session_of[t] for t in ticket_ids], ticket_ids, numbers, banks, amounts]


Connect = Callable[[], Awaitable[asyncpg.Connection]]
"""The unit of work's connection, inside its transaction (begun on first use)."""


class PgCountingInbox:
    """The inbox of one consumer group (the same rows as `caisse_runtime.inbox.SqlInbox`)."""

    def __init__(self, connect: Connect, group: str) -> None:
        self._connect = connect
        self._group = group

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        return bool(await self.claim_many([(event_id, event_type)]))

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        unique = dict(events)
        if not unique:
            return set()
        rows = await (await self._connect()).fetch(CLAIM, self._group, list(unique), list(unique.values()))
        return {row[0] for row in rows}


class PgCountedTotals:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def applied_and_closed(
        self, ticket_ids: Sequence[UUID], session_ids: Sequence[UUID]
    ) -> tuple[set[UUID], set[UUID]]:
        rows = await (await self._connect()).fetch(APPLIED_AND_CLOSED, list(ticket_ids), sorted(session_ids))
        return set(rows[0]["applied"]), set(rows[0]["closed"])  # one row, always

    async def for_update_many(self, session_ids: Sequence[UUID]) -> dict[UUID, RunningTotals]:
        if not session_ids:
            return {}
        rows = await (await self._connect()).fetch(FOR_UPDATE, sorted(session_ids))
        return {row["session_id"]: _totals(row) for row in rows}

    async def save_late(self, late: Sequence[LateTicket]) -> None:
        if not late:
            return
        columns = _columns(
            late,
            "ticket_id",
            "session_id",
            "pos_id",
            "shop_id",
            "company_id",
            "number",
            "kind",
            "total_incl_tax",
            "currency",
            "by_method",
            "finalized_at",
            "event_id",
            "received_at",
        )
        columns[9] = [_compact(paid) for paid in columns[9]]
        await (await self._connect()).execute(SAVE_LATE, *columns)

    async def save_many(
        self, totals: Sequence[RunningTotals], applied: Sequence[AppliedTicket], cheques: Sequence[Cheque]
    ) -> None:
        if not applied:
            return
        await (await self._connect()).execute(
            SAVE,
            applied[-1].applied_at,
            *_totals_columns(totals),
            *_applied_columns(applied),
            *_cheque_columns(cheques, applied),
        )


class PgClosingSessions:
    """Which sessions wait for tickets (one read, which needs no transaction of its own), and which are closed (in
    the batch's transaction, their rows held until it ends)."""

    def __init__(self, conn: asyncpg.Connection, connect: Connect) -> None:
        self._conn = conn
        self._connect = connect

    async def closing(self, session_ids: Sequence[UUID] | None = None) -> list[UUID]:
        if session_ids is None:
            return [row[0] for row in await self._conn.fetch(CLOSING)]
        if not session_ids:
            return []
        return [row[0] for row in await self._conn.fetch(CLOSING_AMONG, list(session_ids))]


class PgCountingWork(PooledWork):
    """One transaction on one pooled connection, begun by the first statement of the inbox or the totals;
    leaving without `commit()` rolls it back."""

    inbox: PgCountingInbox
    totals: PgCountedTotals
    sessions: PgClosingSessions

    def __init__(self, pool: asyncpg.Pool, group: str) -> None:
        super().__init__(pool, begin_on_entry=False)
        self._group = group

    def bind(self, conn: asyncpg.Connection) -> None:
        self.inbox = PgCountingInbox(self.begin, self._group)
        self.totals = PgCountedTotals(self.begin)
        self.sessions = PgClosingSessions(conn, self.begin)


class CountingPool(HotPool):
    """The asyncpg pool of the counting units of work, opened when the service starts and closed when it stops."""

    def __init__(self, dsn: str, group: str, *, size: int = 2) -> None:
        super().__init__(dsn, size=size, what="counting")
        self._group = group

    def work(self) -> PgCountingWork:
        return PgCountingWork(self.opened(), self._group)
