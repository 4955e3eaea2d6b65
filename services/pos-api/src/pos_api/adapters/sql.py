"""PostgreSQL implementations of pos-api's ports: one connection and transaction per unit of work."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_contracts.tills import BasketContent
from caisse_contracts.topics import POS_API_SESSIONS
from caisse_runtime import database
from caisse_runtime.inbox import SqlInbox
from caisse_runtime.outbox import OUTBOX_COLUMNS, OutboxRow
from pos_api.adapters.checkout import ComposedCheckout
from pos_api.adapters.tables import (
    baskets,
    company_secrets,
    config_history,
    config_items,
    device_credentials,
    event_seats,
    operator_credentials,
    pos_sessions,
    ticket_conflicts,
    ticket_gaps,
    tickets,
)
from pos_api.domain.config import Hierarchy, StoredItem
from pos_api.domain.tickets import TicketConflict
from pos_api.service_layer.ports import (
    ClosingMark,
    DeviceCredential,
    PinState,
    SessionState,
    StoredBasket,
    StoredTicket,
)

BOOTSTRAP_LOCK: Final = zlib.crc32(b"pos-api:bootstrap-admin")
"""The advisory lock under which a starting process creates the bootstrap admin."""


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

    async def by_id(self, ticket_id: UUID, *, for_update: bool = False) -> StoredTicket | None:
        stmt = select(tickets).where(tickets.c.id == ticket_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return _stored(row) if row else None

    async def credit_notes_of(self, ticket_id: UUID) -> list[StoredTicket]:
        stmt = select(tickets).where(
            tickets.c.kind == "credit_note", tickets.c.body["original_ticket_id"].astext == str(ticket_id)
        )
        return [_stored(row) for row in await self._conn.execute(stmt)]

    async def last_number(self, pos_id: UUID) -> int | None:
        stmt = select(func.max(tickets.c.number)).where(tickets.c.pos_id == pos_id)
        found: int | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return found

    async def note_number(self, pos_id: UUID, number: int, at: datetime) -> None:
        await self._conn.execute(
            text(
                """
                insert into ticket_gaps (pos_id, number, detected_at)
                select :pos, missing, :at
                from generate_series(
                    (select coalesce(max(number), 0) + 1 from tickets where pos_id = :pos and number < :number),
                    :number - 1
                ) as missing
                where not exists (select 1 from tickets where pos_id = :pos and number = missing)
                on conflict do nothing
                """
            ),
            {"pos": pos_id, "number": number, "at": at},
        )
        await self._conn.execute(
            update(ticket_gaps)
            .where(ticket_gaps.c.pos_id == pos_id, ticket_gaps.c.number == number, ticket_gaps.c.filled_at.is_(None))
            .values(filled_at=at)
        )

    async def open_gaps(self, pos_ids: list[UUID]) -> list[tuple[UUID, int, datetime]]:
        stmt = (
            select(ticket_gaps.c.pos_id, ticket_gaps.c.number, ticket_gaps.c.detected_at)
            .where(ticket_gaps.c.pos_id.in_(pos_ids), ticket_gaps.c.filled_at.is_(None))
            .order_by(ticket_gaps.c.pos_id, ticket_gaps.c.number)
        )
        return [(row.pos_id, row.number, row.detected_at) for row in await self._conn.execute(stmt)]

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

    async def keep_conflict(self, conflict: TicketConflict) -> None:
        await self._conn.execute(
            insert(ticket_conflicts)
            .values(
                pos_id=conflict.pos_id,
                number=conflict.number,
                attempt_sha256=conflict.attempt_sha256,
                existing_ticket_id=conflict.existing_ticket_id,
                attempted_ticket_id=conflict.attempted_ticket_id,
                source=conflict.source,
                attempt=conflict.attempt,
                detected_at=conflict.detected_at,
            )
            .on_conflict_do_nothing()
        )

    async def conflicts(self, pos_ids: list[UUID]) -> list[TicketConflict]:
        stmt = (
            select(ticket_conflicts)
            .where(ticket_conflicts.c.pos_id.in_(pos_ids))
            .order_by(ticket_conflicts.c.detected_at, ticket_conflicts.c.pos_id, ticket_conflicts.c.number)
        )
        return [
            TicketConflict(
                row.pos_id,
                row.number,
                row.existing_ticket_id,
                row.attempted_ticket_id,
                row.source,
                row.attempt,
                row.detected_at,
            )
            for row in await self._conn.execute(stmt)
        ]


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def of_pos(self, pos_id: UUID, *, lock: bool = False) -> SessionState | None:
        query = select(pos_sessions).where(pos_sessions.c.pos_id == pos_id)
        row = (await self._conn.execute(query.with_for_update(read=True) if lock else query)).first()
        if row is None:
            return None
        closing = row.status == "closing"
        return SessionState(
            row.pos_id,
            row.session_id,
            row.status == "open",
            row.opened_at,
            closing,
            row.last_ticket_number if closing else None,
        )

    async def opened(self, pos_id: UUID, session_id: UUID, opened_at: datetime) -> None:
        values = {
            "session_id": session_id,
            "status": "open",
            "opened_at": opened_at,
            "closed_at": None,
            "last_ticket_number": None,
        }
        stmt = insert(pos_sessions).values(pos_id=pos_id, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["pos_id"],
            set_=values,
            # a late `session.opened` never reopens the same session once it is closing or closed
            where=(pos_sessions.c.opened_at <= opened_at)
            & ((pos_sessions.c.session_id != session_id) | (pos_sessions.c.status == "open")),
        )
        await self._conn.execute(stmt)

    async def mark_closing(self, pos_id: UUID, session_id: UUID, declared: int | None) -> ClosingMark | None:
        where = (pos_sessions.c.pos_id == pos_id, pos_sessions.c.session_id == session_id)
        # the row lock waits for a sale writing in the session; later sales wait for this commit, then refuse
        row = (
            await self._conn.execute(
                select(pos_sessions.c.status, pos_sessions.c.last_ticket_number).where(*where).with_for_update()
            )
        ).first()
        if row is None:
            return None
        held = (
            await self._conn.execute(
                select(func.max(tickets.c.number)).where(tickets.c.pos_id == pos_id, tickets.c.session_id == session_id)
            )
        ).scalar()
        numbers = (declared, held, row.last_ticket_number if row.status == "closing" else None)
        last = max((n for n in numbers if n is not None), default=None)
        await self._conn.execute(
            update(pos_sessions)
            .where(*where, pos_sessions.c.status.in_(("open", "closing")))
            .values(status="closing", last_ticket_number=last)
        )
        return ClosingMark(row.status == "open", last)

    async def reopen(self, pos_id: UUID, session_id: UUID) -> None:
        await self._conn.execute(
            update(pos_sessions)
            .where(
                pos_sessions.c.pos_id == pos_id,
                pos_sessions.c.session_id == session_id,
                pos_sessions.c.status == "closing",
            )
            .values(status="open", last_ticket_number=None)
        )

    async def closed(self, pos_id: UUID, session_id: UUID, closed_at: datetime, last_ticket_number: int | None) -> None:
        await self._conn.execute(
            update(pos_sessions)
            .where(pos_sessions.c.pos_id == pos_id, pos_sessions.c.session_id == session_id)
            .values(status="closed", closed_at=closed_at, last_ticket_number=last_ticket_number)
        )


class SqlBaskets:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @staticmethod
    def _basket(row: Row[Any]) -> StoredBasket:
        return StoredBasket(
            id=row.id,
            pos_id=row.pos_id,
            version=row.version,
            content=BasketContent.model_validate(row.content),
            finalized=row.status == "finalized",
            ticket_id=row.ticket_id,
            updated_at=row.updated_at,
        )

    async def get(self, basket_id: UUID, *, for_update: bool = False) -> StoredBasket | None:
        stmt = select(baskets).where(baskets.c.id == basket_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return self._basket(row) if row else None

    async def put(self, basket: StoredBasket) -> None:
        values: dict[str, Any] = {
            "pos_id": basket.pos_id,
            "version": basket.version,
            "content": basket.content.model_dump(mode="json"),
            "status": "finalized" if basket.finalized else "open",
            "ticket_id": basket.ticket_id,
            "updated_at": basket.updated_at,
        }
        stmt = insert(baskets).values(id=basket.id, **values)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))

    async def open_of_pos(self, pos_id: UUID) -> StoredBasket | None:
        stmt = (
            select(baskets)
            .where(baskets.c.pos_id == pos_id, baskets.c.status == "open")
            .order_by(baskets.c.updated_at.desc())
            .limit(1)
        )
        row = (await self._conn.execute(stmt)).first()
        return self._basket(row) if row else None


class SqlSeats:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def take(self, product_id: UUID, capacity: int, quantity: int) -> int | None:
        await self._conn.execute(
            insert(event_seats).values(product_id=product_id, capacity=capacity, sold=0).on_conflict_do_nothing()
        )
        stmt = (
            update(event_seats)
            .where(event_seats.c.product_id == product_id, event_seats.c.sold + quantity <= capacity)
            .values(sold=event_seats.c.sold + quantity, capacity=capacity)
            .returning(event_seats.c.capacity - event_seats.c.sold)
        )
        left: int | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return left

    async def left(self, product_id: UUID, capacity: int) -> int:
        sold = select(event_seats.c.sold).where(event_seats.c.product_id == product_id).scalar_subquery()
        found: int = (
            await self._conn.execute(select(func.greatest(capacity - func.coalesce(sold, 0), 0)))
        ).scalar_one()
        return found


OUTBOX_ROW_SQL: Final = text(
    "insert into outbox (id, aggregate_type, aggregate_id, type, topic, key, payload, headers, traceparent, tracestate)"
    " values (:id, :aggregate_type, :aggregate_id, :type, :topic, :key, cast(:payload as json),"
    " cast(:headers as json), :traceparent, :tracestate)"
)
"""One `OutboxRow` as it was computed, persisted in the unit of work's transaction."""


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, envelope: Envelope[Any], *, topic: str, key: str, aggregate_type: str, aggregate_id: str
    ) -> None:
        # The row carries the writing span's trace context: the use case leaves tracing to the outbox.
        row = OutboxRow.of(envelope, topic=topic, key=key, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        await self._conn.execute(OUTBOX_ROW_SQL, {column: getattr(row, column) for column in OUTBOX_COLUMNS})


def _item(row: Row[Any]) -> StoredItem:
    return StoredItem(
        entity_type=EntityType(row.entity_type),
        id=row.id,
        version=row.version,
        hierarchy=Hierarchy(row.territory_id, row.company_id, row.shop_id, row.pos_id),
        item=row.item,
        deleted=row.deleted,
    )


class SqlConfigItems:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, entity_id: UUID, *, for_update: bool = False) -> StoredItem | None:
        stmt = select(config_items).where(config_items.c.id == entity_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return _item(row) if row else None

    async def put(
        self, stored: StoredItem, *, patch: list[dict[str, Any]], changed_by: UUID | None, changed_at: datetime
    ) -> None:
        h = stored.hierarchy
        values: dict[str, Any] = {
            "id": stored.id,
            "entity_type": stored.entity_type.value,
            "version": stored.version,
            "territory_id": h.territory_id,
            "company_id": h.company_id,
            "shop_id": h.shop_id,
            "pos_id": h.pos_id,
            "item": stored.item,
            "deleted": stored.deleted,
            "updated_by": changed_by,
            "updated_at": changed_at,
        }
        upsert = insert(config_items).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=["id"], set_={k: upsert.excluded[k] for k in values if k != "id"}
        )
        await self._conn.execute(upsert)
        await self._conn.execute(
            insert(config_history).values(
                id=stored.id,
                version=stored.version,
                entity_type=stored.entity_type.value,
                item=stored.item,
                patch=patch,
                deleted=stored.deleted,
                changed_by=changed_by,
                changed_at=changed_at,
            )
        )

    async def list(
        self, entity_type: EntityType, *, company_id: UUID | None = None, shop_id: UUID | None = None
    ) -> list[StoredItem]:
        stmt = select(config_items).where(
            config_items.c.entity_type == entity_type.value, config_items.c.deleted.is_(False)
        )
        if company_id is not None:
            stmt = stmt.where(config_items.c.company_id == company_id)
        if shop_id is not None:
            stmt = stmt.where(config_items.c.shop_id == shop_id)
        return [_item(row) for row in await self._conn.execute(stmt.order_by(config_items.c.updated_at))]

    async def generation(self) -> int:
        value: int = (
            await self._conn.execute(text("select generation from config_generation where id = 1"))
        ).scalar_one()
        return value


class SqlCredentials:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def device(self, serial: str) -> DeviceCredential | None:
        row = (
            await self._conn.execute(select(device_credentials).where(device_credentials.c.serial == serial))
        ).first()
        return DeviceCredential(row.pos_id, row.serial, row.secret_sha256) if row else None

    async def set_device(self, pos_id: UUID, serial: str, secret_sha256: str, at: datetime) -> None:
        stmt = insert(device_credentials).values(
            pos_id=pos_id, serial=serial, secret_sha256=secret_sha256, rotated_at=at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["pos_id"], set_={"secret_sha256": secret_sha256, "rotated_at": at, "serial": serial}
        )
        await self._conn.execute(stmt)

    async def operator_for_token(self, token_sha256: str) -> UUID | None:
        stmt = select(operator_credentials.c.operator_id).where(operator_credentials.c.token_sha256 == token_sha256)
        found: UUID | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return found

    async def set_operator_token(self, operator_id: UUID, token_sha256: str, at: datetime) -> None:
        stmt = insert(operator_credentials).values(operator_id=operator_id, token_sha256=token_sha256, created_at=at)
        stmt = stmt.on_conflict_do_update(index_elements=["operator_id"], set_={"token_sha256": token_sha256})
        await self._conn.execute(stmt)

    async def hold_bootstrap(self) -> None:
        await self._conn.execute(select(func.pg_advisory_xact_lock(BOOTSTRAP_LOCK)))

    async def set_paheko(self, company_id: UUID, user: str, password_encrypted: str, at: datetime) -> None:
        values = {"paheko_api_user": user, "paheko_api_password_encrypted": password_encrypted, "updated_at": at}
        stmt = insert(company_secrets).values(company_id=company_id, **values)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["company_id"], set_=values))

    async def set_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None:
        values = {"pin_hash": pin_hash, "failed_pins": 0, "locked_until": None}
        stmt = insert(operator_credentials).values(operator_id=operator_id, created_at=at, **values)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["operator_id"], set_=values))

    async def pin_state(self, operator_id: UUID) -> PinState | None:
        stmt = select(operator_credentials).where(operator_credentials.c.operator_id == operator_id).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return PinState(row.pin_hash, row.failed_pins, row.locked_until) if row else None

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None:
        await self._conn.execute(
            update(operator_credentials)
            .where(operator_credentials.c.operator_id == operator_id)
            .values(failed_pins=failed_pins, locked_until=locked_until)
        )

    async def paheko(self, company_id: UUID) -> tuple[str, str] | None:
        stmt = select(company_secrets.c.paheko_api_user, company_secrets.c.paheko_api_password_encrypted).where(
            company_secrets.c.company_id == company_id
        )
        row = (await self._conn.execute(stmt)).first()
        return (row.paheko_api_user, row.paheko_api_password_encrypted) if row else None

    async def has_paheko(self, company_id: UUID) -> bool:
        stmt = select(company_secrets.c.company_id).where(company_secrets.c.company_id == company_id)
        return (await self._conn.execute(stmt)).first() is not None


class SqlUnitOfWork(database.SqlUnitOfWork):
    tickets: SqlTickets
    outbox: SqlOutbox
    config: SqlConfigItems
    credentials: SqlCredentials
    sessions: SqlSessions
    inbox: SqlInbox
    baskets: SqlBaskets
    seats: SqlSeats
    checkout: ComposedCheckout

    def bind(self, conn: AsyncConnection) -> None:
        self.sessions = SqlSessions(conn)
        self.baskets = SqlBaskets(conn)
        self.seats = SqlSeats(conn)
        self.inbox = SqlInbox(conn, POS_API_SESSIONS.name)
        self.tickets = SqlTickets(conn)
        self.outbox = SqlOutbox(conn)
        self.config = SqlConfigItems(conn)
        self.credentials = SqlCredentials(conn)
        self.checkout = ComposedCheckout(self.tickets, self.baskets, self.sessions, self.outbox)
