"""PostgreSQL implementations of session-service's ports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from caisse_contracts.envelope import Envelope
from caisse_runtime import database
from caisse_runtime.inbox import SqlInbox
from caisse_runtime.outbox import enqueue
from session_service.adapters.tables import (
    cash_movements,
    cash_sessions,
    config_items,
    late_tickets,
    mail_queue,
    session_cheques,
    session_deposits,
    session_reports,
    session_tickets,
    session_totals,
)
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
from session_service.domain.totals import CategoryTotal, RunningTotals
from session_service.service_layer.ports import AppliedTicket, ConfigRecord, LateTicket, Mail

GROUP = "session-service.tickets"

COUNTS: Final = TypeAdapter(tuple[Count, ...])
CLOSE_REQUEST: Final = TypeAdapter(CloseRequest)
CLOSING: Final = TypeAdapter(Closing)
REPORT: Final = TypeAdapter(ZReport)
IDS: Final = TypeAdapter(tuple[UUID, ...])
CHEQUES: Final = TypeAdapter(tuple[Cheque, ...])


def _totals(row: Row[Any]) -> RunningTotals:
    return RunningTotals(
        session_id=row.session_id,
        pos_id=row.pos_id,
        currency=row.currency,
        ticket_count=row.ticket_count,
        credit_note_count=row.credit_note_count,
        credit_note_total=row.credit_note_total,
        first_number=row.first_number,
        last_number=row.last_number,
        total_incl_tax=row.total_incl_tax,
        cash_received=row.cash_received,
        change_given=row.change_given,
        cash_rounding=row.cash_rounding,
        weight_grams=row.weight_grams,
        by_method={k: (v[0], v[1]) for k, v in row.by_method.items()},
        by_category={UUID(k): CategoryTotal(**v) for k, v in row.by_category.items()},
    )


def _totals_values(totals: RunningTotals, at: datetime) -> dict[str, Any]:
    return {
        "session_id": totals.session_id,
        "pos_id": totals.pos_id,
        "currency": totals.currency,
        "ticket_count": totals.ticket_count,
        "credit_note_count": totals.credit_note_count,
        "credit_note_total": totals.credit_note_total,
        "first_number": totals.first_number,
        "last_number": totals.last_number,
        "total_incl_tax": totals.total_incl_tax,
        "cash_received": totals.cash_received,
        "change_given": totals.change_given,
        "cash_rounding": totals.cash_rounding,
        "weight_grams": totals.weight_grams,
        "by_method": {k: list(v) for k, v in totals.by_method.items()},
        "by_category": {
            str(k): {"revenue_account": v.revenue_account, "amount": v.amount, "weight_grams": v.weight_grams}
            for k, v in totals.by_category.items()
        },
        "updated_at": at,
    }


def _applied(row: Row[Any]) -> AppliedTicket:
    return AppliedTicket(
        ticket_id=row.ticket_id,
        session_id=row.session_id,
        pos_id=row.pos_id,
        number=row.number,
        total_incl_tax=row.total_incl_tax,
        event_id=row.event_id,
        applied_at=row.applied_at,
    )


_UPSERT_TOTALS: Final = insert(session_totals).on_conflict_do_update(
    index_elements=["session_id"],
    set_={c.name: insert(session_totals).excluded[c.name] for c in session_totals.c if c.name != "session_id"},
)
_INSERT_APPLIED: Final = text(
    """
    insert into session_tickets (ticket_id, session_id, pos_id, number, total_incl_tax, event_id, applied_at)
    select t.ticket_id, t.session_id, t.pos_id, t.number, t.total_incl_tax, t.event_id, :at
    from unnest(
        cast(:ticket_ids as uuid[]), cast(:session_ids as uuid[]), cast(:pos_ids as uuid[]),
        cast(:numbers as integer[]), cast(:totals as bigint[]), cast(:event_ids as uuid[])
    ) as t (ticket_id, session_id, pos_id, number, total_incl_tax, event_id)
    """
)
_APPLIED_AMONG: Final = text("select ticket_id from session_tickets where ticket_id = any(cast(:ids as uuid[]))")


class SqlTotals:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        return (await self.for_update_many([session_id])).get(session_id)

    async def for_update_many(self, session_ids: Sequence[UUID]) -> dict[UUID, RunningTotals]:
        stmt = (
            select(session_totals)
            .where(session_totals.c.session_id.in_(sorted(session_ids)))
            .order_by(session_totals.c.session_id)
            .with_for_update()
        )
        return {row.session_id: _totals(row) for row in await self._conn.execute(stmt)}

    async def get(self, session_id: UUID) -> RunningTotals | None:
        stmt = select(session_totals).where(session_totals.c.session_id == session_id)
        row = (await self._conn.execute(stmt)).first()
        return _totals(row) if row else None

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None:
        stmt = select(session_tickets).where(session_tickets.c.ticket_id == ticket_id)
        row = (await self._conn.execute(stmt)).first()
        return _applied(row) if row else None

    async def applied_and_closed(
        self, ticket_ids: Sequence[UUID], session_ids: Sequence[UUID]
    ) -> tuple[set[UUID], set[UUID]]:
        closed: set[UUID] = set()
        if session_ids:
            held = (
                select(cash_sessions.c.session_id, cash_sessions.c.status)
                .where(cash_sessions.c.session_id.in_(sorted(session_ids)))
                .order_by(cash_sessions.c.session_id)
                .with_for_update(read=True)
            )
            closed = {r.session_id for r in await self._conn.execute(held) if r.status == SessionStatus.CLOSED.value}
        if not ticket_ids:
            return set(), closed
        result = await self._conn.execute(_APPLIED_AMONG, {"ids": list(ticket_ids)})
        return {row.ticket_id for row in result}, closed

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None:
        await self.save_many([totals], [applied], [])

    async def save_many(
        self, totals: Sequence[RunningTotals], applied: Sequence[AppliedTicket], cheques: Sequence[Cheque]
    ) -> None:
        # Executemany of one cached statement, and arrays unnested by PostgreSQL: a batch of 500 tickets costs
        # a few statements, not the compilation of a 3,500-parameter VALUES list.
        if totals and applied:
            await self._conn.execute(_UPSERT_TOTALS, [_totals_values(t, applied[-1].applied_at) for t in totals])
        if applied:
            await self._conn.execute(
                _INSERT_APPLIED,
                {
                    "ticket_ids": [a.ticket_id for a in applied],
                    "session_ids": [a.session_id for a in applied],
                    "pos_ids": [a.pos_id for a in applied],
                    "numbers": [a.number for a in applied],
                    "totals": [a.total_incl_tax for a in applied],
                    "event_ids": [a.event_id for a in applied],
                    "at": applied[-1].applied_at,
                },
            )
        if cheques:
            rows = [
                {
                    "payment_id": c.payment_id,
                    "session_id": a_session,
                    "ticket_id": c.ticket_id,
                    "number": c.number,
                    "bank": c.bank,
                    "amount": c.amount,
                }
                for c, a_session in _with_sessions(cheques, applied)
            ]
            await self._conn.execute(insert(session_cheques).on_conflict_do_nothing(), rows)

    async def save_late(self, late: Sequence[LateTicket]) -> None:
        if late:
            await self._conn.execute(insert(late_tickets).on_conflict_do_nothing(), [_late_values(t) for t in late])

    async def late_tickets(
        self,
        *,
        session_id: UUID | None = None,
        shop_id: UUID | None = None,
        company_id: UUID | None = None,
        limit: int = 500,
    ) -> list[LateTicket]:
        stmt = select(late_tickets)
        if session_id is not None:
            stmt = stmt.where(late_tickets.c.session_id == session_id)
        if shop_id is not None:
            stmt = stmt.where(late_tickets.c.shop_id == shop_id)
        if company_id is not None:
            stmt = stmt.where(late_tickets.c.company_id == company_id)
        stmt = stmt.order_by(late_tickets.c.received_at.desc(), late_tickets.c.ticket_id.desc()).limit(limit)
        return [_late(row) for row in await self._conn.execute(stmt)]

    async def numbers_in(self, session_id: UUID, first: int, last: int) -> list[int]:
        stmt = select(session_tickets.c.number).where(
            session_tickets.c.session_id == session_id, session_tickets.c.number.between(first, last)
        )
        return sorted({row.number for row in await self._conn.execute(stmt)})

    async def cheques(self, session_id: UUID) -> list[Cheque]:
        stmt = select(session_cheques).where(session_cheques.c.session_id == session_id)
        return [Cheque(r.payment_id, r.ticket_id, r.number, r.bank, r.amount) for r in await self._conn.execute(stmt)]


def _late_values(t: LateTicket) -> dict[str, Any]:
    return {name: getattr(t, name) for name in LateTicket.__dataclass_fields__}


def _late(row: Row[Any]) -> LateTicket:
    return LateTicket(**{name: getattr(row, name) for name in LateTicket.__dataclass_fields__})


def _with_sessions(cheques: Sequence[Cheque], applied: Sequence[AppliedTicket]) -> list[tuple[Cheque, UUID]]:
    session_of = {a.ticket_id: a.session_id for a in applied}
    return [(c, session_of[c.ticket_id]) for c in cheques]


def _session(row: Row[Any], movements: list[CashMovement]) -> CashSession:
    return CashSession(
        session_id=row.session_id,
        place=TillPlace(
            pos_id=row.pos_id,
            pos_name=row.pos_name,
            shop_id=row.shop_id,
            company_id=row.company_id,
            territory_id=row.territory_id,
            currency=row.currency,
            exponent=row.exponent,
            denominations=tuple(row.denominations),
        ),
        opened_at=row.opened_at,
        operator_ids=IDS.validate_python(row.operator_ids),
        float_counts=COUNTS.validate_python(row.float_counts),
        first_ticket_number=row.first_ticket_number,
        status=SessionStatus(row.status),
        movements=tuple(movements),
        close_request=CLOSE_REQUEST.validate_python(row.close_request) if row.close_request is not None else None,
        closing_since=row.closing_since,
        closed_at=row.closed_at,
        closing=CLOSING.validate_python(row.closing) if row.closing is not None else None,
    )


def _movement(row: Row[Any]) -> CashMovement:
    return CashMovement(row.movement_id, MovementKind(row.kind), row.amount, row.reason, row.operator_id, row.at)


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _load(self, where: Any, *, for_update: bool) -> CashSession | None:
        stmt = select(cash_sessions).where(where)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            return None
        moves = (
            select(cash_movements).where(cash_movements.c.session_id == row.session_id).order_by(cash_movements.c.at)
        )
        return _session(row, [_movement(m) for m in await self._conn.execute(moves)])

    async def get(self, session_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return await self._load(cash_sessions.c.session_id == session_id, for_update=for_update)

    async def current_of_pos(self, pos_id: UUID, *, for_update: bool = False) -> CashSession | None:
        return await self._load(
            and_(cash_sessions.c.pos_id == pos_id, cash_sessions.c.status != SessionStatus.CLOSED.value),
            for_update=for_update,
        )

    async def last_closed_number(self, pos_id: UUID) -> int | None:
        stmt = select(func.max(cash_sessions.c.last_ticket_number)).where(
            cash_sessions.c.pos_id == pos_id, cash_sessions.c.status == SessionStatus.CLOSED.value
        )
        value: int | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return value

    async def add(self, session: CashSession) -> bool:
        place = session.place
        stmt = (
            insert(cash_sessions)
            .values(
                session_id=session.session_id,
                pos_id=place.pos_id,
                pos_name=place.pos_name,
                shop_id=place.shop_id,
                company_id=place.company_id,
                territory_id=place.territory_id,
                currency=place.currency,
                exponent=place.exponent,
                denominations=list(place.denominations),
                status=session.status.value,
                opened_at=session.opened_at,
                operator_ids=IDS.dump_python(session.operator_ids, mode="json"),
                float_counts=COUNTS.dump_python(session.float_counts, mode="json"),
                opening_float=session.opening_float,
                first_ticket_number=session.first_ticket_number,
            )
            .on_conflict_do_nothing()
            .returning(cash_sessions.c.session_id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def update(self, session: CashSession) -> None:
        request = session.close_request
        await self._conn.execute(
            update(cash_sessions)
            .where(cash_sessions.c.session_id == session.session_id)
            .values(
                status=session.status.value,
                close_request=CLOSE_REQUEST.dump_python(request, mode="json") if request else None,
                closing_since=session.closing_since,
                closed_at=session.closed_at,
                closing=CLOSING.dump_python(session.closing, mode="json") if session.closing else None,
                last_ticket_number=request.last_ticket_number if request else None,
            )
        )

    async def add_movement(self, session_id: UUID, movement: CashMovement) -> None:
        await self._conn.execute(
            insert(cash_movements)
            .values(
                movement_id=movement.movement_id,
                session_id=session_id,
                kind=movement.kind.value,
                amount=movement.amount,
                reason=movement.reason,
                operator_id=movement.operator_id,
                at=movement.at,
            )
            .on_conflict_do_nothing()
        )

    async def closing(self, session_ids: Sequence[UUID] | None = None) -> list[UUID]:
        stmt = select(cash_sessions.c.session_id).where(cash_sessions.c.status == SessionStatus.CLOSING.value)
        if session_ids is not None:
            if not session_ids:
                return []
            stmt = stmt.where(cash_sessions.c.session_id.in_(list(session_ids)))
        return [row.session_id for row in await self._conn.execute(stmt)]


def _config(row: Row[Any]) -> ConfigRecord:
    return ConfigRecord(row.entity_type, row.entity_id, row.version, row.deleted, row.item)


def _uuid_or_none(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


class SqlConfigView:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def upsert(self, records: Sequence[ConfigRecord]) -> int:
        if not records:
            return 0
        rows = [
            {
                "entity_id": r.entity_id,
                "entity_type": r.entity_type,
                "version": r.version,
                "deleted": r.deleted,
                "item": r.item,
                "shop_id": _uuid_or_none(r.item.get("shop_id")),
                "company_id": _uuid_or_none(r.item.get("company_id")),
            }
            for r in records
        ]
        stmt = insert(config_items).values(rows)
        upsert = stmt.on_conflict_do_update(
            index_elements=["entity_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "entity_id"} | {"received_at": func.now()},
            where=config_items.c.version < stmt.excluded.version,
        ).returning(config_items.c.entity_id)
        return len((await self._conn.execute(upsert)).all())

    async def get_many(self, entity_ids: Sequence[UUID]) -> dict[UUID, ConfigRecord]:
        stmt = select(config_items).where(config_items.c.entity_id.in_(list(entity_ids)))
        return {row.entity_id: _config(row) for row in await self._conn.execute(stmt)}

    async def operators_of(self, shop_id: UUID) -> dict[UUID, ConfigRecord]:
        stmt = select(config_items).where(
            config_items.c.entity_type == "operator",
            config_items.c.deleted.is_(False),
            or_(config_items.c.shop_id == shop_id, config_items.c.shop_id.is_(None)),
        )
        return {row.entity_id: _config(row) for row in await self._conn.execute(stmt)}

    async def categories_of(self, company_id: UUID) -> dict[UUID, ConfigRecord]:
        stmt = select(config_items).where(
            config_items.c.entity_type == "category", config_items.c.company_id == company_id
        )
        return {row.entity_id: _config(row) for row in await self._conn.execute(stmt)}


class SqlReports:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(self, report: ZReport) -> None:
        await self._conn.execute(
            insert(session_reports)
            .values(session_id=report.session_id, report=REPORT.dump_python(report, mode="json"))
            .on_conflict_do_nothing()
        )

    async def get(self, session_id: UUID) -> ZReport | None:
        stmt = select(session_reports.c.report).where(session_reports.c.session_id == session_id)
        row = (await self._conn.execute(stmt)).first()
        return REPORT.validate_python(row.report) if row else None


class SqlDeposits:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, session_id: UUID) -> Deposit | None:
        row = (
            await self._conn.execute(select(session_deposits).where(session_deposits.c.session_id == session_id))
        ).first()
        if row is None:
            return None
        return Deposit(
            deposit_id=row.deposit_id,
            session_id=row.session_id,
            cash=row.cash,
            cheques=CHEQUES.validate_python(row.cheques),
            reference=row.reference,
            deposited_on=row.deposited_on,
            confirmed_at=row.confirmed_at,
            confirmed_by=row.confirmed_by,
        )

    async def add(self, deposit: Deposit) -> None:
        await self._conn.execute(
            insert(session_deposits).values(
                session_id=deposit.session_id,
                deposit_id=deposit.deposit_id,
                cash=deposit.cash,
                cheques=CHEQUES.dump_python(deposit.cheques, mode="json"),
                reference=deposit.reference,
                deposited_on=deposit.deposited_on,
                confirmed_at=deposit.confirmed_at,
                confirmed_by=deposit.confirmed_by,
            )
        )


def _mail(row: Row[Any]) -> Mail:
    return Mail(
        mail_id=row.mail_id,
        session_id=row.session_id,
        recipients=tuple(row.recipients),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


class SqlMailQueue:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, mail: Mail) -> None:
        await self._conn.execute(
            insert(mail_queue).values(
                mail_id=mail.mail_id,
                session_id=mail.session_id,
                recipients=list(mail.recipients),
                attempts=mail.attempts,
                next_attempt_at=mail.next_attempt_at,
            )
        )

    async def due(self, now: datetime, limit: int) -> list[Mail]:
        stmt = (
            select(mail_queue)
            .where(mail_queue.c.sent_at.is_(None), mail_queue.c.next_attempt_at <= now)
            .order_by(mail_queue.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_mail(row) for row in await self._conn.execute(stmt)]

    async def sent(self, mail_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            update(mail_queue)
            .where(mail_queue.c.mail_id == mail_id)
            .values(sent_at=at, attempts=mail_queue.c.attempts + 1, last_error=None)
        )

    async def failed(self, mail_id: UUID, error: str, next_attempt_at: datetime) -> None:
        await self._conn.execute(
            update(mail_queue)
            .where(mail_queue.c.mail_id == mail_id)
            .values(attempts=mail_queue.c.attempts + 1, last_error=error, next_attempt_at=next_attempt_at)
        )

    async def of_session(self, session_id: UUID) -> list[Mail]:
        stmt = select(mail_queue).where(mail_queue.c.session_id == session_id).order_by(mail_queue.c.created_at)
        return [_mail(row) for row in await self._conn.execute(stmt)]


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        await enqueue(
            self._conn, envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id
        )


class SqlUnitOfWork(database.SqlUnitOfWork):
    inbox: SqlInbox
    totals: SqlTotals
    sessions: SqlSessions
    config: SqlConfigView
    reports: SqlReports
    deposits: SqlDeposits
    mail: SqlMailQueue
    outbox: SqlOutbox

    def __init__(self, engine: AsyncEngine, group: str = GROUP) -> None:
        super().__init__(engine)
        self._group = group

    def bind(self, conn: AsyncConnection) -> None:
        self.inbox = SqlInbox(conn, self._group)
        self.totals = SqlTotals(conn)
        self.sessions = SqlSessions(conn)
        self.config = SqlConfigView(conn)
        self.reports = SqlReports(conn)
        self.deposits = SqlDeposits(conn)
        self.mail = SqlMailQueue(conn)
        self.outbox = SqlOutbox(conn)
