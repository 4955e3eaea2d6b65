"""The till's own records in its SQLite file: the enrolment with its secret in a 0600 file never logged, and a sale
numbered and queued in the same transaction as its number, so that a number is never reused nor skipped."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from till_examples import example_sale

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.sync import OfflineSale
from caisse_contracts.tills import BasketContent
from hw_proxy.adapters.secret_file import SecretFile, SecretFileError
from hw_proxy.adapters.store import MIGRATIONS, TillRecords, migrate
from hw_proxy.domain.enrolment import DeviceCredentials
from hw_proxy.domain.errors import StaleBasketError
from hw_proxy.domain.outbox import Settled
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.service_layer.enrolment import load_enrolment

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
SECRET = "s3cret-never-in-a-log"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TillRecords]:
    records = TillRecords(str(tmp_path / "till.sqlite3"))
    await records.open()
    yield records
    await records.close()


def test_the_secret_file_is_made_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keeper = SecretFile(str(tmp_path / "device.secret"))
        keeper.write(SecretStr(SECRET))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "device.secret").st_mode) == 0o600
    read = keeper.read()
    assert read is not None
    assert read.get_secret_value() == SECRET
    assert SECRET not in repr(read)


def test_a_secret_file_others_may_read_is_refused(tmp_path: Path) -> None:
    keeper = SecretFile(str(tmp_path / "device.secret"))
    keeper.write(SecretStr(SECRET))
    os.chmod(tmp_path / "device.secret", 0o644)
    with pytest.raises(SecretFileError, match="0600"):
        keeper.read()


async def test_credentials_given_once_are_kept_for_the_next_starts_and_never_logged(
    store: TillRecords, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keeper = SecretFile(str(tmp_path / "device.secret"))
    given = DeviceCredentials("TILL-0001", SecretStr(SECRET))
    assert await load_enrolment(store, keeper, given=given, now=AT) == given
    kept = await load_enrolment(store, keeper, given=None, now=AT)
    assert kept is not None
    assert kept.serial == "TILL-0001"
    assert kept.secret.get_secret_value() == SECRET
    assert SECRET not in caplog.text
    assert SECRET.encode() not in (tmp_path / "till.sqlite3").read_bytes()


async def test_a_till_never_enrolled_has_no_credentials(store: TillRecords, tmp_path: Path) -> None:
    assert await load_enrolment(store, SecretFile(str(tmp_path / "none")), given=None, now=AT) is None


def _sale(number: int, ticket: TicketFinalizedV1, sale: OfflineSale) -> FinalizedSale:
    return FinalizedSale(
        sale.model_copy(update={"number": number}), ticket.model_copy(update={"number": number}), basket_id=None
    )


async def test_finalize_takes_the_next_number_stores_and_queues_the_sale_in_one_transaction(store: TillRecords) -> None:
    sale, ticket = example_sale()
    first = await store.finalize(
        lambda n: _sale(n, ticket, sale.model_copy(update={"ticket_id": uuid.uuid4()})), basket=None, at=AT
    )
    second = await store.finalize(
        lambda n: _sale(n, ticket, sale.model_copy(update={"ticket_id": uuid.uuid4()})), basket=None, at=AT
    )
    assert (first.number, second.number) == (1, 2)
    assert await store.last_number() == 2
    queued = await store.pending(10)
    assert [(e.kind, e.ref) for e in queued] == [
        ("sale", str(first.sale.ticket_id)),
        ("sale", str(second.sale.ticket_id)),
    ]


async def test_a_sale_that_cannot_be_made_takes_no_number_and_queues_nothing(store: TillRecords) -> None:
    def refuse(_: int) -> FinalizedSale:
        raise ValueError("the basket does not add up")

    with pytest.raises(ValueError, match="add up"):
        await store.finalize(refuse, basket=None, at=AT)
    assert await store.last_number() == 0
    assert await store.pending(10) == []
    sale, ticket = example_sale()
    done = await store.finalize(lambda n: _sale(n, ticket, sale), basket=None, at=AT)
    assert done.number == 1


async def test_a_basket_written_from_a_stale_version_is_refused(store: TillRecords) -> None:
    basket_id = uuid.uuid4()
    assert await store.save_basket(basket_id, 0, BasketContent(), AT) == 1
    assert await store.save_basket(basket_id, 1, BasketContent(employee=True), AT) == 2
    with pytest.raises(StaleBasketError):
        await store.save_basket(basket_id, 1, BasketContent(), AT)
    kept = await store.basket(basket_id)
    assert kept is not None
    assert kept.version == 2
    assert kept.content.employee


async def test_answers_mark_entries_sent_or_aside_with_the_reason(store: TillRecords) -> None:
    sale, ticket = example_sale()
    for _ in range(3):
        await store.finalize(
            lambda n: _sale(n, ticket, sale.model_copy(update={"ticket_id": uuid.uuid4()})), basket=None, at=AT
        )
    one, two, three = await store.pending(10)
    await store.settle(
        [
            Settled(one.seq, "sent", "created"),
            Settled(two.seq, "aside", "conflict", "number 2 holds another sale"),
            Settled(three.seq, "pending", None, "pos-api out of reach"),
        ],
        AT,
    )
    assert [e.seq for e in await store.pending(10)] == [three.seq]
    (aside,) = await store.aside()
    assert (aside.outcome, aside.reason) == ("conflict", "number 2 holds another sale")
    counts = await store.queue_counts()
    assert (counts.pending_sales, counts.aside) == (1, 1)


def test_the_schema_steps_the_tills_tables_the_reprints_the_credit_notes_the_print_jobs_then_card_operations() -> None:
    assert len(MIGRATIONS) == 6
    assert any("create table outbox" in statement for statement in MIGRATIONS[1])
    assert any("create table reprint" in statement for statement in MIGRATIONS[2])
    assert any("create table credit_note_reprint" in statement for statement in MIGRATIONS[3])
    assert any("create table print_job" in statement for statement in MIGRATIONS[4])
    assert any("create table card_operation" in statement for statement in MIGRATIONS[5])


def test_the_fourth_step_keeps_a_tills_credit_notes_and_counts_their_reprints_from_one() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(conn, MIGRATIONS[:3]) == 3
    conn.execute(
        "insert into sale (ticket_id, number, session_id, finalized_at, sale, ticket) values ('s', 1, 'x', 'now', '{}', '{}')"
    )
    conn.execute(
        "insert into credit_note (ticket_id, number, original_ticket_id, finalized_at, ticket)"
        " values ('c', 2, 's', 'now', '{}')"
    )
    assert migrate(conn, MIGRATIONS[:4]) == 4
    assert conn.execute("select ticket_id from credit_note").fetchall() == [("c",)]
    conn.execute("insert into credit_note_reprint (ticket_id, copies, last_at) values ('c', 1, 'now')")
    assert conn.execute("select copies from credit_note_reprint").fetchall() == [(1,)]
    assert migrate(conn) == 6


def test_the_third_step_keeps_the_queue_of_a_till_it_upgrades_and_lets_it_take_credit_notes() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(conn, MIGRATIONS[:2]) == 2
    conn.execute("insert into outbox (kind, ref, payload, enqueued_at) values ('sale', 'a', '{}', 'now')")
    assert migrate(conn, MIGRATIONS[:3]) == 3
    assert conn.execute("select kind, ref, state from outbox").fetchall() == [("sale", "a", "pending")]
    conn.execute("insert into outbox (kind, ref, payload, enqueued_at) values ('credit_note', 'b', '{}', 'now')")
    assert conn.execute("select count(*) from outbox where state = 'pending'").fetchone()[0] == 2


async def test_a_released_numbering_moves_the_last_number_up_and_never_down(store: TillRecords) -> None:
    assert await store.resume_numbering(41) == 41
    assert await store.resume_numbering(7) == 41, "an older release never takes numbers back"
    assert await store.last_number() == 41
