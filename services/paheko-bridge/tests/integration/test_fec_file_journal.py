"""The FEC journal on real PostgreSQL and a real disk: numbered without gaps, idempotent, whole after a crash.

Each test module gets a new database of the bridge's schema on the launcher's `test` PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import paheko_bridge
from caisse_contracts.config import (
    AccountMapping,
    Company,
    Denomination,
    DenominationKind,
    Pos,
    Shop,
    TaxRate,
    Territory,
)
from caisse_contracts.events.config import ConfigChangedV1, EntityType
from caisse_contracts.events.sessions import SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.events.tickets import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_runtime.database import create_engine, migrate, migrations_beside
from caisse_stack import Infra, ensure_up
from paheko_bridge.adapters.config_view import SqlConfigView
from paheko_bridge.adapters.fec.file import FecFileMismatchError
from paheko_bridge.adapters.fec.journal import FecFileJournal
from paheko_bridge.adapters.sql import BridgePool
from paheko_bridge.adapters.targets import ConfiguredTargets, PosApiCredentials
from paheko_bridge.domain.fec import FEC_ENCODING, FecBooks, FiscalYear
from paheko_bridge.domain.fec_validator import validate_fec
from paheko_bridge.entrypoints import fec_check
from paheko_bridge.service_layer.fec import (
    FecBooking,
    FecBookingStatus,
    book_deposit_to_fec,
    book_session_close_to_fec,
    book_ticket_to_fec,
    book_tickets_to_fec,
)
from paheko_bridge.service_layer.ports import TargetUnavailableError

pytestmark = pytest.mark.integration

EXAMPLE_TICKET = load_example(TicketFinalizedV1).data
"""8.00 € coat (7071) and 2.00 € book (7072) paid 10.00 € in cash, on 2026-11-21 (the contracts' example)."""
EXAMPLE_CLOSE = load_example(SessionClosedV1).data
"""Closed 2026-11-21 18:05 UTC, 1.00 € short."""
YEAR_2026 = FiscalYear(date(2026, 1, 1), date(2026, 12, 31))
NOW = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def infra() -> Infra:
    """Real Kafka and PostgreSQL (the launcher's `test` instance), started if they do not run yet."""
    return ensure_up("test")


@pytest_asyncio.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[str]:
    """A new database with every migration of the bridge applied; dropped at the end of the module."""
    name = f"caisse_paheko_bridge_it_{uuid.uuid4().hex[:12]}"
    infra.create_database(name)
    engine = create_engine(infra.database_url(name), pool_size=2)
    try:
        await migrate(engine, migrations_beside(paheko_bridge.__file__))
    finally:
        await engine.dispose()
    yield name
    infra.drop_database(name)


@pytest_asyncio.fixture
async def engine(infra: Infra, database: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(infra.database_url(database), pool_size=5)
    yield created
    await created.dispose()


@pytest_asyncio.fixture
async def pool(infra: Infra, database: str) -> AsyncIterator[BridgePool]:
    created = BridgePool(infra.dsn(database), size=5)
    await created.start()
    yield created
    await created.stop()


@pytest.fixture
def books() -> FecBooks:
    """The books of a company of its own, so that the tests of the module share a database and nothing else."""
    return FecBooks(company_id=uuid.uuid4(), siren="123456789", accounts=AccountMapping(variance_shortage="678"))


def ticket(books: FecBooks, number: int, on: date = date(2026, 11, 21)) -> TicketFinalizedV1:
    return EXAMPLE_TICKET.model_copy(
        update={"ticket_id": uuid.uuid4(), "number": number, "company_id": books.company_id, "local_date": on}
    )


def read(path: Path) -> str:
    return path.read_bytes().decode(FEC_ENCODING)


async def test_tickets_and_a_variance_are_numbered_1_2_3_in_a_file_the_validator_accepts(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    close = EXAMPLE_CLOSE.model_copy(update={"company_id": books.company_id})

    bookings = [
        await book_ticket_to_fec(ticket(books, 1), books, journal, NOW),
        await book_ticket_to_fec(ticket(books, 2), books, journal, NOW),
        await book_session_close_to_fec(close, books, journal, NOW),
    ]

    assert [b.number for b in bookings] == [1, 2, 3]
    assert {b.file_name for b in bookings} == {"123456789FEC20261231.txt"}
    path = journal.path_of(books, YEAR_2026)
    assert validate_fec(read(path), YEAR_2026, exponent=2) == []
    lines = read(path).splitlines()
    assert len(lines) == 1 + 3 + 3 + 2
    # 1.00 € short (PAHEKO.md §3): 678 debit, cash credit.
    account_debit_credit = [tuple(line.split("\t")[i] for i in (4, 11, 12)) for line in lines[-2:]]
    assert account_debit_credit == [("530", "0,00", "1,00"), ("678", "1,00", "0,00")]


async def test_a_replayed_ticket_adds_nothing_and_answers_its_first_number(
    engine: AsyncEngine, pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    first, second = ticket(books, 1), ticket(books, 2)
    await book_ticket_to_fec(first, books, journal, NOW)
    await book_ticket_to_fec(second, books, journal, NOW)
    path = journal.path_of(books, YEAR_2026)
    before = path.read_bytes()

    replay = await book_ticket_to_fec(first, books, journal, NOW)

    assert replay == FecBooking(FecBookingStatus.ALREADY_BOOKED, 1, "123456789FEC20261231.txt")
    assert path.read_bytes() == before
    async with engine.connect() as conn:
        count = (
            await conn.execute(text("select count(*) from fec_entries where company_id = :c"), {"c": books.company_id})
        ).scalar_one()
    assert count == 2


async def test_numbering_goes_on_after_a_restart(
    pool: BridgePool, infra: Infra, database: str, tmp_path: Path, books: FecBooks
) -> None:
    await book_ticket_to_fec(ticket(books, 1), books, FecFileJournal(pool, tmp_path), NOW)
    await pool.stop()

    restarted = BridgePool(infra.dsn(database), size=2)
    await restarted.start()
    try:
        booking = await book_ticket_to_fec(ticket(books, 2), books, FecFileJournal(restarted, tmp_path), NOW)
    finally:
        await restarted.stop()

    assert booking.number == 2
    path = FecFileJournal(restarted, tmp_path).path_of(books, YEAR_2026)
    assert validate_fec(read(path), YEAR_2026, exponent=2) == []


async def test_an_entry_cut_short_by_a_crash_is_completed_without_rewriting_what_is_on_disk(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    await book_ticket_to_fec(ticket(books, 1), books, journal, NOW)
    await book_ticket_to_fec(ticket(books, 2), books, journal, NOW)
    path = journal.path_of(books, YEAR_2026)
    whole = path.read_bytes()
    # The crash: entry 2's first line made it to disk, its second line only in part.
    last_line_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[: last_line_start + 20])

    await journal.write_out(books, YEAR_2026)

    assert path.read_bytes() == whole


async def test_an_entry_committed_but_not_yet_written_is_written_by_the_replay(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    await book_ticket_to_fec(ticket(books, 1), books, journal, NOW)
    path = journal.path_of(books, YEAR_2026)
    after_first = path.read_bytes()
    second = ticket(books, 2)
    await book_ticket_to_fec(second, books, journal, NOW)
    whole = path.read_bytes()
    path.write_bytes(after_first)  # the crash came between the commit and the file

    replay = await book_ticket_to_fec(second, books, journal, NOW)

    assert replay.status is FecBookingStatus.ALREADY_BOOKED
    assert path.read_bytes() == whole


async def test_concurrent_bookings_of_one_company_are_numbered_without_a_gap_or_a_double(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    tickets = [ticket(books, n) for n in range(1, 21)]

    bookings = await asyncio.gather(*(book_ticket_to_fec(t, books, journal, NOW) for t in tickets + tickets[:5]))

    assert sorted(b.number or 0 for b in bookings[:20]) == list(range(1, 21))
    assert [b.status for b in bookings].count(FecBookingStatus.BOOKED) == 20
    path = journal.path_of(books, YEAR_2026)
    assert validate_fec(read(path), YEAR_2026, exponent=2) == []
    assert len(read(path).splitlines()) == 1 + 20 * 3


async def test_each_fiscal_year_has_its_own_file_numbered_from_1(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)

    new_year = datetime(2027, 1, 1, 20, 0, tzinfo=UTC)
    last_of_2026 = await book_ticket_to_fec(ticket(books, 1, date(2026, 12, 31)), books, journal, new_year)
    first_of_2027 = await book_ticket_to_fec(ticket(books, 2, date(2027, 1, 1)), books, journal, new_year)

    assert (last_of_2026.number, last_of_2026.file_name) == (1, "123456789FEC20261231.txt")
    assert (first_of_2027.number, first_of_2027.file_name) == (1, "123456789FEC20271231.txt")
    year_2027 = FiscalYear(date(2027, 1, 1), date(2027, 12, 31))
    assert validate_fec(read(journal.path_of(books, year_2027)), year_2027, exponent=2) == []


async def test_an_entry_booked_by_a_writer_whose_clock_is_behind_keeps_the_validation_order(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    await book_ticket_to_fec(ticket(books, 1), books, journal, datetime(2026, 11, 21, 23, 0, 5, tzinfo=UTC))

    await book_ticket_to_fec(ticket(books, 2), books, journal, datetime(2026, 11, 21, 22, 59, 58, tzinfo=UTC))

    text_of_file = read(journal.path_of(books, YEAR_2026))
    assert {line.split("\t")[15] for line in text_of_file.splitlines()[1:]} == {"20261122"}
    assert validate_fec(text_of_file, YEAR_2026, exponent=2) == []


async def test_the_file_is_written_in_iso_8859_15(pool: BridgePool, tmp_path: Path, books: FecBooks) -> None:
    journal = FecFileJournal(pool, tmp_path)
    close = EXAMPLE_CLOSE.model_copy(update={"company_id": books.company_id})

    await book_session_close_to_fec(close, books, journal, NOW)

    assert "Espèces".encode(FEC_ENCODING) in journal.path_of(books, YEAR_2026).read_bytes()
    assert b"Esp\xe8ces" in journal.path_of(books, YEAR_2026).read_bytes()


async def test_a_file_whose_last_entry_is_not_the_database_s_is_refused(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    await book_ticket_to_fec(ticket(books, 1), books, journal, NOW)
    path = journal.path_of(books, YEAR_2026)
    lines = read(path).splitlines(keepends=True)
    path.write_bytes((read(path) + "".join(line.replace("\t1\t", "\t2\t", 1) for line in lines[1:])).encode())

    with pytest.raises(FecFileMismatchError) as refused:
        await book_ticket_to_fec(ticket(books, 2), books, journal, NOW)
    assert refused.value.number == 2


async def test_a_batch_is_numbered_in_order_books_a_replayed_ticket_once_and_writes_a_valid_file(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    first = ticket(books, 1)
    await book_ticket_to_fec(first, books, journal, NOW)
    batch = [ticket(books, 2), first, ticket(books, 3), ticket(books, 4)]

    bookings = await book_tickets_to_fec(batch, books, journal, NOW)

    assert [(b.status, b.number) for b in bookings] == [
        (FecBookingStatus.BOOKED, 2),
        (FecBookingStatus.ALREADY_BOOKED, 1),
        (FecBookingStatus.BOOKED, 3),
        (FecBookingStatus.BOOKED, 4),
    ]
    path = journal.path_of(books, YEAR_2026)
    assert validate_fec(read(path), YEAR_2026, exponent=2) == []
    assert sorted({line.split("\t")[2] for line in read(path).splitlines()[1:]}) == ["1", "2", "3", "4"]


async def test_an_xpf_file_written_by_the_journal_passes_the_checker_as_a_eur_file_does(
    pool: BridgePool, tmp_path: Path, books: FecBooks
) -> None:
    journal = FecFileJournal(pool, tmp_path)
    noumea = FecBooks(company_id=uuid.uuid4(), siren="552100554", timezone="Pacific/Noumea")
    # The example's amounts as CFP francs: a 1000 XPF ticket in cash, then a session 100 XPF short.
    for number in (1, 2):
        sold = ticket(noumea, number).model_copy(update={"currency": "XPF"})
        await book_ticket_to_fec(sold, noumea, journal, NOW)
    close = EXAMPLE_CLOSE.model_copy(update={"company_id": noumea.company_id, "currency": "XPF"})
    await book_session_close_to_fec(close, noumea, journal, NOW)
    await book_ticket_to_fec(ticket(books, 1), books, journal, NOW)
    xpf, eur = journal.path_of(noumea, YEAR_2026), journal.path_of(books, YEAR_2026)

    assert [line.split("\t")[11:13] for line in read(xpf).splitlines()[-2:]] == [["0", "100"], ["100", "0"]]
    assert fec_check.main([str(xpf)]) == 0
    assert fec_check.main([str(xpf), "--currency", "XPF"]) == 0
    assert fec_check.main([str(eur)]) == 0
    assert fec_check.main([str(eur), "--currency", "EUR"]) == 0
    malformed = tmp_path / "edited" / xpf.name
    malformed.parent.mkdir()
    malformed.write_bytes(read(xpf).replace("\t100\t0\t", "\t100,00\t0\t").encode(FEC_ENCODING))
    assert fec_check.main([str(malformed)]) == 1
    assert fec_check.main([str(malformed), "--currency", "XPF"]) == 1


def changed(entity_type: EntityType, item: Territory | Company | Shop | Pos) -> ConfigChangedV1:
    return ConfigChangedV1(
        entity_type=entity_type, entity_id=item.id, version=1, item=item.model_dump(mode="json"), patch=()
    )


async def test_the_writer_names_the_shop_and_the_till_and_waits_for_the_territory_s_time_zone(
    pool: BridgePool, tmp_path: Path
) -> None:
    view = SqlConfigView(pool)
    territory = Territory(
        id=uuid.uuid4(),
        version=1,
        updated_at=NOW,
        name="Nouvelle-Calédonie",
        currency="XPF",
        currency_exponent=0,
        tax_rates=(TaxRate(code="TGC22", label="TGC 22 %", rate_bp=2200),),
        denominations=(Denomination(value=100, kind=DenominationKind.COIN),),
        timezone="Pacific/Noumea",
    )
    company = Company(id=uuid.uuid4(), version=1, updated_at=NOW, territory_id=territory.id, name="Ressourcerie")
    shop = Shop(id=uuid.uuid4(), version=1, updated_at=NOW, company_id=company.id, name="Nouméa — Ducos")
    till = Pos(
        id=uuid.uuid4(),
        version=1,
        updated_at=NOW,
        shop_id=shop.id,
        name="Caisse 1",
        hostname="c1",
        device_serial="NC-1",
    )
    await view.apply(
        [changed(EntityType.COMPANY, company), changed(EntityType.SHOP, shop), changed(EntityType.POS, till)]
    )
    journal = FecFileJournal(pool, tmp_path)
    targets = ConfiguredTargets(view, PosApiCredentials("http://127.0.0.1:9", SecretStr("unused")))
    # Closed at 00:30 on 22 November in Nouméa, 13:30 UTC the day before.
    closed = EXAMPLE_CLOSE.model_copy(
        update={
            "company_id": company.id,
            "shop_id": shop.id,
            "pos_id": till.id,
            "currency": "XPF",
            "closed_at": datetime(2026, 11, 21, 13, 30, tzinfo=UTC),
        }
    )

    with pytest.raises(TargetUnavailableError, match="territory"):
        await targets.fec_books(company.id)  # Paris's day would be the 21st
    await view.apply([changed(EntityType.TERRITORY, territory)])
    books = await targets.fec_books(company.id)
    await book_session_close_to_fec(closed, books, journal, NOW)

    [path] = (tmp_path / str(company.id)).glob("*FEC20261231.txt")
    rows = [line.split("\t") for line in read(path).splitlines()[1:]]
    assert {row[3] for row in rows} == {"20261122"}
    assert all(row[10].startswith("Nouméa - Ducos, Caisse 1, 22/11/2026 - ") for row in rows)
    assert not any(row[8].startswith("REMISE-") for row in rows)  # the cheques go to the bank with the deposit

    deposit = load_example(SessionDepositConfirmedV1).data.model_copy(
        update={
            "company_id": company.id,
            "shop_id": shop.id,
            "pos_id": till.id,
            "currency": "XPF",
            "closed_at": closed.closed_at,
            "session_id": closed.session_id,
        }
    )
    await book_deposit_to_fec(deposit, books, journal, NOW)
    await book_deposit_to_fec(deposit, books, journal, NOW)
    await targets.aclose()
    rows = [line.split("\t") for line in read(path).splitlines()[1:]]
    remise = [row for row in rows if row[8] == f"REMISE-{closed.session_id}"]
    assert {row[3] for row in remise} == {"20261123"}
    assert "Nouméa - Ducos, Caisse 1, 22/11/2026 - Remise BR-2026-0457 - Chèque n°7654321 (La Banque Postale)" in {
        row[10] for row in remise
    }
    assert [row[4] for row in remise] == ["512", "530", "5112", "5112"]
