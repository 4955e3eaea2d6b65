"""PostgreSQL implementations of pos-api's ports: one connection and transaction per unit of work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.runtime import database
from caisse_contracts.runtime.outbox import enqueue
from pos_api.adapters.tables import tickets
from pos_api.service_layer.ports import StoredTicket


def _stored(row: Row[Any]) -> StoredTicket:
    return StoredTicket(
        ticket=TicketFinalizedV1.model_validate(row.body, strict=False),
        content_hash=row.content_hash,
        received_at=row.received_at,
    )


class SqlTickets:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def by_number(self, pos_id: UUID, number: int) -> StoredTicket | None:
        row = (
            await self._conn.execute(select(tickets).where(tickets.c.pos_id == pos_id, tickets.c.number == number))
        ).first()
        return _stored(row) if row else None

    async def by_id(self, ticket_id: UUID) -> StoredTicket | None:
        row = (await self._conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        return _stored(row) if row else None

    async def add(self, stored: StoredTicket) -> bool:
        t = stored.ticket
        stmt = (
            insert(tickets)
            .values(
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
                body=t.model_dump(mode="json"),
            )
            .on_conflict_do_nothing(index_elements=["pos_id", "number"])
            .returning(tickets.c.id)
        )
        return (await self._conn.execute(stmt)).first() is not None


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        await enqueue(
            self._conn,
            envelope,
            topic=topic,
            key=key,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
        )


class SqlUnitOfWork(database.SqlUnitOfWork):
    tickets: SqlTickets
    outbox: SqlOutbox

    def bind(self, conn: AsyncConnection) -> None:
        self.tickets = SqlTickets(conn)
        self.outbox = SqlOutbox(conn)
