"""PostgreSQL implementations of session-service's ports."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from caisse_contracts.runtime import database
from caisse_contracts.runtime.inbox import SqlInbox
from session_service.adapters.tables import session_tickets, session_totals
from session_service.domain.totals import CategoryTotal, RunningTotals
from session_service.service_layer.ports import AppliedTicket

GROUP = "session-service.tickets"


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


class SqlTotals:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def for_update(self, session_id: UUID) -> RunningTotals | None:
        stmt = select(session_totals).where(session_totals.c.session_id == session_id).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return _totals(row) if row else None

    async def get(self, session_id: UUID) -> RunningTotals | None:
        stmt = select(session_totals).where(session_totals.c.session_id == session_id)
        row = (await self._conn.execute(stmt)).first()
        return _totals(row) if row else None

    async def applied_ticket(self, ticket_id: UUID) -> AppliedTicket | None:
        stmt = select(session_tickets).where(session_tickets.c.ticket_id == ticket_id)
        row = (await self._conn.execute(stmt)).first()
        return _applied(row) if row else None

    async def save(self, totals: RunningTotals, applied: AppliedTicket) -> None:
        values: dict[str, Any] = {
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
                str(k): {
                    "revenue_account": v.revenue_account,
                    "amount": v.amount,
                    "weight_grams": v.weight_grams,
                }
                for k, v in totals.by_category.items()
            },
            "updated_at": applied.applied_at,
        }
        upsert = insert(session_totals).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=["session_id"], set_={k: upsert.excluded[k] for k in values if k != "session_id"}
        )
        await self._conn.execute(upsert)
        await self._conn.execute(
            insert(session_tickets).values(
                ticket_id=applied.ticket_id,
                session_id=applied.session_id,
                pos_id=applied.pos_id,
                number=applied.number,
                total_incl_tax=applied.total_incl_tax,
                event_id=applied.event_id,
                applied_at=applied.applied_at,
            )
        )


class SqlUnitOfWork(database.SqlUnitOfWork):
    inbox: SqlInbox
    totals: SqlTotals

    def __init__(self, engine: AsyncEngine, group: str = GROUP) -> None:
        super().__init__(engine)
        self._group = group

    def bind(self, conn: AsyncConnection) -> None:
        self.inbox = SqlInbox(conn, self._group)
        self.totals = SqlTotals(conn)
