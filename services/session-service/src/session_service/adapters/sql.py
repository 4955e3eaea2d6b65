"""PostgreSQL implementations of session-service's ports, on asyncpg: every `ticket.finalized` and every request
passes here.

The statements are few and fixed, prepared once per pooled connection. A statement that writes many rows takes
them as named rows (`…Row`, one per table), whose fields are the table's columns with their PostgreSQL types:
the statement's text and the order of its parameters are derived from those rows, never numbered by hand, and
PostgreSQL unnests one array per column whatever the batch's size. What a row holds is decided by the domain and
the ports' structures (`ConfigRecord.shop_id`, `OutboxRow.of`…); SQL only stores it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Final, NamedTuple, get_type_hints
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from caisse_contracts.envelope import Envelope
from caisse_runtime.inbox import claim_events
from caisse_runtime.outbox import OutboxRow, insert_outbox
from caisse_runtime.pg import HotPool, PooledWork
from session_service.domain.deposits import Deposit
from session_service.domain.report import ZReport
from session_service.domain.sessions import (
    CashMovement,
    CashSession,
    Cheque,
    CloseRequest,
    Closing,
    Count,
    MovementKind,
    SessionStatus,
    TillPlace,
)
from session_service.domain.totals import CategoryTotal, LateTicket, RunningTotals
from session_service.service_layer.ports import AppliedTicket, BeforeCounting, ConfigRecord, LateTicketsOf, Mail

GROUP = "session-service.tickets"

COUNTS: Final = TypeAdapter(tuple[Count, ...])
CLOSE_REQUEST: Final = TypeAdapter(CloseRequest)
CLOSING: Final = TypeAdapter(Closing)
REPORT: Final = TypeAdapter(ZReport)
IDS: Final = TypeAdapter(tuple[UUID, ...])
CHEQUES: Final = TypeAdapter(tuple[Cheque, ...])

# PostgreSQL's type of a row field, for the statement derived from the row.
PgUuid = Annotated[UUID, "uuid"]
PgUuidOrNull = Annotated[UUID | None, "uuid"]
PgInt = Annotated[int, "integer"]
PgIntOrNull = Annotated[int | None, "integer"]
PgBigint = Annotated[int, "bigint"]
PgText = Annotated[str, "text"]
PgTextOrNull = Annotated[str | None, "text"]
PgBool = Annotated[bool, "boolean"]
PgJson = Annotated[str, "jsonb"]
"""JSON text, stored as `jsonb`."""
PgJsonOrNull = Annotated[str | None, "jsonb"]
PgTime = Annotated[datetime, "timestamptz"]
PgTimeOrNull = Annotated[datetime | None, "timestamptz"]


def _pg_types(row: type[tuple[Any, ...]]) -> list[tuple[str, str]]:
    """The row's fields with their PostgreSQL types, in order."""
    hints = get_type_hints(row, include_extras=True)
    fields: tuple[str, ...] = row._fields  # type: ignore[attr-defined]
    return [(name, hints[name].__metadata__[0]) for name in fields]


def unnest(row: type[tuple[Any, ...]], first: int = 1) -> str:
    """`unnest($first::type[], …) as r (columns…)`: one array parameter per field of `row`."""
    typed = _pg_types(row)
    arrays = ", ".join(f"${first + i}::{pg}[]" for i, (_, pg) in enumerate(typed))
    return f"unnest({arrays}) as r ({', '.join(name for name, _ in typed)})"


def insert_many(table: str, row: type[tuple[Any, ...]], first: int = 1) -> str:
    """An insert of every row of the arrays from `first` on, one array per field of `row`."""
    return f"insert into {table} ({', '.join(row._fields)}) select * from {unnest(row, first)}"  # type: ignore[attr-defined]  # noqa: S608


def parameters(row: type[tuple[Any, ...]]) -> list[str]:
    """One typed parameter per field of `row`: `$1::uuid`, `$2::text`…"""
    return [f"${i + 1}::{pg}" for i, (_, pg) in enumerate(_pg_types(row))]


def insert_one(table: str, row: type[tuple[Any, ...]]) -> str:
    """An insert of one row, one parameter per field of `row`."""
    return f"insert into {table} ({', '.join(row._fields)}) values ({', '.join(parameters(row))})"  # type: ignore[attr-defined]  # noqa: S608


def arrays(row: type[tuple[Any, ...]], rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """The rows as one array per field (the parameters of `unnest(row)`)."""
    if not rows:
        return [[] for _ in row._fields]  # type: ignore[attr-defined]
    return [list(column) for column in zip(*rows, strict=True)]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class TotalsRow(NamedTuple):
    """A row of `session_totals`."""

    session_id: PgUuid
    pos_id: PgUuid
    currency: PgText
    ticket_count: PgInt
    credit_note_count: PgInt
    credit_note_total: PgBigint
    first_number: PgIntOrNull
    last_number: PgIntOrNull
    total_incl_tax: PgBigint
    cash_received: PgBigint
    change_given: PgBigint
    cash_rounding: PgBigint
    weight_grams: PgBigint
    by_method: PgJson
    by_category: PgJson
    updated_at: PgTime

    @classmethod
    def of(cls, t: RunningTotals, at: datetime) -> TotalsRow:
        by_category = {
            str(k): {"revenue_account": v.revenue_account, "amount": v.amount, "weight_grams": v.weight_grams}
            for k, v in t.by_category.items()
        }
        return cls(
            t.session_id, t.pos_id, t.currency, t.ticket_count, t.credit_note_count, t.credit_note_total,
            t.first_number, t.last_number, t.total_incl_tax, t.cash_received, t.change_given, t.cash_rounding,
            t.weight_grams, _json({k: list(v) for k, v in t.by_method.items()}), _json(by_category), at,
        )  # fmt: skip


class AppliedRow(NamedTuple):
    """A row of `session_tickets`: a ticket counted into its session."""

    ticket_id: PgUuid
    session_id: PgUuid
    pos_id: PgUuid
    number: PgInt
    total_incl_tax: PgBigint
    event_id: PgUuid
    applied_at: PgTime


class ChequeRow(NamedTuple):
    """A row of `session_cheques`."""

    payment_id: PgUuid
    session_id: PgUuid
    ticket_id: PgUuid
    number: PgText
    bank: PgTextOrNull
    amount: PgBigint


class LateRow(NamedTuple):
    """A row of `late_tickets`."""

    ticket_id: PgUuid
    session_id: PgUuid
    pos_id: PgUuid
    shop_id: PgUuid
    company_id: PgUuid
    number: PgInt
    kind: PgText
    total_incl_tax: PgBigint
    currency: PgText
    by_method: PgJson
    finalized_at: PgTime
    event_id: PgUuid
    received_at: PgTime

    @classmethod
    def of(cls, t: LateTicket) -> LateRow:
        return cls(
            t.ticket_id, t.session_id, t.pos_id, t.shop_id, t.company_id, t.number, t.kind, t.total_incl_tax,
            t.currency, _json(t.by_method), t.finalized_at, t.event_id, t.received_at,
        )  # fmt: skip


class SessionRow(NamedTuple):
    """A new row of `cash_sessions`."""

    session_id: PgUuid
    pos_id: PgUuid
    pos_name: PgText
    shop_id: PgUuid
    company_id: PgUuid
    territory_id: PgUuid
    currency: PgText
    exponent: PgInt
    denominations: PgJson
    status: PgText
    opened_at: PgTime
    operator_ids: PgJson
    float_counts: PgJson
    opening_float: PgBigint
    first_ticket_number: PgInt

    @classmethod
    def of(cls, s: CashSession) -> SessionRow:
        p = s.place
        return cls(
            s.session_id, p.pos_id, p.pos_name, p.shop_id, p.company_id, p.territory_id, p.currency, p.exponent,
            _json(list(p.denominations)), s.status.value, s.opened_at, IDS.dump_json(s.operator_ids).decode(),
            COUNTS.dump_json(s.float_counts).decode(), s.opening_float, s.first_ticket_number,
        )  # fmt: skip


class ClosingRow(NamedTuple):
    """What a close changes in its row of `cash_sessions` (the key first)."""

    session_id: PgUuid
    status: PgText
    close_request: PgJsonOrNull
    closing_since: PgTimeOrNull
    closed_at: PgTimeOrNull
    closing: PgJsonOrNull
    last_ticket_number: PgIntOrNull

    @classmethod
    def of(cls, s: CashSession) -> ClosingRow:
        request = s.close_request
        return cls(
            s.session_id,
            s.status.value,
            CLOSE_REQUEST.dump_json(request).decode() if request else None,
            s.closing_since,
            s.closed_at,
            CLOSING.dump_json(s.closing).decode() if s.closing else None,
            request.last_ticket_number if request else None,
        )


class MovementRow(NamedTuple):
    """A row of `cash_movements`."""

    movement_id: PgUuid
    session_id: PgUuid
    kind: PgText
    amount: PgBigint
    reason: PgText
    operator_id: PgUuid
    at: PgTime


class ConfigRow(NamedTuple):
    """A row of `config_items`."""

    entity_id: PgUuid
    entity_type: PgText
    version: PgInt
    deleted: PgBool
    item: PgJson
    shop_id: PgUuidOrNull
    company_id: PgUuidOrNull


class DepositRow(NamedTuple):
    """A row of `session_deposits`."""

    session_id: PgUuid
    deposit_id: PgUuid
    cash: PgBigint
    cheques: PgJson
    reference: PgText
    deposited_on: Annotated[date, "date"]
    confirmed_at: PgTime
    confirmed_by: PgUuidOrNull


TOTALS_COLUMNS: Final = ", ".join(TotalsRow._fields[:-1])

GET_TOTALS: Final = f"""
    select {TOTALS_COLUMNS.replace("by_method", "by_method::text").replace("by_category", "by_category::text")}
    from session_totals
    where session_id = any($1::uuid[])
    order by session_id
"""  # noqa: S608
FOR_UPDATE: Final = f"{GET_TOTALS} for update"

BEFORE_COUNTING: Final = """
    with held as materialized (
        select session_id, status from cash_sessions
        where session_id = any($2::uuid[])
        order by session_id
        for share
    )
    select array(select ticket_id from session_tickets where ticket_id = any($1::uuid[])) as applied,
        array(select session_id from held where status = 'closed') as closed,
        array(select session_id from held where status = 'closing') as closing
"""
"""Every session's row is read, so every one is locked; a row a close updated meanwhile is read as it committed."""

_UPSERT_SET: Final = ", ".join(f"{c} = excluded.{c}" for c in TotalsRow._fields if c != "session_id")
_CHEQUES_FIRST: Final = 1 + len(TotalsRow._fields) + len(AppliedRow._fields)

SAVE: Final = f"""
    with totals as (
        {insert_many("session_totals", TotalsRow)}
        on conflict (session_id) do update set {_UPSERT_SET}
    ),
    tickets as (
        {insert_many("session_tickets", AppliedRow, 1 + len(TotalsRow._fields))}
    )
    {insert_many("session_cheques", ChequeRow, _CHEQUES_FIRST)}
    on conflict do nothing
"""
"""The totals, the applied tickets and their cheques in one statement. A ticket already recorded (counted
meanwhile under another event id) violates its key and fails the whole statement, so totals are never saved
with a ticket counted twice; the batch is then retried message by message."""

SAVE_LATE: Final = f"{insert_many('late_tickets', LateRow)} on conflict do nothing"

LATE_TICKETS: Final = f"""
    select {", ".join(LateRow._fields).replace("by_method", "by_method::text")}
    from late_tickets
    where ($1::uuid is null or session_id = $1) and ($2::uuid is null or shop_id = $2)
        and ($3::uuid is null or company_id = $3)
    order by received_at desc, ticket_id desc
    limit $4
"""  # noqa: S608

APPLIED_TICKET: Final = f"select {', '.join(AppliedRow._fields)} from session_tickets where ticket_id = $1"  # noqa: S608
NUMBERS_IN: Final = (
    "select distinct number from session_tickets where session_id = $1 and number between $2 and $3 order by number"
)
CHEQUES_OF: Final = "select payment_id, ticket_id, number, bank, amount from session_cheques where session_id = $1"

WAITING_CLOSES: Final = (
    "select session_id from cash_sessions where status = 'closing' order by closing_since, session_id"
)

SESSION_COLUMNS: Final = """session_id, pos_id, pos_name, shop_id, company_id, territory_id, currency, exponent,
    denominations::text, status, opened_at, operator_ids::text, float_counts::text, first_ticket_number,
    close_request::text, closing_since, closed_at, closing::text"""
GET_SESSION: Final = f"select {SESSION_COLUMNS} from cash_sessions where session_id = $1"  # noqa: S608
GET_SESSION_FOR_UPDATE: Final = f"{GET_SESSION} for update"
CURRENT_OF_POS: Final = f"select {SESSION_COLUMNS} from cash_sessions where pos_id = $1 and status <> 'closed'"  # noqa: S608
CURRENT_OF_POS_FOR_UPDATE: Final = f"{CURRENT_OF_POS} for update"
MOVEMENTS: Final = (
    "select movement_id, kind, amount, reason, operator_id, at from cash_movements where session_id = $1 order by at"
)
LAST_CLOSED_NUMBER: Final = "select max(last_ticket_number) from cash_sessions where pos_id = $1 and status = 'closed'"
ADD_SESSION: Final = f"{insert_one('cash_sessions', SessionRow)} on conflict do nothing returning session_id"
UPDATE_SESSION: Final = f"""
    update cash_sessions set ({", ".join(ClosingRow._fields[1:])}) = ({", ".join(parameters(ClosingRow)[1:])})
    where session_id = $1
"""  # noqa: S608
ADD_MOVEMENT: Final = f"{insert_one('cash_movements', MovementRow)} on conflict do nothing"
SESSION_OF_MOVEMENT: Final = "select session_id from cash_movements where movement_id = $1"

_CONFIG_SET: Final = ", ".join(f"{c} = excluded.{c}" for c in ConfigRow._fields if c != "entity_id")
UPSERT_CONFIG: Final = f"""
    {insert_many("config_items", ConfigRow)}
    on conflict (entity_id) do update set {_CONFIG_SET}, received_at = now()
    where config_items.version < excluded.version
    returning entity_id
"""
CONFIG_COLUMNS: Final = "entity_type, entity_id, version, deleted, item::text"
CONFIG_AMONG: Final = f"select {CONFIG_COLUMNS} from config_items where entity_id = any($1::uuid[])"  # noqa: S608
OPERATORS_OF: Final = f"""
    select {CONFIG_COLUMNS} from config_items
    where entity_type = 'operator' and not deleted and (shop_id = $1 or shop_id is null)
"""  # noqa: S608
CATEGORIES_OF: Final = f"select {CONFIG_COLUMNS} from config_items where entity_type = 'category' and company_id = $1"  # noqa: S608

PUT_REPORT: Final = "insert into session_reports (session_id, report) values ($1, $2::jsonb) on conflict do nothing"
GET_REPORT: Final = "select report::text from session_reports where session_id = $1"

GET_DEPOSIT: Final = f"""
    select {", ".join(DepositRow._fields).replace("cheques", "cheques::text")}
    from session_deposits where session_id = $1
"""  # noqa: S608
ADD_DEPOSIT: Final = insert_one("session_deposits", DepositRow)

MAIL_COLUMNS: Final = "mail_id, session_id, recipients::text, attempts, next_attempt_at, sent_at, last_error"
ADD_MAIL: Final = """
    insert into mail_queue (mail_id, session_id, recipients, attempts, next_attempt_at)
    values ($1, $2, $3::jsonb, $4, $5)
"""
DUE_MAIL: Final = f"""
    select {MAIL_COLUMNS} from mail_queue
    where sent_at is null and next_attempt_at <= $1
    order by next_attempt_at
    limit $2
    for update skip locked
"""  # noqa: S608
MAIL_SENT: Final = "update mail_queue set sent_at = $2, attempts = attempts + 1, last_error = null where mail_id = $1"
MAIL_FAILED: Final = """
    update mail_queue set attempts = attempts + 1, last_error = $2, next_attempt_at = $3 where mail_id = $1
"""
MAIL_OF_SESSION: Final = f"select {MAIL_COLUMNS} from mail_queue where session_id = $1 order by created_at, mail_id"  # noqa: S608


Connect = Callable[[], Awaitable[asyncpg.Connection]]
"""The unit of work's connection, inside its transaction (begun on first use)."""


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


def _late(row: asyncpg.Record) -> LateTicket:
    values = dict(row.items())
    values["by_method"] = json.loads(values["by_method"])
    return LateTicket(**values)


class SqlInbox:
    """The inbox of one consumer group (`caisse_runtime.inbox`)."""

    def __init__(self, connect: Connect, group: str) -> None:
        self._connect = connect
        self._group = group

    async def claim(self, event_id: UUID, event_type: str) -> bool:
        return bool(await self.claim_many([(event_id, event_type)]))

    async def claim_many(self, events: Sequence[tuple[UUID, str]]) -> set[UUID]:
        if not events:
            return set()
        return await claim_events(await self._connect(), self._group, events)


class SqlTotals:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def before_counting(self, ticket_ids: Sequence[UUID], session_ids: Sequence[UUID]) -> BeforeCounting:
        row = await (await self._connect()).fetchrow(BEFORE_COUNTING, list(ticket_ids), sorted(session_ids))
        return BeforeCounting(set(row["applied"]), set(row["closed"]), set(row["closing"]))  # one row, always

    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        return (await self.for_update_many([session_id])).get(session_id)

    async def for_update_many(self, session_ids: Sequence[UUID]) -> dict[UUID, RunningTotals]:
        if not session_ids:
            return {}
        rows = await (await self._connect()).fetch(FOR_UPDATE, sorted(session_ids))
        return {row["session_id"]: _totals(row) for row in rows}

    async def get(self, session_id: UUID) -> RunningTotals | None:
        row = await (await self._connect()).fetchrow(GET_TOTALS, [session_id])
        return _totals(row) if row else None

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None:
        await self.save_many([totals], [applied], [])

    async def save_many(
        self, totals: Sequence[RunningTotals], applied: Sequence[AppliedTicket], cheques: Sequence[Cheque]
    ) -> None:
        if not applied:
            return
        at = applied[-1].applied_at
        session_of = {a.ticket_id: a.session_id for a in applied}
        await (await self._connect()).execute(
            SAVE,
            *arrays(TotalsRow, [TotalsRow.of(t, at) for t in totals]),
            *arrays(AppliedRow, [AppliedRow(*_applied_fields(a)) for a in applied]),
            *arrays(
                ChequeRow,
                [
                    ChequeRow(c.payment_id, session_of[c.ticket_id], c.ticket_id, c.number, c.bank, c.amount)
                    for c in cheques
                ],
            ),
        )

    async def save_late(self, late: Sequence[LateTicket]) -> None:
        if late:
            await (await self._connect()).execute(SAVE_LATE, *arrays(LateRow, [LateRow.of(t) for t in late]))

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None:
        row = await (await self._connect()).fetchrow(APPLIED_TICKET, ticket_id)
        return AppliedTicket(**dict(row.items())) if row else None

    async def numbers_in(self, session_id: UUID, first: int, last: int) -> list[int]:
        return [row[0] for row in await (await self._connect()).fetch(NUMBERS_IN, session_id, first, last)]

    async def cheques(self, session_id: UUID) -> list[Cheque]:
        return [Cheque(*row) for row in await (await self._connect()).fetch(CHEQUES_OF, session_id)]

    async def late_tickets(self, of: LateTicketsOf) -> list[LateTicket]:
        rows = await (await self._connect()).fetch(LATE_TICKETS, of.session_id, of.shop_id, of.company_id, of.limit)
        return [_late(row) for row in rows]


def _applied_fields(a: AppliedTicket) -> tuple[Any, ...]:
    return (a.ticket_id, a.session_id, a.pos_id, a.number, a.total_incl_tax, a.event_id, a.applied_at)


def _session(row: asyncpg.Record, movements: list[asyncpg.Record]) -> CashSession:
    close_request, closing = row["close_request"], row["closing"]
    return CashSession(
        session_id=row["session_id"],
        place=TillPlace(
            pos_id=row["pos_id"],
            pos_name=row["pos_name"],
            shop_id=row["shop_id"],
            company_id=row["company_id"],
            territory_id=row["territory_id"],
            currency=row["currency"],
            exponent=row["exponent"],
            denominations=tuple(json.loads(row["denominations"])),
        ),
        opened_at=row["opened_at"],
        operator_ids=IDS.validate_json(row["operator_ids"]),
        float_counts=COUNTS.validate_json(row["float_counts"]),
        first_ticket_number=row["first_ticket_number"],
        status=SessionStatus(row["status"]),
        movements=tuple(
            CashMovement(m["movement_id"], MovementKind(m["kind"]), m["amount"], m["reason"], m["operator_id"], m["at"])
            for m in movements
        ),
        close_request=CLOSE_REQUEST.validate_json(close_request) if close_request is not None else None,
        closing_since=row["closing_since"],
        closed_at=row["closed_at"],
        closing=CLOSING.validate_json(closing) if closing is not None else None,
    )


class SqlSessions:
    """The sessions; which of them wait for tickets is one read, which needs no transaction of its own."""

    def __init__(self, conn: asyncpg.Connection, connect: Connect) -> None:
        self._conn = conn
        self._connect = connect

    async def _load(self, query: str, key: UUID) -> CashSession | None:
        conn = await self._connect()
        row = await conn.fetchrow(query, key)
        if row is None:
            return None
        return _session(row, await conn.fetch(MOVEMENTS, row["session_id"]))

    async def get(self, session_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return await self._load(GET_SESSION_FOR_UPDATE if for_update else GET_SESSION, session_id)

    async def current_of_pos(self, pos_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return await self._load(CURRENT_OF_POS_FOR_UPDATE if for_update else CURRENT_OF_POS, pos_id)

    async def last_closed_number(self, pos_id: UUID) -> int | None:
        value: int | None = await (await self._connect()).fetchval(LAST_CLOSED_NUMBER, pos_id)
        return value

    async def add(self, session: CashSession) -> bool:
        return await (await self._connect()).fetchval(ADD_SESSION, *SessionRow.of(session)) is not None

    async def update(self, session: CashSession) -> None:
        await (await self._connect()).execute(UPDATE_SESSION, *ClosingRow.of(session))

    async def add_movement(self, session_id: UUID, movement: CashMovement) -> None:
        m = movement
        row = MovementRow(m.movement_id, session_id, m.kind.value, m.amount, m.reason, m.operator_id, m.at)
        await (await self._connect()).execute(ADD_MOVEMENT, *row)

    async def session_of_movement(self, movement_id: UUID) -> UUID | None:
        found: UUID | None = await (await self._connect()).fetchval(SESSION_OF_MOVEMENT, movement_id)
        return found

    async def closing(self) -> list[UUID]:
        return [row[0] for row in await self._conn.fetch(WAITING_CLOSES)]


def _config(row: asyncpg.Record) -> ConfigRecord:
    return ConfigRecord(row[0], row[1], row[2], row[3], json.loads(row[4]))


class SqlConfigView:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def upsert(self, records: Sequence[ConfigRecord]) -> int:
        if not records:
            return 0
        rows = [
            ConfigRow(r.entity_id, r.entity_type, r.version, r.deleted, _json(r.item), r.shop_id, r.company_id)
            for r in records
        ]
        return len(await (await self._connect()).fetch(UPSERT_CONFIG, *arrays(ConfigRow, rows)))

    async def get_many(self, entity_ids: Sequence[UUID]) -> dict[UUID, ConfigRecord]:
        rows = await (await self._connect()).fetch(CONFIG_AMONG, list(entity_ids))
        return {row["entity_id"]: _config(row) for row in rows}

    async def operators_of(self, shop_id: UUID) -> dict[UUID, ConfigRecord]:
        return {row["entity_id"]: _config(row) for row in await (await self._connect()).fetch(OPERATORS_OF, shop_id)}

    async def categories_of(self, company_id: UUID) -> dict[UUID, ConfigRecord]:
        rows = await (await self._connect()).fetch(CATEGORIES_OF, company_id)
        return {row["entity_id"]: _config(row) for row in rows}


class SqlReports:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def put(self, report: ZReport) -> None:
        await (await self._connect()).execute(PUT_REPORT, report.session_id, REPORT.dump_json(report).decode())

    async def get(self, session_id: UUID) -> ZReport | None:
        text: str | None = await (await self._connect()).fetchval(GET_REPORT, session_id)
        return REPORT.validate_json(text) if text is not None else None


class SqlDeposits:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def get(self, session_id: UUID) -> Deposit | None:
        row = await (await self._connect()).fetchrow(GET_DEPOSIT, session_id)
        if row is None:
            return None
        values = dict(row.items())
        values["cheques"] = CHEQUES.validate_json(values["cheques"])
        return Deposit(**values)

    async def add(self, deposit: Deposit) -> None:
        d = deposit
        row = DepositRow(
            d.session_id, d.deposit_id, d.cash, CHEQUES.dump_json(d.cheques).decode(), d.reference, d.deposited_on,
            d.confirmed_at, d.confirmed_by,
        )  # fmt: skip
        await (await self._connect()).execute(ADD_DEPOSIT, *row)


def _mail(row: asyncpg.Record) -> Mail:
    return Mail(
        mail_id=row["mail_id"],
        session_id=row["session_id"],
        recipients=tuple(json.loads(row["recipients"])),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


class SqlMailQueue:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def add(self, mail: Mail) -> None:
        await (await self._connect()).execute(
            ADD_MAIL, mail.mail_id, mail.session_id, _json(list(mail.recipients)), mail.attempts, mail.next_attempt_at
        )

    async def due(self, now: datetime, limit: int) -> list[Mail]:
        return [_mail(row) for row in await (await self._connect()).fetch(DUE_MAIL, now, limit)]

    async def sent(self, mail_id: UUID, at: datetime) -> None:
        await (await self._connect()).execute(MAIL_SENT, mail_id, at)

    async def failed(self, mail_id: UUID, error: str, next_attempt_at: datetime) -> None:
        await (await self._connect()).execute(MAIL_FAILED, mail_id, error, next_attempt_at)

    async def of_session(self, session_id: UUID) -> list[Mail]:
        return [_mail(row) for row in await (await self._connect()).fetch(MAIL_OF_SESSION, session_id)]


class SqlOutbox:
    """The outbox (`caisse_runtime.outbox`): the row, trace context included, is computed by `OutboxRow.of`."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        await insert_outbox(await self._connect(), [row])


class SqlUnitOfWork(PooledWork):
    """One transaction on one pooled connection, begun by the first statement that needs one; leaving without
    `commit()` rolls it back. It serves the requests and the consumers alike (`UnitOfWork`, `CountingWork`)."""

    inbox: SqlInbox
    totals: SqlTotals
    sessions: SqlSessions
    config: SqlConfigView
    reports: SqlReports
    deposits: SqlDeposits
    mail: SqlMailQueue
    outbox: SqlOutbox

    def __init__(self, pool: asyncpg.Pool, group: str = GROUP) -> None:
        super().__init__(pool, begin_on_entry=False)
        self._group = group

    def bind(self, conn: asyncpg.Connection) -> None:
        connect = self.begin
        self.inbox = SqlInbox(connect, self._group)
        self.totals = SqlTotals(connect)
        self.sessions = SqlSessions(conn, connect)
        self.config = SqlConfigView(connect)
        self.reports = SqlReports(connect)
        self.deposits = SqlDeposits(connect)
        self.mail = SqlMailQueue(connect)
        self.outbox = SqlOutbox(connect)


class SqlDatabase(HotPool):
    """An asyncpg pool of session-service's database and its units of work, opened when the service starts and
    closed when it stops."""

    def __init__(self, dsn: str, *, size: int, what: str, group: str = GROUP) -> None:
        super().__init__(dsn, size=size, what=what)
        self._group = group

    def work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.opened(), self._group)
