"""The till's local store: one SQLite file (WAL, synchronous=FULL), the only database a till has; it keeps working
offline.

One connection, used by one worker thread at a time, so that there is a single writer. The schema is migrated at
open by `PRAGMA user_version`: `MIGRATIONS[n]` takes the file from version n to n+1, each step in one transaction
with its version number, so that a till stopped mid-upgrade starts again from the last step that committed. Every
stream message is stored in one transaction: the item, its version and the stream position together, or nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.events.config import EntityType
from caisse_contracts.session_api import CloseOperationIn, CountIn, MovementOperationIn, OpenOperationIn
from caisse_contracts.sync import OfflineSale
from caisse_contracts.tills import BasketContent, RefundIn
from hw_proxy.domain.card_payments import (
    CardCode,
    CardKind,
    CardOperation,
    CardResult,
    CardStatus,
    card_payment_problems,
    card_refund_problems,
)
from hw_proxy.domain.cash_session import LocalSession, SessionState
from hw_proxy.domain.config_cache import CachedItem, EntityKey, RemovedReason, StreamState
from hw_proxy.domain.errors import (
    BasketRefusedError,
    CardOperationConflictError,
    CreditNoteConflictError,
    FieldError,
    NotFoundError,
    NotReadyError,
    StaleBasketError,
)
from hw_proxy.domain.login import PinState
from hw_proxy.domain.outbox import EntryKind, EntryState, OutboxEntry, QueueCounts, Settled
from hw_proxy.domain.printing import JobKind, JobState, NewPrintJob, PrintJob
from hw_proxy.domain.sales import BasketState, FinalizedSale, Reprint, StoredBasket

T = TypeVar("T")

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        create table config_item (
            entity_type text not null,
            entity_id text not null,
            version integer not null,
            item text,
            removed text check (removed in ('deleted', 'moved')),
            position integer,
            awaiting_snapshot integer not null default 0 check (awaiting_snapshot in (0, 1)),
            reset_seen integer not null default 0 check (reset_seen in (0, 1)),
            received_at text not null,
            primary key (entity_type, entity_id)
        ) without rowid
        """,
        """
        create table stream_state (
            id integer primary key check (id = 1),
            position integer,
            last_message_at text,
            last_synced_at text,
            reset_in_progress integer not null default 0 check (reset_in_progress in (0, 1))
        )
        """,
        "insert into stream_state (id) values (1)",
    ),
    (
        # The till's identity: its serial here, its secret in a file of its own (mode 0600, `adapters/enrolment.py`).
        """
        create table enrolment (
            id integer primary key check (id = 1),
            serial text not null,
            enrolled_at text not null
        )
        """,
        # A cashier's PIN as this till learned it at an online login: its own salted scrypt hash, and the lock.
        """
        create table operator_pin (
            operator_id text primary key,
            pin_hash text not null,
            failed_pins integer not null default 0,
            locked_until text,
            learned_at text not null
        ) without rowid
        """,
        # The till's cash sessions as it opened and closed them (at most one open).
        """
        create table cash_session (
            session_id text primary key,
            status text not null check (status in ('open', 'closed')),
            opened_at text not null,
            operator_ids text not null,
            float_counts text not null,
            first_ticket_number integer not null,
            closed_at text,
            closing text
        ) without rowid
        """,
        "create unique index cash_session_one_open on cash_session (status) where status = 'open'",
        """
        create table cash_movement (
            movement_id text primary key,
            session_id text not null references cash_session (session_id),
            kind text not null check (kind in ('withdrawal', 'addition')),
            amount integer not null check (amount > 0),
            reason text not null,
            operator_id text not null,
            occurred_at text not null
        ) without rowid
        """,
        # The last ticket number of the till's POS: allocated in the sale's own transaction, so never reused nor skipped.
        """
        create table ticket_counter (
            id integer primary key check (id = 1),
            last_number integer not null check (last_number >= 0)
        )
        """,
        "insert into ticket_counter (id, last_number) values (1, 0)",
        # The basket being rung up, kept on every change (the latest version wins).
        """
        create table basket (
            basket_id text primary key,
            version integer not null check (version >= 1),
            status text not null check (status in ('open', 'finalized')),
            content text not null,
            ticket_id text,
            updated_at text not null
        ) without rowid
        """,
        # A sale finalized on the till: immutable once written, with the ticket and the sale as the sync sends it.
        """
        create table sale (
            ticket_id text primary key,
            number integer not null unique check (number >= 1),
            session_id text not null,
            basket_id text,
            finalized_at text not null,
            sale text not null,
            ticket text not null
        ) without rowid
        """,
        # What the till owes the central side, in the order it happened: session operations and sales.
        """
        create table outbox (
            seq integer primary key autoincrement,
            kind text not null check (kind in ('session', 'sale')),
            ref text not null,
            payload text not null,
            enqueued_at text not null,
            attempts integer not null default 0,
            state text not null default 'pending' check (state in ('pending', 'sent', 'aside')),
            outcome text,
            reason text,
            done_at text
        )
        """,
        "create index outbox_pending on outbox (seq) where state = 'pending'",
    ),
    (
        # How many times each sale's receipt was printed again: every reprint is a duplicate with its counter.
        """
        create table reprint (
            ticket_id text primary key references sale (ticket_id),
            copies integer not null check (copies >= 1),
            last_at text not null
        ) without rowid
        """,
        # A credit note made on the till: immutable, numbered from the same counter as the sales.
        """
        create table credit_note (
            ticket_id text primary key,
            number integer not null unique check (number >= 1),
            original_ticket_id text not null references sale (ticket_id),
            finalized_at text not null,
            ticket text not null
        ) without rowid
        """,
        "create index credit_note_of_sale on credit_note (original_ticket_id, number)",
        # The queue takes credit notes too (sent through `POST /v1/tickets`, after the sale they correct).
        """
        create table outbox_v3 (
            seq integer primary key autoincrement,
            kind text not null check (kind in ('session', 'sale', 'credit_note')),
            ref text not null,
            payload text not null,
            enqueued_at text not null,
            attempts integer not null default 0,
            state text not null default 'pending' check (state in ('pending', 'sent', 'aside')),
            outcome text,
            reason text,
            done_at text
        )
        """,
        "insert into outbox_v3 select * from outbox",
        "drop table outbox",
        "alter table outbox_v3 rename to outbox",
        "create index outbox_pending on outbox (seq) where state = 'pending'",
    ),
    (
        # How many times each credit note's receipt was printed again: a duplicate with its own counter, as a sale's.
        """
        create table credit_note_reprint (
            ticket_id text primary key references credit_note (ticket_id),
            copies integer not null check (copies >= 1),
            last_at text not null
        ) without rowid
        """,
    ),
    (
        # What the till must print or do on its printer, in order; written in the transaction of what it prints.
        """
        create table print_job (
            id integer primary key autoincrement,
            kind text not null check (kind in ('receipt', 'credit_note', 'duplicate', 'deposit_slip', 'drawer')),
            ref text not null,
            payload text not null,
            state text not null default 'pending'
                check (state in ('pending', 'printing', 'printed', 'no_printer', 'abandoned')),
            attempts integer not null default 0,
            last_reason text,
            interrupted integer not null default 0 check (interrupted in (0, 1)),
            created_at text not null,
            updated_at text not null,
            printed_at text
        )
        """,
        "create index print_job_waiting on print_job (id) where state in ('pending', 'printing')",
    ),
    (
        # A card payment or refund through the terminal: written pending BEFORE the terminal is called, settled by
        # its answer or by the cashier (confirm / void). At most one pending at a time: the till has one terminal.
        """
        create table card_operation (
            operation_id text primary key,
            kind text not null check (kind in ('payment', 'refund')),
            basket_id text,
            ticket_id text,
            amount integer not null check (amount > 0),
            currency text not null,
            status text not null check (status in ('pending', 'approved', 'declined', 'voided')),
            code text not null,
            authorisation text,
            masked_pan text,
            contactless integer check (contactless in (0, 1)),
            slip_text text,
            failure text,
            confirmed_by_cashier integer not null default 0 check (confirmed_by_cashier in (0, 1)),
            claimed_by text,
            created_at text not null,
            done_at text,
            check ((kind = 'payment' and basket_id is not null) or (kind = 'refund' and ticket_id is not null))
        ) without rowid
        """,
        "create unique index card_operation_one_pending on card_operation (status) where status = 'pending'",
        "create index card_operation_of_basket on card_operation (basket_id) where basket_id is not null",
        "create index card_operation_of_sale on card_operation (ticket_id) where ticket_id is not null",
    ),
)
"""The schema, step by step; a step is never edited once released, a change is a new step."""

_ITEM_COLUMNS: Final = "entity_type, entity_id, version, item, removed, position, awaiting_snapshot"


class FaultInjection:
    """Tests only: SIGKILL this process at a chosen point of its Nth write of a kind, to prove that a till killed
    at the worst moment keeps a consistent store and loses, reuses or sends twice nothing.

    The points: `message` (a stream message stored, before the commit), `sale` (a sale numbered and stored, before
    the commit), `sale:committed` (a sale committed, before the cashier has the answer), `credit_note` and
    `credit_note:committed` (the same for a credit note, or one asked again), `answer` (pos-api's answer that a sale,
    a credit note or a session operation is in, being recorded as sent: after pos-api wrote it, before the commit),
    `card` (the card terminal's answer being recorded: after the terminal charged the card, before the commit)."""

    def __init__(
        self,
        kill_after_messages: int | None,
        kill_after_sales: int | None = None,
        *,
        kill_after_committed_sales: int | None = None,
        kill_after_answers: int | None = None,
        kill_after_credit_notes: int | None = None,
        kill_after_committed_credit_notes: int | None = None,
        kill_after_card_answers: int | None = None,
    ) -> None:
        self._left = {
            "message": kill_after_messages,
            "sale": kill_after_sales,
            "sale:committed": kill_after_committed_sales,
            "credit_note": kill_after_credit_notes,
            "credit_note:committed": kill_after_committed_credit_notes,
            "answer": kill_after_answers,
            "card": kill_after_card_answers,
        }

    def at(self, point: str) -> None:
        """Count one pass at `point`; at the Nth the process is killed there and then."""
        left = self._left.get(point)
        if left is None:
            return
        self._left[point] = left - 1
        if left == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_commit(self, point: str) -> None:
        self.at(point)

    def after_commit(self, point: str) -> None:
        self.at(f"{point}:committed")


def migrate(conn: sqlite3.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the steps the file lacks, each in one transaction with its `user_version`; returns the version."""
    current = int(conn.execute("pragma user_version").fetchone()[0])
    if current > len(steps):
        raise RuntimeError(f"the local store is at schema {current}, newer than this hw-proxy ({len(steps)})")
    for number, step in enumerate(steps[current:], start=current + 1):
        conn.execute("begin immediate")
        try:
            for statement in step:
                conn.execute(statement)
            conn.execute(f"pragma user_version = {number}")
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
    return len(steps)


def _row_to_item(row: tuple[object, ...]) -> CachedItem:
    entity_type, entity_id, version, item, removed, position, awaiting = row
    return CachedItem(
        EntityKey(EntityType(str(entity_type)), UUID(str(entity_id))),
        int(cast(int, version)),
        json.loads(str(item)) if item is not None else None,
        removed=cast(RemovedReason | None, removed),
        position=cast(int | None, position),
        awaiting_snapshot=bool(awaiting),
    )


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value is not None else None


class LocalStore:
    """The SQLite file of the till: the config cache and its stream state (the `ConfigStore` port)."""

    def __init__(self, path: str, *, faults: FaultInjection | None = None) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._faults = faults or FaultInjection(None)
        self._items: tuple[CachedItem, ...] | None = None
        self._config_changes = 0

    async def open(self) -> None:
        """Open the file (made if missing), switch it to WAL with full syncs, and migrate its schema."""
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await asyncio.to_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are the explicit `begin immediate … commit` below, nothing implicit.
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=full")
        conn.execute("pragma busy_timeout=5000")
        migrate(conn)
        return conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            async with self._lock:
                await asyncio.to_thread(conn.close)

    async def _call(self, work: Callable[[sqlite3.Connection], T], *, in_thread: bool = False) -> T:
        """`work` on the connection, one caller at a time. A read runs right here: WAL readers never wait for a
        writer and the file's pages are in memory, so it takes microseconds, less than the hop to a thread and back.
        A transaction (`in_thread`) runs in a thread: its commit waits for the disk, which the event loop must not."""
        if self._conn is None:
            raise RuntimeError("the local store is not open")
        conn = self._conn
        async with self._lock:
            if not in_thread:
                return work(conn)
            # A cancelled caller (the app stopping) still waits for the thread: the connection is never closed,
            # nor used by the next caller, while a transaction runs on it.
            running = asyncio.ensure_future(asyncio.to_thread(work, conn))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait({running})
                raise

    async def _transaction(self, work: Callable[[sqlite3.Connection], T], *, fault: str | None = None) -> T:
        """`work` in one transaction, committed whole or rolled back whole; `fault` names the fault-injection
        point it counts for (`message`: a stream message, `sale`: a finalized sale, `credit_note`: a credit note,
        `answer`: pos-api's answer recorded), before its commit and, as `<fault>:committed`, after it."""

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("begin immediate")
            try:
                result = work(conn)
                if fault is not None:
                    self._faults.before_commit(fault)
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")
            if fault is not None:
                self._faults.after_commit(fault)
            return result

        return await self._call(run, in_thread=True)

    async def answers(self) -> bool:
        """The readiness probe: the file answers a query."""
        return await self._call(lambda conn: conn.execute("select 1").fetchall()) == [(1,)]

    async def schema_version(self) -> int:
        """The schema version of the file (`PRAGMA user_version`)."""
        return await self.pragma("user_version")

    async def pragma(self, name: str) -> int:
        """An integer pragma of the open connection (`user_version`, `synchronous`…), for the checks and the tests."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma: {name!r}")
        return await self._call(lambda conn: int(conn.execute(f"pragma {name}").fetchone()[0]))

    async def stream_state(self) -> StreamState:
        def read(conn: sqlite3.Connection) -> StreamState:
            row = conn.execute(
                "select position, last_message_at, last_synced_at, reset_in_progress from stream_state"
            ).fetchone()
            return StreamState(row[0], _time(row[1]), _time(row[2]), bool(row[3]))

        return await self._call(read)

    async def cached(self, key: EntityKey) -> CachedItem | None:
        def read(conn: sqlite3.Connection) -> CachedItem | None:
            row = conn.execute(
                f"select {_ITEM_COLUMNS} from config_item where entity_type = ? and entity_id = ?",  # noqa: S608
                (key.entity_type.value, str(key.entity_id)),
            ).fetchone()
            return _row_to_item(row) if row is not None else None

        return await self._call(read)

    async def items(self) -> Sequence[CachedItem]:
        """Every row held, in entity order: the same tuple until a stream message changes the cache (this store is
        the file's only writer), so that what is parsed from it can be kept as long (`domain.config_views`)."""
        if self._items is not None:
            return self._items
        changes = self._config_changes

        def read(conn: sqlite3.Connection) -> tuple[CachedItem, ...]:
            rows = conn.execute(
                f"select {_ITEM_COLUMNS} from config_item order by entity_type, entity_id"  # noqa: S608
            ).fetchall()
            return tuple(_row_to_item(row) for row in rows)

        items = await self._call(read)
        if changes == self._config_changes:  # no change committed meanwhile
            self._items = items
        return items

    def _config_changed(self) -> None:
        self._items = None
        self._config_changes += 1

    async def awaiting_snapshot(self) -> list[EntityKey]:
        def read(conn: sqlite3.Connection) -> list[EntityKey]:
            rows = conn.execute(
                "select entity_type, entity_id from config_item where awaiting_snapshot = 1"
                " order by entity_type, entity_id"
            ).fetchall()
            return [EntityKey(EntityType(t), UUID(i)) for t, i in rows]

        return await self._call(read)

    async def record(
        self, write: CachedItem | None, *, position: int | None, at: datetime, seen_in_reset: bool
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if write is not None:
                conn.execute(
                    f"insert or replace into config_item ({_ITEM_COLUMNS}, reset_seen, received_at)"  # noqa: S608
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        write.key.entity_type.value,
                        str(write.key.entity_id),
                        write.version,
                        json.dumps(write.item, separators=(",", ":")) if write.item is not None else None,
                        write.removed,
                        write.position,
                        int(write.awaiting_snapshot),
                        int(seen_in_reset),
                        at.isoformat(),
                    ),
                )
            conn.execute(
                "update stream_state set last_message_at = ?,"
                " position = case when ? is null then position else max(coalesce(position, -1), ?) end",
                (at.isoformat(), position, position),
            )

        try:
            await self._transaction(work, fault="message")
        finally:
            if write is not None:
                self._config_changed()

    async def begin_reset(self, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("update config_item set reset_seen = 0")
            conn.execute("update stream_state set reset_in_progress = 1, last_message_at = ?", (at.isoformat(),))

        try:
            await self._transaction(work, fault="message")
        finally:
            self._config_changed()

    async def finish_reset(self, position: int | None, at: datetime) -> int:
        def work(conn: sqlite3.Connection) -> int:
            dropped = conn.execute("delete from config_item where reset_seen = 0").rowcount
            conn.execute("update config_item set reset_seen = 0")
            conn.execute(
                "update stream_state set position = ?, reset_in_progress = 0, last_message_at = ?, last_synced_at = ?",
                (position, at.isoformat(), at.isoformat()),
            )
            return int(dropped)

        try:
            return await self._transaction(work, fault="message")
        finally:
            self._config_changed()

    async def synced(self, position: int | None, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update stream_state set last_message_at = ?, last_synced_at = ?,"
                " position = case when ? is null then position else max(coalesce(position, -1), ?) end",
                (at.isoformat(), at.isoformat(), position, position),
            )

        await self._transaction(work, fault="message")


def _uuid(value: object) -> UUID:
    return UUID(str(value))


def _counts(raw: object) -> tuple[CountIn, ...]:
    return tuple(CountIn.model_validate(c) for c in json.loads(str(raw)))


def _session(row: tuple[object, ...]) -> LocalSession:
    session_id, status, opened_at, operators, float_counts, first, closed_at, closing = row
    return LocalSession(
        session_id=_uuid(session_id),
        status=cast(SessionState, status),
        opened_at=datetime.fromisoformat(str(opened_at)),
        operator_ids=tuple(UUID(o) for o in json.loads(str(operators))),
        float_counts=_counts(float_counts),
        first_ticket_number=int(cast(int, first)),
        closed_at=_time(closed_at),
        closing=json.loads(str(closing)) if closing is not None else None,
    )


_SESSION_COLUMNS: Final = (
    "session_id, status, opened_at, operator_ids, float_counts, first_ticket_number, closed_at, closing"
)
_OUTBOX_COLUMNS: Final = "seq, kind, ref, payload, enqueued_at, attempts, state, outcome, reason"


def _entry(row: tuple[object, ...]) -> OutboxEntry:
    seq, kind, ref, payload, enqueued_at, attempts, state, outcome, reason = row
    return OutboxEntry(
        seq=int(cast(int, seq)),
        kind=cast(EntryKind, kind),
        ref=str(ref),
        payload=str(payload),
        enqueued_at=datetime.fromisoformat(str(enqueued_at)),
        attempts=int(cast(int, attempts)),
        state=cast(EntryState, state),
        outcome=cast(str | None, outcome),
        reason=cast(str | None, reason),
    )


def _enqueue(conn: sqlite3.Connection, kind: EntryKind, ref: str, payload: str, at: datetime) -> None:
    conn.execute(
        "insert into outbox (kind, ref, payload, enqueued_at) values (?, ?, ?, ?)", (kind, ref, payload, at.isoformat())
    )


_JOB_COLUMNS: Final = "id, kind, ref, payload, state, attempts, last_reason, interrupted, created_at, printed_at"


def _job(row: tuple[object, ...]) -> PrintJob:
    ident, kind, ref, payload, state, attempts, reason, interrupted, created_at, printed_at = row
    return PrintJob(
        id=int(cast(int, ident)),
        kind=cast(JobKind, kind),
        ref=str(ref),
        payload=str(payload),
        state=cast(JobState, state),
        attempts=int(cast(int, attempts)),
        last_reason=cast(str | None, reason),
        interrupted=bool(interrupted),
        created_at=datetime.fromisoformat(str(created_at)),
        printed_at=_time(printed_at),
    )


def _add_job(conn: sqlite3.Connection, job: NewPrintJob, at: datetime) -> PrintJob:
    row = conn.execute(
        f"insert into print_job (kind, ref, payload, created_at, updated_at) values (?, ?, ?, ?, ?)"  # noqa: S608
        f" returning {_JOB_COLUMNS}",
        (job.kind, job.ref, job.payload, at.isoformat(), at.isoformat()),
    ).fetchone()
    return _job(row)


_CARD_COLUMNS: Final = (
    "operation_id, kind, basket_id, ticket_id, amount, currency, status, code, authorisation, masked_pan,"
    " contactless, slip_text, failure, confirmed_by_cashier, claimed_by, created_at, done_at"
)


def _card(row: tuple[object, ...]) -> CardOperation:
    (
        operation_id,
        kind,
        basket_id,
        ticket_id,
        amount,
        currency,
        status,
        code,
        authorisation,
        masked_pan,
        contactless,
        slip,
        failure,
        confirmed,
        claimed_by,
        created_at,
        done_at,
    ) = row
    return CardOperation(
        operation_id=_uuid(operation_id),
        kind=cast(CardKind, kind),
        amount=int(cast(int, amount)),
        currency=str(currency),
        status=cast(CardStatus, status),
        code=CardCode(str(code)),
        created_at=datetime.fromisoformat(str(created_at)),
        basket_id=_uuid(basket_id) if basket_id is not None else None,
        ticket_id=_uuid(ticket_id) if ticket_id is not None else None,
        authorisation=cast(str | None, authorisation),
        masked_pan=cast(str | None, masked_pan),
        contactless=bool(contactless) if contactless is not None else None,
        slip_text=cast(str | None, slip),
        failure=cast(str | None, failure),
        confirmed_by_cashier=bool(confirmed),
        claimed_by=_uuid(claimed_by) if claimed_by is not None else None,
        done_at=_time(done_at),
    )


def _card_operations(conn: sqlite3.Connection, where: str, params: Sequence[object]) -> list[CardOperation]:
    rows = conn.execute(
        f"select {_CARD_COLUMNS} from card_operation {where} order by created_at, operation_id",  # noqa: S608
        tuple(params),
    ).fetchall()
    return [_card(r) for r in rows]


def _check_card_payments(conn: sqlite3.Connection, done: FinalizedSale, *, card_terminal: bool) -> None:
    """A finalize's card rule, inside its transaction: nothing pending on the basket, and its card payments exactly
    the ones the terminal approved for it (`card_payment_problems`)."""
    operations = (
        _card_operations(conn, "where basket_id = ?", (str(done.basket_id),)) if done.basket_id is not None else []
    )
    pending = [op for op in operations if op.status == "pending"]
    if pending:
        raise CardOperationConflictError(
            "a card payment of this basket is pending on the terminal: confirm or void it first",
            pending[0].operation_id,
        )
    if not card_terminal and not operations:
        return  # a POS without a terminal takes card payments typed in from a standalone one
    problems = card_payment_problems(done.sale.payments, operations)
    if problems:
        raise BasketRefusedError(problems)


def claim_card_refunds(
    conn: sqlite3.Connection, original_id: UUID, credit_note_id: UUID, refunds: Sequence[RefundIn]
) -> None:
    """A credit note's card rule, to be called inside the transaction that stores it: each card refund must be one
    the terminal approved for the sale (`card_refund_problems`, else `BasketRefusedError` naming the field); they are
    then marked as this credit note's, so that one refund never pays back two credit notes."""
    operations = _card_operations(conn, "where ticket_id = ?", (str(original_id),))
    problems = card_refund_problems(refunds, operations, credit_note_id)
    if problems:
        raise BasketRefusedError(problems)
    for refund in refunds:
        if refund.method.value == "card":
            conn.execute(
                "update card_operation set claimed_by = ? where operation_id = ?",
                (str(credit_note_id), str(refund.payment_id)),
            )


class TillRecords(LocalStore):
    """The same SQLite file, with the till's own records besides its config cache: enrolment, cashiers' PINs,
    cash sessions, baskets, sales, the ticket counter and the outbox (the `TillStore` port)."""

    # enrolment

    async def enrolled_serial(self) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("select serial from enrolment").fetchone()
            return str(row[0]) if row else None

        return await self._call(read)

    async def enrol(self, serial: str, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "insert into enrolment (id, serial, enrolled_at) values (1, ?, ?)"
                " on conflict (id) do update set serial = excluded.serial, enrolled_at = excluded.enrolled_at"
                " where enrolment.serial <> excluded.serial",
                (serial, at.isoformat()),
            )

        await self._transaction(work)

    # cashiers' PINs

    async def pin_state(self, operator_id: UUID) -> PinState | None:
        def read(conn: sqlite3.Connection) -> PinState | None:
            row = conn.execute(
                "select pin_hash, failed_pins, locked_until from operator_pin where operator_id = ?",
                (str(operator_id),),
            ).fetchone()
            return PinState(str(row[0]), int(row[1]), _time(row[2])) if row else None

        return await self._call(read)

    async def learn_pin(self, operator_id: UUID, pin_hash: str, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "insert or replace into operator_pin (operator_id, pin_hash, failed_pins, locked_until, learned_at)"
                " values (?, ?, 0, null, ?)",
                (str(operator_id), pin_hash, at.isoformat()),
            )

        await self._transaction(work)

    async def pin_tried(self, operator_id: UUID, *, failed_pins: int, locked_until: datetime | None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update operator_pin set failed_pins = ?, locked_until = ? where operator_id = ?",
                (failed_pins, locked_until.isoformat() if locked_until else None, str(operator_id)),
            )

        await self._transaction(work)

    # cash sessions

    async def open_session(self) -> LocalSession | None:
        def read(conn: sqlite3.Connection) -> LocalSession | None:
            row = conn.execute(
                f"select {_SESSION_COLUMNS} from cash_session where status = 'open'"  # noqa: S608
            ).fetchone()
            return _session(row) if row else None

        return await self._call(read)

    async def session(self, session_id: UUID) -> LocalSession | None:
        def read(conn: sqlite3.Connection) -> LocalSession | None:
            row = conn.execute(
                f"select {_SESSION_COLUMNS} from cash_session where session_id = ?",  # noqa: S608
                (str(session_id),),
            ).fetchone()
            return _session(row) if row else None

        return await self._call(read)

    async def movements(self, session_id: UUID) -> list[MovementOperationIn]:
        def read(conn: sqlite3.Connection) -> list[MovementOperationIn]:
            rows = conn.execute(
                "select payload from outbox where kind = 'session' and ref in"
                " (select movement_id from cash_movement where session_id = ?) order by seq",
                (str(session_id),),
            ).fetchall()
            return [MovementOperationIn.model_validate_json(r[0]) for r in rows]

        return await self._call(read)

    async def record_open(self, operation: OpenOperationIn, at: datetime) -> LocalSession:
        """The session and its queued open, in one transaction; the first ticket number is the counter's next."""

        def work(conn: sqlite3.Connection) -> LocalSession:
            last = int(conn.execute("select last_number from ticket_counter").fetchone()[0])
            first = operation.first_ticket_number or last + 1
            sent = operation.model_copy(update={"first_ticket_number": first})
            conn.execute(
                f"insert into cash_session ({_SESSION_COLUMNS}) values (?, 'open', ?, ?, ?, ?, null, null)",  # noqa: S608
                (
                    str(operation.session_id),
                    operation.opened_at.isoformat(),
                    json.dumps([str(o) for o in operation.operator_ids]),
                    json.dumps([c.model_dump() for c in operation.float_counts]),
                    first,
                ),
            )
            _enqueue(conn, "session", str(operation.session_id), sent.model_dump_json(), at)
            row = conn.execute(
                f"select {_SESSION_COLUMNS} from cash_session where session_id = ?",  # noqa: S608
                (str(operation.session_id),),
            ).fetchone()
            return _session(row)

        return await self._transaction(work)

    async def record_movement(
        self, operation: MovementOperationIn, at: datetime, print_job: NewPrintJob | None = None
    ) -> None:
        """The movement and its queued operation, and the drawer's opening (`print_job`), in one transaction."""

        def work(conn: sqlite3.Connection) -> None:
            if print_job is not None:
                _add_job(conn, print_job, at)
            conn.execute(
                "insert into cash_movement (movement_id, session_id, kind, amount, reason, operator_id, occurred_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(operation.movement_id),
                    str(operation.session_id),
                    operation.kind,
                    operation.amount,
                    operation.reason,
                    str(operation.operator_id),
                    operation.occurred_at.isoformat(),
                ),
            )
            _enqueue(conn, "session", str(operation.movement_id), operation.model_dump_json(), at)

        await self._transaction(work)

    async def record_close(self, operation: CloseOperationIn, closing: dict[str, Any], at: datetime) -> None:
        """The session closed and its close queued, in one transaction; `last_ticket_number` is the counter's."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update cash_session set status = 'closed', closed_at = ?, closing = ? where session_id = ?",
                (operation.closed_at.isoformat(), json.dumps(closing), str(operation.session_id)),
            )
            _enqueue(conn, "session", f"close:{operation.session_id}", operation.model_dump_json(), at)

        await self._transaction(work)

    # numbers, baskets and sales

    async def last_number(self) -> int:
        return await self._call(lambda conn: int(conn.execute("select last_number from ticket_counter").fetchone()[0]))

    async def resume_numbering(self, after: int) -> int:
        """Move the last number up to `after`, never down, in one transaction; the last number now."""

        def work(conn: sqlite3.Connection) -> int:
            conn.execute("update ticket_counter set last_number = max(last_number, ?)", (after,))
            return int(conn.execute("select last_number from ticket_counter").fetchone()[0])

        return await self._transaction(work)

    async def basket(self, basket_id: UUID) -> StoredBasket | None:
        def read(conn: sqlite3.Connection) -> StoredBasket | None:
            row = conn.execute(
                "select version, status, content, ticket_id, updated_at from basket where basket_id = ?",
                (str(basket_id),),
            ).fetchone()
            if row is None:
                return None
            return StoredBasket(
                basket_id,
                int(row[0]),
                cast(BasketState, row[1]),
                BasketContent.model_validate_json(row[2]),
                UUID(row[3]) if row[3] else None,
                datetime.fromisoformat(row[4]),
            )

        return await self._call(read)

    async def save_basket(self, basket_id: UUID, version: int, content: BasketContent, at: datetime) -> int:
        """Write the basket over `version` (0: a new one); its new version, or `StaleBasketError`."""

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("select version, status from basket where basket_id = ?", (str(basket_id),)).fetchone()
            current = int(row[0]) if row else 0
            if current != version:
                raise StaleBasketError(basket_id, version, current)
            if row is not None and row[1] != "open":
                raise NotReadyError("finalized", f"basket {basket_id} is finalized: a sale is never changed")
            conn.execute(
                "insert into basket (basket_id, version, status, content, updated_at) values (?, ?, 'open', ?, ?)"
                " on conflict (basket_id) do update set version = excluded.version, content = excluded.content,"
                " updated_at = excluded.updated_at",
                (str(basket_id), current + 1, content.model_dump_json(), at.isoformat()),
            )
            return current + 1

        return await self._transaction(work)

    async def finalize(
        self,
        make: Callable[[int], FinalizedSale],
        *,
        basket: tuple[UUID, int] | None,
        at: datetime,
        print_job: Callable[[FinalizedSale], NewPrintJob] | None = None,
        card_terminal: bool = False,
    ) -> FinalizedSale:
        """Number and store a sale in ONE transaction: the counter's next number, the sale, the basket marked
        finalized, the sale queued for the central side and its receipt's print job (`print_job`, made from the
        sale) all commit together, or none does. `make` builds the sale for the number it is given (pure);
        `basket` is the basket and the version it was made from.

        With a card terminal on the POS (`card_terminal`), or any card operation made for the basket, its card
        payments must be the ones the terminal approved for it, and none may be pending (checked in the same
        transaction, so that no payment slips in between)."""

        def work(conn: sqlite3.Connection) -> FinalizedSale:
            if basket is not None:
                basket_id, version = basket
                row = conn.execute(
                    "select version, status from basket where basket_id = ?", (str(basket_id),)
                ).fetchone()
                current = int(row[0]) if row else 0
                if row is not None and row[1] != "open":
                    raise NotReadyError("finalized", f"basket {basket_id} is finalized already")
                if current != version:
                    raise StaleBasketError(basket_id, version, current)
            number = int(conn.execute("select last_number from ticket_counter").fetchone()[0]) + 1
            done = make(number)
            _check_card_payments(conn, done, card_terminal=card_terminal)
            sale_json = done.sale.model_dump_json()
            conn.execute(
                "insert into sale (ticket_id, number, session_id, basket_id, finalized_at, sale, ticket)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(done.sale.ticket_id),
                    number,
                    str(done.sale.session_id),
                    str(done.basket_id) if done.basket_id else None,
                    done.sale.finalized_at.isoformat(),
                    sale_json,
                    done.ticket.model_dump_json(),
                ),
            )
            conn.execute("update ticket_counter set last_number = ?", (number,))
            if done.basket_id is not None:
                conn.execute(
                    "insert into basket (basket_id, version, status, content, ticket_id, updated_at)"
                    " values (?, 1, 'finalized', '{}', ?, ?) on conflict (basket_id) do update set"
                    " status = 'finalized', ticket_id = excluded.ticket_id, updated_at = excluded.updated_at",
                    (str(done.basket_id), str(done.sale.ticket_id), at.isoformat()),
                )
            _enqueue(conn, "sale", str(done.sale.ticket_id), sale_json, at)
            if print_job is not None:
                _add_job(conn, print_job(done), at)
            return done

        return await self._transaction(work, fault="sale")

    async def sale(self, ticket_id: UUID) -> tuple[FinalizedSale, OutboxEntry | None] | None:
        def read(conn: sqlite3.Connection) -> tuple[FinalizedSale, OutboxEntry | None] | None:
            row = conn.execute(
                "select sale, ticket, basket_id from sale where ticket_id = ?", (str(ticket_id),)
            ).fetchone()
            if row is None:
                return None
            entry = conn.execute(
                f"select {_OUTBOX_COLUMNS} from outbox where kind = 'sale' and ref = ?",  # noqa: S608
                (str(ticket_id),),
            ).fetchone()
            done = FinalizedSale(
                OfflineSale.model_validate_json(row[0]),
                TicketFinalizedV1.model_validate_json(row[1]),
                UUID(row[2]) if row[2] else None,
            )
            return done, _entry(entry) if entry else None

        return await self._call(read)

    async def reprint(
        self, ticket_id: UUID, at: datetime, print_job: Callable[[Reprint], NewPrintJob] | None = None
    ) -> Reprint | None:
        """Count one more reprint of the receipt of a sale or a credit note of this till, with its print job, in one
        transaction: the ticket and its duplicate's number (1 for the first reprint; a counter per ticket), or None
        when the till holds no such ticket (nothing counted)."""

        def printed(again: Reprint, conn: sqlite3.Connection) -> Reprint:
            if print_job is not None:
                _add_job(conn, print_job(again), at)
            return again

        def work(conn: sqlite3.Connection) -> Reprint | None:
            row = conn.execute("select ticket from sale where ticket_id = ?", (str(ticket_id),)).fetchone()
            if row is not None:
                copies = conn.execute(
                    "insert into reprint (ticket_id, copies, last_at) values (?, 1, ?) on conflict (ticket_id)"
                    " do update set copies = copies + 1, last_at = excluded.last_at returning copies",
                    (str(ticket_id), at.isoformat()),
                ).fetchone()[0]
                return printed(Reprint(TicketFinalizedV1.model_validate_json(row[0]), int(copies)), conn)
            note = conn.execute(
                "select c.ticket, s.number from credit_note c join sale s on s.ticket_id = c.original_ticket_id"
                " where c.ticket_id = ?",
                (str(ticket_id),),
            ).fetchone()
            if note is None:
                return None
            copies = conn.execute(
                "insert into credit_note_reprint (ticket_id, copies, last_at) values (?, 1, ?)"
                " on conflict (ticket_id) do update set copies = copies + 1, last_at = excluded.last_at"
                " returning copies",
                (str(ticket_id), at.isoformat()),
            ).fetchone()[0]
            return printed(Reprint(TicketFinalizedV1.model_validate_json(note[0]), int(copies), int(note[1])), conn)

        return await self._transaction(work)

    async def credit(
        self,
        original_id: UUID,
        credit_note_id: UUID,
        make: Callable[[int, TicketFinalizedV1, list[TicketFinalizedV1]], TicketFinalizedV1],
        at: datetime,
        print_job: Callable[[TicketFinalizedV1, int, tuple[str, ...]], NewPrintJob] | None = None,
        *,
        refunds: Sequence[RefundIn] = (),
        card_terminal: bool = False,
    ) -> tuple[TicketFinalizedV1, int, bool]:
        """Number and store a credit note on a sale of this till in ONE transaction: the counter's next number, the
        credit note made by `make` (pure: the number, the sale, its earlier credit notes), the credit note queued,
        and its print job (`print_job`: the credit note, its sale's number and the slips of its card refunds). The
        credit note, the sale's number, and whether it was made before (the same id: answered again, nothing
        written). A sale the till does not hold is `NotFoundError`.

        With a card terminal on the POS (`card_terminal`), or any card refund made on the sale, the card money of
        `refunds` must be refunds the terminal approved for the sale and no other credit note claimed
        (`claim_card_refunds`): they become this credit note's in the same transaction."""

        def work(conn: sqlite3.Connection) -> tuple[TicketFinalizedV1, int, bool]:
            row = conn.execute("select ticket, number from sale where ticket_id = ?", (str(original_id),)).fetchone()
            if row is None:
                raise NotFoundError("sale", original_id)
            original = TicketFinalizedV1.model_validate_json(row[0])
            made = conn.execute(
                "select ticket, original_ticket_id from credit_note where ticket_id = ?", (str(credit_note_id),)
            ).fetchone()
            if made is not None:
                if made[1] != str(original_id):
                    raise CreditNoteConflictError([("credit_note_id", "is the id of a credit note on another sale")])
                return TicketFinalizedV1.model_validate_json(made[0]), int(row[1]), True
            sale = conn.execute("select number from sale where ticket_id = ?", (str(credit_note_id),)).fetchone()
            if sale is not None:
                raise FieldError("credit_note_id", f"is the id of sale number {sale[0]}: a credit note has its own")
            earlier = [
                TicketFinalizedV1.model_validate_json(r[0])
                for r in conn.execute(
                    "select ticket from credit_note where original_ticket_id = ? order by number", (str(original_id),)
                )
            ]
            refunded = conn.execute(
                "select 1 from card_operation where kind = 'refund' and ticket_id = ? limit 1", (str(original_id),)
            ).fetchone()
            if card_terminal or refunded is not None:
                claim_card_refunds(conn, original_id, credit_note_id, refunds)
            number = int(conn.execute("select last_number from ticket_counter").fetchone()[0]) + 1
            ticket = make(number, original, earlier)
            ticket_json = ticket.model_dump_json()
            conn.execute(
                "insert into credit_note (ticket_id, number, original_ticket_id, finalized_at, ticket)"
                " values (?, ?, ?, ?, ?)",
                (str(ticket.ticket_id), number, str(original_id), ticket.finalized_at.isoformat(), ticket_json),
            )
            conn.execute("update ticket_counter set last_number = ?", (number,))
            _enqueue(conn, "credit_note", str(ticket.ticket_id), ticket_json, at)
            if print_job is not None:
                slips = conn.execute(
                    "select slip_text from card_operation where kind = 'refund' and claimed_by = ?"
                    " and slip_text is not null order by created_at, operation_id",
                    (str(credit_note_id),),
                ).fetchall()
                _add_job(conn, print_job(ticket, int(row[1]), tuple(str(r[0]) for r in slips)), at)
            return ticket, int(row[1]), False

        return await self._transaction(work, fault="credit_note")

    async def entry_of(self, kind: EntryKind, ref: UUID) -> OutboxEntry | None:
        """The queue entry of a sale or credit note, if it was queued."""

        def read(conn: sqlite3.Connection) -> OutboxEntry | None:
            row = conn.execute(
                f"select {_OUTBOX_COLUMNS} from outbox where kind = ? and ref = ?",  # noqa: S608
                (kind, str(ref)),
            ).fetchone()
            return _entry(row) if row else None

        return await self._call(read)

    async def settle_sale(self, ticket_id: UUID, settled: Settled, at: datetime) -> bool:
        """A sale's answer from the online route (`POST /v1/tickets`): its queue entry settled as `settled` says,
        if it is still pending (the background sender may have sent it meanwhile). Whether it was pending."""

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "update outbox set attempts = attempts + 1, state = ?, outcome = ?, reason = ?, done_at = ?"
                " where kind in ('sale', 'credit_note') and ref = ? and state = 'pending'",
                (settled.state, settled.outcome, settled.reason, at.isoformat(), str(ticket_id)),
            )
            return cursor.rowcount > 0

        return await self._transaction(work, fault="answer" if settled.state == "sent" else None)

    # the outbox

    async def pending(self, limit: int) -> list[OutboxEntry]:
        """The head of the queue: the oldest pending entries, at most `limit`."""

        def read(conn: sqlite3.Connection) -> list[OutboxEntry]:
            rows = conn.execute(
                f"select {_OUTBOX_COLUMNS} from outbox where state = 'pending' order by seq limit ?",  # noqa: S608
                (limit,),
            ).fetchall()
            return [_entry(r) for r in rows]

        return await self._call(read)

    async def settle(self, results: Sequence[Settled], at: datetime) -> None:
        """The central side's answers, in one transaction: each entry sent, kept aside, or tried once more."""

        def work(conn: sqlite3.Connection) -> None:
            for result in results:
                if result.state == "pending":
                    conn.execute(
                        "update outbox set attempts = attempts + 1, outcome = ?, reason = ? where seq = ?",
                        (result.outcome, result.reason, result.seq),
                    )
                else:
                    conn.execute(
                        "update outbox set attempts = attempts + 1, state = ?, outcome = ?, reason = ?, done_at = ?"
                        " where seq = ?",
                        (result.state, result.outcome, result.reason, at.isoformat(), result.seq),
                    )

        await self._transaction(work, fault="answer" if any(r.state == "sent" for r in results) else None)

    async def aside(self) -> list[OutboxEntry]:
        """What the central side refused (conflict, failed): kept, with the reason, for ops."""

        def read(conn: sqlite3.Connection) -> list[OutboxEntry]:
            rows = conn.execute(
                f"select {_OUTBOX_COLUMNS} from outbox where state = 'aside' order by seq"  # noqa: S608
            ).fetchall()
            return [_entry(r) for r in rows]

        return await self._call(read)

    async def queue_counts(self) -> QueueCounts:
        def read(conn: sqlite3.Connection) -> QueueCounts:
            row = conn.execute(
                "select sum(state = 'pending' and kind = 'session'), sum(state = 'pending' and kind in ('sale', 'credit_note')),"
                " sum(state = 'aside'), min(case when state = 'pending' then enqueued_at end) from outbox"
            ).fetchone()
            return QueueCounts(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), _time(row[3]))

        return await self._call(read)

    # print jobs

    async def add_print_job(self, job: NewPrintJob, at: datetime) -> PrintJob:
        """A job on its own (the drawer opened on demand, the deposit slip)."""
        return await self._transaction(lambda conn: _add_job(conn, job, at))

    async def next_print_job(self) -> PrintJob | None:
        """The oldest job still to print (`pending`, or `printing` left by a till stopped mid-job)."""

        def read(conn: sqlite3.Connection) -> PrintJob | None:
            row = conn.execute(
                f"select {_JOB_COLUMNS} from print_job where state in ('pending', 'printing') order by id limit 1"  # noqa: S608
            ).fetchone()
            return _job(row) if row else None

        return await self._call(read)

    async def print_started(self, job_id: int, at: datetime) -> None:
        """The job is being sent: found so at the next start, it was cut and is printed again whole."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update print_job set state = 'printing', attempts = attempts + 1, updated_at = ? where id = ?",
                (at.isoformat(), job_id),
            )

        await self._transaction(work)

    async def print_done(self, job_id: int, at: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update print_job set state = 'printed', last_reason = null, printed_at = ?, updated_at = ?"
                " where id = ?",
                (at.isoformat(), at.isoformat(), job_id),
            )

        await self._transaction(work)

    async def print_failed(
        self, job_id: int, reason: str, at: datetime, *, interrupted: bool, state: str = "pending"
    ) -> None:
        """The job did not print: back to `state` (pending: it waits for the printer) with the reason;
        `interrupted` when part of it may have reached the paper."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update print_job set state = ?, last_reason = ?, updated_at = ?,"
                " interrupted = max(interrupted, ?) where id = ?",
                (state, reason, at.isoformat(), int(interrupted), job_id),
            )

        await self._transaction(work)

    async def print_without_printer(self, at: datetime) -> int:
        """No printer is configured: every job waiting is kept as `no_printer` (printable later, on retry)."""

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "update print_job set state = 'no_printer', last_reason = 'no printer is configured for this POS',"
                " updated_at = ? where state in ('pending', 'printing')",
                (at.isoformat(),),
            ).rowcount

        return await self._transaction(work)

    async def print_jobs(self, limit: int) -> list[PrintJob]:
        """The latest jobs, newest first."""

        def read(conn: sqlite3.Connection) -> list[PrintJob]:
            rows = conn.execute(
                f"select {_JOB_COLUMNS} from print_job order by id desc limit ?",  # noqa: S608
                (limit,),
            ).fetchall()
            return [_job(r) for r in rows]

        return await self._call(read)

    async def print_job(self, job_id: int) -> PrintJob | None:
        def read(conn: sqlite3.Connection) -> PrintJob | None:
            row = conn.execute(f"select {_JOB_COLUMNS} from print_job where id = ?", (job_id,)).fetchone()  # noqa: S608
            return _job(row) if row else None

        return await self._call(read)

    async def retry_print_job(self, job_id: int, at: datetime) -> PrintJob | None:
        """A job not printed (`no_printer`, `abandoned`, or waiting) made to wait for the printer again; a printed
        job is answered as it is (a receipt is printed again only as a duplicate). None: no such job."""

        def work(conn: sqlite3.Connection) -> PrintJob | None:
            conn.execute(
                "update print_job set state = 'pending', updated_at = ? where id = ? and state in"
                " ('no_printer', 'abandoned')",
                (at.isoformat(), job_id),
            )
            row = conn.execute(f"select {_JOB_COLUMNS} from print_job where id = ?", (job_id,)).fetchone()  # noqa: S608
            return _job(row) if row else None

        return await self._transaction(work)

    # card operations through the terminal

    async def card_slips(self, ticket_id: UUID) -> tuple[str, ...]:
        """The terminal's slips of a ticket's card money, oldest first: the payments approved for a sale's basket
        (its id is the sale's), or the refunds a credit note claimed."""

        def read(conn: sqlite3.Connection) -> tuple[str, ...]:
            rows = conn.execute(
                "select slip_text from card_operation where status = 'approved' and slip_text is not null"
                " and ((kind = 'payment' and basket_id = ?) or (kind = 'refund' and claimed_by = ?))"
                " order by created_at, operation_id",
                (str(ticket_id), str(ticket_id)),
            ).fetchall()
            return tuple(str(r[0]) for r in rows)

        return await self._call(read)

    async def card_operation(self, operation_id: UUID) -> CardOperation | None:
        def read(conn: sqlite3.Connection) -> CardOperation | None:
            found = _card_operations(conn, "where operation_id = ?", (str(operation_id),))
            return found[0] if found else None

        return await self._call(read)

    async def card_operations(
        self, *, status: CardStatus | None = None, basket_id: UUID | None = None, ticket_id: UUID | None = None
    ) -> list[CardOperation]:
        """The card operations, oldest first, of a status, a basket or a sale when named."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("status", status), ("basket_id", basket_id), ("ticket_id", ticket_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        where = ("where " + " and ".join(clauses)) if clauses else ""
        return await self._call(lambda conn: _card_operations(conn, where, params))

    async def begin_card_operation(self, operation: CardOperation) -> tuple[CardOperation, bool]:
        """Write a card operation PENDING before the terminal is called, in one transaction; an operation of that id
        made before is returned as it stands instead (a retry: the terminal is not called again); whether it was
        written now. Another operation
        pending, or a payment's basket gone or finalized, is a `CardOperationConflictError` and nothing is written."""

        def work(conn: sqlite3.Connection) -> tuple[CardOperation, bool]:
            made = _card_operations(conn, "where operation_id = ?", (str(operation.operation_id),))
            if made:
                return made[0], False
            pending = conn.execute("select operation_id from card_operation where status = 'pending'").fetchone()
            if pending is not None:
                raise CardOperationConflictError(
                    "another card operation is pending on the terminal: confirm or void it first", _uuid(pending[0])
                )
            if operation.kind == "payment":
                row = conn.execute(
                    "select status from basket where basket_id = ?", (str(operation.basket_id),)
                ).fetchone()
                if row is None or row[0] != "open":
                    raise CardOperationConflictError("the basket is not open: a card payment goes to an open basket")
            conn.execute(
                f"insert into card_operation ({_CARD_COLUMNS}) values"  # noqa: S608
                " (?, ?, ?, ?, ?, ?, 'pending', ?, null, null, null, null, null, 0, null, ?, null)",
                (
                    str(operation.operation_id),
                    operation.kind,
                    str(operation.basket_id) if operation.basket_id else None,
                    str(operation.ticket_id) if operation.ticket_id else None,
                    operation.amount,
                    operation.currency,
                    operation.code.value,
                    operation.created_at.isoformat(),
                ),
            )
            return operation, True

        return await self._transaction(work)

    async def settle_card_operation(
        self, operation_id: UUID, result: CardResult, at: datetime
    ) -> tuple[CardOperation, int | None]:
        """Record where a pending card operation stands after the terminal's answer or the cashier's word, in ONE
        transaction: an approved payment is put in its basket at the same time (a new version of it, returned). A
        settled operation is never changed again (`CardOperationConflictError`)."""

        def work(conn: sqlite3.Connection) -> tuple[CardOperation, int | None]:
            found = _card_operations(conn, "where operation_id = ?", (str(operation_id),))
            if not found:
                raise NotFoundError("card operation", operation_id)
            if found[0].status != "pending":
                raise CardOperationConflictError(f"this card operation is {found[0].status} already", operation_id)
            done = found[0].settled(result, at)
            conn.execute(
                "update card_operation set status = ?, code = ?, authorisation = ?, masked_pan = ?, contactless = ?,"
                " slip_text = ?, failure = ?, confirmed_by_cashier = ?, done_at = ? where operation_id = ?",
                (
                    done.status,
                    done.code.value,
                    done.authorisation,
                    done.masked_pan,
                    int(done.contactless) if done.contactless is not None else None,
                    done.slip_text,
                    done.failure,
                    int(done.confirmed_by_cashier),
                    done.done_at.isoformat() if done.done_at else None,
                    str(operation_id),
                ),
            )
            version = None
            if done.status == "approved" and done.kind == "payment":
                version = _add_payment(conn, done, at)
            return done, version

        return await self._transaction(work, fault="card")


def _add_payment(conn: sqlite3.Connection, done: CardOperation, at: datetime) -> int:
    """Put an approved card payment in its (open) basket: a new version of it, whatever the web app saved last."""
    row = conn.execute(
        "select version, status, content from basket where basket_id = ?", (str(done.basket_id),)
    ).fetchone()
    if row is None or row[1] != "open":
        raise CardOperationConflictError("the basket is not open any more", done.operation_id)
    content = BasketContent.model_validate_json(row[2])
    if any(p.payment_id == done.operation_id for p in content.payments):
        return int(row[0])
    paid = content.model_copy(update={"payments": (*content.payments, done.as_payment())})
    version = int(row[0]) + 1
    conn.execute(
        "update basket set version = ?, content = ?, updated_at = ? where basket_id = ?",
        (version, paid.model_dump_json(), at.isoformat(), str(done.basket_id)),
    )
    return version
