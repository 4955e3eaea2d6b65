"""The FEC entries of tickets and sessions: the same accounts as Caisse (PAHEKO.md §3), balanced to the unit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uuid_utils.compat import uuid7

from caisse_contracts.basket import BasketIn, BasketLineIn, PaymentIn, compute_basket
from caisse_contracts.config import AccountMapping, Company, Pos, Shop
from caisse_contracts.events.sessions import ChequeV1, SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.events.tickets import LineKind, PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.money import CashRoundingRule, round_cash
from paheko_bridge.adapters.memory import InMemoryFecJournal
from paheko_bridge.domain.fec import (
    FecBooks,
    FecEntry,
    FiscalYear,
    OtherCompanyError,
    UnbalancedEntryError,
    deposit_entry,
    fec_file_name,
    fiscal_year_containing,
    format_amount,
    render_entry,
    session_variance_entry,
    ticket_entry,
)
from paheko_bridge.domain.fec_validator import validate_fec
from paheko_bridge.service_layer.fec import (
    FecBooking,
    FecBookingStatus,
    book_deposit_to_fec,
    book_session_close_to_fec,
    book_ticket_to_fec,
)

COMPANY = UUID("5c2f8e1a-3b6d-4c9e-8f7a-1d2e3f4a5b02")
SHOP = UUID("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d03")
POS = UUID("1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c504")
SESSION = UUID("7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2905")
NEAREST_5 = CashRoundingRule.NEAREST_5
NOW = datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
"""When the bridge books the tickets: 19:30 in Paris, the day they were sold."""


@dataclass(frozen=True)
class Item:
    account: str
    price: int
    tax_rate_bp: int = 0
    quantity: int = 1
    label: str = "Objet"


@dataclass(frozen=True)
class Tender:
    method: PaymentMethod
    amount: int
    tendered: int | None = None
    reference: str | None = None
    bank: str | None = None


def sale(
    items: Sequence[Item],
    tenders: Sequence[Tender],
    *,
    number: int = 1,
    currency: str = "EUR",
    rounding: CashRoundingRule = CashRoundingRule.NONE,
    prices_include_tax: bool = True,
    on: date = date(2026, 11, 21),
    paid: bool = True,
) -> TicketFinalizedV1:
    """A sale computed by the contracts' basket math, as pos-api finalizes it (fully paid unless `paid` is off)."""
    basket = compute_basket(
        BasketIn(
            currency=currency,
            prices_include_tax=prices_include_tax,
            cash_rounding=rounding,
            lines=tuple(
                BasketLineIn(
                    line_id=uuid4(),
                    kind=LineKind.CATEGORY_ITEM,
                    label=item.label,
                    category_id=uuid4(),
                    category_label="Catégorie",
                    revenue_account=item.account,
                    quantity=item.quantity,
                    unit_price=item.price,
                    tax_rate_bp=item.tax_rate_bp,
                )
                for item in items
            ),
            payments=tuple(
                PaymentIn(
                    payment_id=uuid4(),
                    method=t.method,
                    amount=t.amount,
                    tendered=t.tendered,
                    reference=t.reference,
                    bank=t.bank,
                )
                for t in tenders
            ),
        )
    )
    assert basket.remaining == 0 or not paid, basket.as_dict()
    return TicketFinalizedV1(
        ticket_id=uuid4(),
        number=number,
        kind=TicketKind.SALE,
        territory_id=uuid4(),
        company_id=COMPANY,
        shop_id=SHOP,
        pos_id=POS,
        session_id=SESSION,
        finalized_at=datetime.combine(on, datetime.min.time(), tzinfo=UTC),
        local_date=on,
        currency=currency,
        prices_include_tax=prices_include_tax,
        lines=basket.to_ticket_lines(),
        taxes=basket.to_ticket_taxes(),
        payments=basket.to_ticket_payments(),
        total_excl_tax=basket.total_excl_tax,
        total_tax=basket.total_tax,
        total_incl_tax=basket.total_incl_tax,
        cash_rounding=basket.cash_rounding,
        change_given=basket.change,
    )


def credit_note(
    original: TicketFinalizedV1,
    methods: Sequence[PaymentMethod],
    *,
    number: int = 2,
    rounding: CashRoundingRule = CashRoundingRule.NONE,
) -> TicketFinalizedV1:
    """A credit note giving back the whole of `original`, the money split evenly over `methods` (cash last takes
    the rest, rounded as pos-api rounds a refund)."""
    refund = original.total_incl_tax
    non_cash_methods = [m for m in methods if m is not PaymentMethod.CASH]
    has_cash = PaymentMethod.CASH in methods
    if has_cash:
        non_cash = [refund // len(methods) for _ in non_cash_methods]
    else:
        non_cash = [refund // len(methods)] * (len(methods) - 1)
        non_cash.append(refund - sum(non_cash))
    cash_rounding = 0
    if has_cash and rounding is not CashRoundingRule.NONE:
        # As pos-api: the cash part of the (negative) credit note is rounded by the same table as a sale.
        cash_rounding = round_cash(-refund + sum(non_cash), rounding).adjustment
    cash = refund - cash_rounding - sum(non_cash)
    given_back: list[tuple[PaymentMethod, int]] = [
        (m, amount) for m, amount in zip(non_cash_methods, non_cash, strict=True) if amount
    ]
    if has_cash and cash:
        given_back.append((PaymentMethod.CASH, cash))
    payments = [
        PaymentV1(payment_id=uuid4(), method=m, amount=-amount, reference=None if m is PaymentMethod.CASH else "R")
        for m, amount in given_back
    ]
    return original.model_copy(
        update={
            "ticket_id": uuid4(),
            "number": number,
            "kind": TicketKind.CREDIT_NOTE,
            "original_ticket_id": original.ticket_id,
            "lines": tuple(
                line.model_copy(
                    update={
                        "quantity": -line.quantity,
                        "total_excl_tax": -line.total_excl_tax,
                        "tax": -line.tax,
                        "total_incl_tax": -line.total_incl_tax,
                    }
                )
                for line in original.lines
            ),
            "taxes": tuple(
                t.model_copy(
                    update={"total_excl_tax": -t.total_excl_tax, "tax": -t.tax, "total_incl_tax": -t.total_incl_tax}
                )
                for t in original.taxes
            ),
            "payments": tuple(payments),
            "total_excl_tax": -original.total_excl_tax,
            "total_tax": -original.total_tax,
            "total_incl_tax": -original.total_incl_tax,
            "cash_rounding": cash_rounding,
            "change_given": 0,
        }
    )


def deposit_confirmed(
    cash: int, cheques: tuple[ChequeV1, ...] = (), *, closed_at: datetime | None = None
) -> SessionDepositConfirmedV1:
    """The session's deposit slip confirmed on 23 November as BR-0457."""
    return SessionDepositConfirmedV1(
        deposit_id=uuid4(),
        session_id=SESSION,
        territory_id=uuid4(),
        company_id=COMPANY,
        shop_id=SHOP,
        pos_id=POS,
        currency="EUR",
        closed_at=closed_at or datetime(2026, 11, 21, 18, 5, tzinfo=UTC),
        deposited_on=date(2026, 11, 23),
        reference="BR-0457",
        cash=cash,
        cheques=cheques,
        total=cash + sum(c.amount for c in cheques),
        confirmed_at=datetime(2026, 11, 23, 9, 40, tzinfo=UTC),
    )


def session_closed(variance: int, *, closed_at: datetime | None = None, currency: str = "EUR") -> SessionClosedV1:
    """A closed session whose count differs from what was expected by `variance`."""
    expected = 15_000
    return SessionClosedV1(
        session_id=SESSION,
        territory_id=uuid4(),
        company_id=COMPANY,
        shop_id=SHOP,
        pos_id=POS,
        opened_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        closed_at=closed_at or datetime(2026, 11, 21, 18, 5, tzinfo=UTC),
        currency=currency,
        last_ticket_number=2,
        ticket_count=2,
        totals_by_method=(),
        totals_by_category=(),
        cash_received=0,
        change_given=0,
        opening_float=expected,
        expected_cash=expected,
        counted_cash=expected + variance,
        variance=variance,
    )


CAISSE_ACCOUNTS = AccountMapping(variance_surplus="778", variance_shortage="678")
"""Caisse's own variance accounts (PAHEKO.md §3), the others as the seed."""


WHERE = "Boutique du Port, Caisse 1, 21/11/2026"
"""The shop, the till and the day of the tickets and sessions below, as their labels name them."""


def books(**changes: object) -> FecBooks:
    named = FecBooks(company_id=COMPANY, shop_names={SHOP: "Boutique du Port"}, till_names={POS: "Caisse 1"})
    return replace(named, **changes)  # type: ignore[arg-type]


def by_side(*entries: FecEntry) -> dict[tuple[str, str], int]:
    """Amounts summed per account and side, as Caisse's per-session entry shows them."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for line in entry.lines:
            sums[(line.account, "D" if line.amount > 0 else "C")] += abs(line.amount)
    return dict(sums)


def test_the_paheko_example_session_books_the_same_accounts_and_amounts_as_caisse() -> None:
    # PAHEKO.md §3, verified example: tab 1 = 3 items 10.75 € in cash; tab 2 = 5.00 € by cheque CHQ-0001; cash
    # counted 1.00 € short. Caisse wrote 5112 D 5.00, 530 D 10.75, 707 C 15.75, 530 C 1.00, 678 D 1.00.
    caisse = books(accounts=CAISSE_ACCOUNTS)
    tab1 = sale([Item("707", 500), Item("707", 375), Item("707", 200)], [Tender(PaymentMethod.CASH, 1075)], number=1)
    tab2 = sale([Item("707", 500)], [Tender(PaymentMethod.CHEQUE, 500, reference="CHQ-0001")], number=2)
    entries = (
        ticket_entry(tab1, caisse, NOW),
        ticket_entry(tab2, caisse, NOW),
        session_variance_entry(session_closed(-100), caisse, NOW),
    )

    assert by_side(*entries) == {
        ("5112", "D"): 500,
        ("530", "D"): 1075,
        ("707", "C"): 1575,
        ("530", "C"): 100,
        ("678", "D"): 100,
    }


async def test_a_cheque_ticket_is_written_as_these_two_fec_lines() -> None:
    tab2 = sale([Item("707", 500)], [Tender(PaymentMethod.CHEQUE, 500, reference="CHQ-0001")], number=2)
    journal = InMemoryFecJournal()

    booking = await book_ticket_to_fec(tab2, books(), journal, NOW)

    assert booking == FecBooking(FecBookingStatus.BOOKED, 1, f"{COMPANY.hex}FEC20261231.txt")
    assert journal.text(f"{COMPANY.hex}FEC20261231.txt") == (
        "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\t"
        "PieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise\n"
        f"CA\tCaisse\t1\t20261121\t5112\tChèques à encaisser\t\t\tT2-{POS}\t20261121\t"
        f"{WHERE} - Ticket n°2 - Chèque n°CHQ-0001\t5,00\t0,00\t\t\t20261121\t\t\n"
        f"CA\tCaisse\t1\t20261121\t707\tVentes de marchandises\t\t\tT2-{POS}\t20261121\t"
        f"{WHERE} - Ticket n°2 - Ventes\t0,00\t5,00\t\t\t20261121\t\t\n"
    )


def test_cash_is_debited_by_what_it_settles_the_change_left_out() -> None:
    # 8.00 € coat + 2.00 € book paid with a 20 € note: 10 € change, 10 € in the till.
    ticket = sale([Item("7071", 800, 2000), Item("7072", 200, 550)], [Tender(PaymentMethod.CASH, 1000, tendered=2000)])

    assert by_side(ticket_entry(ticket, books(), NOW)) == {("530", "D"): 1000, ("7071", "C"): 800, ("7072", "C"): 200}


def test_a_vat_subject_company_credits_revenue_tax_excluded_and_the_vat_of_each_rate() -> None:
    # 8.00 TTC at 20 %: VAT = 800 × 2000 / 12000 = 133.3 → 1.33, HT 6.67; 2.00 TTC at 5.5 %: 200 × 550 / 10550 = 10.4
    # → 0.10, HT 1.90.
    ticket = sale([Item("7071", 800, 2000), Item("7072", 200, 550)], [Tender(PaymentMethod.CARD, 1000)])

    entry = ticket_entry(ticket, books(vat_subject=True), NOW)

    assert [(line.account, line.amount, line.label) for line in entry.lines] == [
        ("5115", 1000, f"{WHERE} - Ticket n°1 - Carte bancaire"),
        ("7071", -667, f"{WHERE} - Ticket n°1 - Ventes"),
        ("7072", -190, f"{WHERE} - Ticket n°1 - Ventes"),
        ("44571", -10, f"{WHERE} - Ticket n°1 - TVA 5,5 %"),
        ("44571", -133, f"{WHERE} - Ticket n°1 - TVA 20 %"),
    ]


def test_a_credit_note_puts_the_refund_on_the_credit_side_and_the_revenue_on_the_debit_side() -> None:
    original = sale([Item("7071", 800), Item("7072", 200)], [Tender(PaymentMethod.CASH, 1000)])
    note = credit_note(original, [PaymentMethod.CASH])

    entry = ticket_entry(note, books(), NOW)

    assert by_side(entry) == {("530", "C"): 1000, ("7071", "D"): 800, ("7072", "D"): 200}
    assert entry.lines[0].label == f"{WHERE} - Avoir n°2 - Espèces"


def test_an_xpf_cash_ticket_rounded_up_credits_the_rounding_account() -> None:
    # 1003 XPF due, paid in cash: the last digit 3 goes +2 → 1005 paid, 2 XPF of rounding (PRODUCT.md §4).
    ticket = sale([Item("707", 1003)], [Tender(PaymentMethod.CASH, 1005)], currency="XPF", rounding=NEAREST_5)

    entry = ticket_entry(ticket, books(), NOW)

    assert by_side(entry) == {("530", "D"): 1005, ("707", "C"): 1003, ("658", "C"): 2}
    assert entry.currency_exponent == 0
    assert "\t1005\t0\t" in render_entry(entry, 1)


def test_an_xpf_cash_ticket_rounded_down_debits_the_rounding_account() -> None:
    # 1001 XPF: the last digit 1 goes −1 → 1000 paid in cash, 1 XPF given up.
    ticket = sale([Item("707", 1001)], [Tender(PaymentMethod.CASH, 1000)], currency="XPF", rounding=NEAREST_5)

    assert by_side(ticket_entry(ticket, books(), NOW)) == {("530", "D"): 1000, ("707", "C"): 1001, ("658", "D"): 1}


def test_the_ticket_s_own_rounding_account_wins_over_the_company_s() -> None:
    ticket = sale([Item("707", 1003)], [Tender(PaymentMethod.CASH, 1005)], currency="XPF", rounding=NEAREST_5)

    entry = ticket_entry(ticket.model_copy(update={"rounding_account": "758"}), books(), NOW)

    assert ("758", "C") in by_side(entry)


def test_a_ticket_sold_offline_yesterday_keeps_its_day_and_is_validated_the_day_it_is_booked() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)], on=date(2026, 11, 20))

    entry = ticket_entry(ticket, books(), NOW)

    assert (entry.entry_date, entry.piece_date, entry.valid_date) == (
        date(2026, 11, 20),
        date(2026, 11, 20),
        date(2026, 11, 21),
    )
    assert [line.split("\t")[3::12] for line in render_entry(entry, 1).splitlines()] == [["20261120", "20261121"]] * 2


async def test_a_writer_whose_clock_is_behind_never_validates_before_the_entry_numbered_earlier() -> None:
    journal = InMemoryFecJournal()
    first = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)], number=1)
    second = sale([Item("707", 700)], [Tender(PaymentMethod.CASH, 700)], number=2)
    await book_ticket_to_fec(first, books(), journal, datetime(2026, 11, 21, 23, 0, 5, tzinfo=UTC))  # 00:00:05 Paris

    await book_ticket_to_fec(second, books(), journal, datetime(2026, 11, 21, 22, 59, 58, tzinfo=UTC))

    valid_dates = [line.split("\t")[15] for line in journal.text(f"{COMPANY.hex}FEC20261231.txt").splitlines()[1:]]
    assert valid_dates == ["20261122"] * 4


def test_two_tills_created_in_the_same_millisecond_give_their_tickets_pieces_of_their_own() -> None:
    # Time-ordered ids made in one millisecond share their first 12 hex digits: a prefix names no till.
    instant = 1_795_000_000_123_000_000
    first_till, second_till = uuid7(nanoseconds=instant), uuid7(nanoseconds=instant)
    assert first_till.hex[:12] == second_till.hex[:12]
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)], number=7)

    pieces = [
        ticket_entry(ticket.model_copy(update={"ticket_id": uuid4(), "pos_id": till}), books(), NOW).piece_ref
        for till in (first_till, second_till)
    ]

    assert pieces == [f"T7-{first_till}", f"T7-{second_till}"]


async def test_a_day_of_two_tills_numbering_alike_passes_the_check_that_each_entry_has_its_own_piece() -> None:
    instant = 1_795_000_000_123_000_000
    journal = InMemoryFecJournal()
    for till in (uuid7(nanoseconds=instant), uuid7(nanoseconds=instant)):
        for number in (1, 2):
            ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)], number=number)
            await book_ticket_to_fec(ticket.model_copy(update={"pos_id": till}), books(), journal, NOW)

    text = journal.text(f"{COMPANY.hex}FEC20261231.txt")

    assert len({line.split("\t")[8] for line in text.splitlines()[1:]}) == 4
    assert validate_fec(text, FiscalYear(date(2026, 1, 1), date(2026, 12, 31)), exponent=2) == []


def test_every_label_names_the_shop_the_till_and_the_day() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CHEQUE, 500, reference="0004567", bank="La Poste")])
    cheques = (ChequeV1(ticket_id=ticket.ticket_id, number="0004567", bank="La Poste", amount=500),)
    # Closed at 00:30 in Paris on 1 January: the session's entries are of that local day, and say so.
    closed = session_closed(-100, closed_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    closed = closed.model_copy(update={"cheques": cheques})
    deposit = deposit_confirmed(0, cheques, closed_at=closed.closed_at)

    labels = [
        [line.label for line in entry.lines]
        for entry in (
            ticket_entry(ticket, books(), NOW),
            session_variance_entry(closed, books(), NOW),
            deposit_entry(deposit, books(), NOW),
        )
    ]

    new_year = "Boutique du Port, Caisse 1, 01/01/2027"
    assert labels == [
        [f"{WHERE} - Ticket n°1 - Chèque n°0004567 (La Poste)", f"{WHERE} - Ticket n°1 - Ventes"],
        [f"{new_year} - Session de caisse - Espèces - Erreur de caisse"] * 2,
        [
            f"{new_year} - Remise BR-0457 - Total",
            f"{new_year} - Remise BR-0457 - Chèque n°0004567 (La Poste)",
        ],
    ]


def test_a_shop_or_till_the_bridge_has_no_name_for_yet_is_named_by_its_id() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)])

    entry = ticket_entry(ticket, books(shop_names={}, till_names={}), NOW)

    assert entry.lines[0].label == f"Boutique {SHOP}, Caisse {POS}, 21/11/2026 - Ticket n°1 - Espèces"


def test_typographic_characters_that_iso_8859_15_lacks_are_written_plain() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)])
    named = books(shop_names={SHOP: "Bocage \u2014 Bressuire"}, till_names={POS: "Caisse d\u2019entrée"})

    text = render_entry(ticket_entry(ticket, named, NOW), 1)

    assert "\tBocage - Bressuire, Caisse d'entrée, 21/11/2026 - Ticket n°1 - Espèces\t" in text
    assert text.encode("iso-8859-15")  # nothing left that the file's character set lacks


def test_the_books_of_a_configured_company_take_its_accounts_vat_status_and_siren() -> None:
    company = Company(
        id=COMPANY,
        version=1,
        updated_at=NOW,
        territory_id=uuid4(),
        name="Ressourcerie du Lagon",
        vat_subject=True,
        siren="552100554",
        accounts=CAISSE_ACCOUNTS,
    )

    shop = Shop(id=SHOP, version=1, updated_at=NOW, company_id=COMPANY, name="Boutique de Ducos")
    till = Pos(id=POS, version=1, updated_at=NOW, shop_id=SHOP, name="Caisse 2", hostname="c2", device_serial="NC-2")

    made = FecBooks.of_company(company, timezone="Pacific/Noumea", shops=[shop], tills=[till])

    assert (made.company_id, made.vat_subject, made.siren, made.timezone) == (
        COMPANY,
        True,
        "552100554",
        "Pacific/Noumea",
    )
    assert made.accounts.variance_shortage == "678"
    assert made.where(SHOP, POS, date(2026, 11, 21)) == "Boutique de Ducos, Caisse 2, 21/11/2026"


def test_a_cash_surplus_is_debited_to_cash_and_credited_to_the_surplus_account() -> None:
    entry = session_variance_entry(session_closed(250), books(), NOW)

    assert by_side(entry) == {("530", "D"): 250, ("758", "C"): 250}
    assert entry.piece_ref == f"POS-SESSION-{SESSION}"
    assert entry.entry_date == date(2026, 11, 21)


def test_a_cash_shortage_is_debited_to_the_shortage_account_and_credited_to_cash() -> None:
    assert by_side(session_variance_entry(session_closed(-100), books(), NOW)) == {("658", "D"): 100, ("530", "C"): 100}


def test_a_confirmed_deposit_moves_the_cash_and_each_cheque_to_the_bank_on_the_day_of_the_deposit() -> None:
    cheques = (
        ChequeV1(ticket_id=uuid4(), number="0001234", bank="Crédit Mutuel", amount=2500),
        ChequeV1(ticket_id=uuid4(), number="0005678", bank=None, amount=2000),
    )
    entry = deposit_entry(deposit_confirmed(13100, cheques), books(), NOW)

    assert by_side(entry) == {("512", "D"): 17600, ("530", "C"): 13100, ("5112", "C"): 4500}
    assert [(line.account, line.amount, line.label) for line in entry.lines] == [
        ("512", 17600, f"{WHERE} - Remise BR-0457 - Total"),
        ("530", -13100, f"{WHERE} - Remise BR-0457 - Espèces"),
        ("5112", -2500, f"{WHERE} - Remise BR-0457 - Chèque n°0001234 (Crédit Mutuel)"),
        ("5112", -2000, f"{WHERE} - Remise BR-0457 - Chèque n°0005678"),
    ]
    assert entry.piece_ref == f"REMISE-{SESSION}"
    assert (entry.entry_date, entry.piece_date) == (date(2026, 11, 23), date(2026, 11, 23))
    assert [line.account for line in deposit_entry(deposit_confirmed(500), books(), NOW).lines] == ["512", "530"]


async def test_the_close_books_its_variance_only_and_the_deposit_books_the_cheques_once() -> None:
    journal = InMemoryFecJournal()
    cheques = (ChequeV1(ticket_id=uuid4(), number="0001234", bank="Crédit Mutuel", amount=2500),)
    closed = session_closed(-100).model_copy(update={"cheques": cheques})

    await book_session_close_to_fec(closed, books(), journal, NOW)
    deposit = deposit_confirmed(13100, cheques)
    first = await book_deposit_to_fec(deposit, books(), journal, NOW)
    again = await book_deposit_to_fec(deposit, books(), journal, NOW)

    rows = [line.split("\t") for line in journal.text(f"{COMPANY.hex}FEC20261231.txt").splitlines()[1:]]
    assert sorted({(row[8], row[3]) for row in rows}) == [
        (f"POS-SESSION-{SESSION}", "20261121"),
        (f"REMISE-{SESSION}", "20261123"),
    ]
    assert [row[4] for row in rows if row[8] == f"POS-SESSION-{SESSION}"] == ["530", "658"]
    assert (first.status, again.status, again.number) == (
        FecBookingStatus.BOOKED,
        FecBookingStatus.ALREADY_BOOKED,
        first.number,
    )


async def test_a_session_whose_count_matched_books_nothing() -> None:
    journal = InMemoryFecJournal()

    booking = await book_session_close_to_fec(session_closed(0), books(), journal, NOW)

    assert booking.status is FecBookingStatus.NOTHING_TO_BOOK
    assert journal.entries == {}


def test_a_session_closed_late_on_new_year_s_eve_utc_is_booked_on_the_local_day_in_the_next_year() -> None:
    closed = session_closed(-100, closed_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))

    entry = session_variance_entry(closed, books(timezone="Europe/Paris"), NOW)

    assert entry.entry_date == date(2027, 1, 1)
    assert entry.fiscal_year() == FiscalYear(date(2027, 1, 1), date(2027, 12, 31))


async def test_replaying_a_ticket_books_nothing_more_and_answers_its_first_number() -> None:
    journal = InMemoryFecJournal()
    first = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)], number=1)
    second = sale([Item("707", 700)], [Tender(PaymentMethod.CARD, 700)], number=2)
    await book_ticket_to_fec(first, books(), journal, NOW)
    await book_ticket_to_fec(second, books(), journal, NOW)
    name = f"{COMPANY.hex}FEC20261231.txt"
    before = journal.text(name)

    replay = await book_ticket_to_fec(first, books(), journal, NOW)

    assert replay == FecBooking(FecBookingStatus.ALREADY_BOOKED, 1, name)
    assert journal.text(name) == before


def test_a_ticket_whose_payments_do_not_cover_its_lines_is_refused() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)])
    short = ticket.model_copy(update={"payments": (ticket.payments[0].model_copy(update={"amount": 450}),)})

    with pytest.raises(UnbalancedEntryError) as refused:
        ticket_entry(short, books(), NOW)
    assert refused.value.difference == -50


def test_a_ticket_of_another_company_is_refused() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CASH, 500)])

    with pytest.raises(OtherCompanyError):
        ticket_entry(ticket, books(company_id=uuid4()), NOW)


def test_a_fiscal_year_ending_in_june_runs_from_july_to_june_and_names_the_file() -> None:
    year = fiscal_year_containing(date(2026, 7, 1), end_month=6)

    assert year == FiscalYear(date(2026, 7, 1), date(2027, 6, 30))
    assert fec_file_name(books(siren="123456789"), year) == "123456789FEC20270630.txt"
    assert fiscal_year_containing(date(2024, 2, 29), end_month=2).end == date(2024, 2, 29)


def test_a_tab_or_line_break_in_a_label_never_splits_a_field() -> None:
    ticket = sale([Item("707", 500)], [Tender(PaymentMethod.CHEQUE, 500, reference="12\t34", bank="Banque\nPostale")])

    text = render_entry(ticket_entry(ticket, books(), NOW), 1)

    assert [len(line.split("\t")) for line in text.splitlines()] == [18, 18]
    assert "Chèque n°12 34 (Banque Postale)" in text


def test_amounts_are_written_with_a_comma_and_the_currency_s_decimals() -> None:
    assert [format_amount(a, 2) for a in (0, 5, 1075, 123456789)] == ["0,00", "0,05", "10,75", "1234567,89"]
    assert [format_amount(a, 0) for a in (0, 1005)] == ["0", "1005"]


# Properties: arbitrary valid tickets of the contracts' basket math balance to the unit, and their file passes the
# validator.

METHODS = st.sampled_from(list(PaymentMethod))
ITEMS = st.lists(
    st.builds(
        Item,
        account=st.sampled_from(["7071", "7072", "706", "756"]),
        price=st.integers(0, 200_000),
        tax_rate_bp=st.sampled_from([0, 210, 550, 1000, 2000]),
        quantity=st.integers(1, 5),
    ),
    min_size=1,
    max_size=6,
)


TERRITORIES = st.sampled_from([("EUR", CashRoundingRule.NONE, 2), ("CHF", NEAREST_5, 2), ("XPF", NEAREST_5, 0)])
"""Currency, cash rounding and exponent of a territory."""


@st.composite
def tickets(
    draw: st.DrawFn, territory: tuple[str, CashRoundingRule, int] | None = None
) -> tuple[TicketFinalizedV1, int]:
    """A paid sale (or the credit note cancelling it) in EUR, CHF or XPF, with its currency's exponent."""
    currency, rounding, exponent = territory or draw(TERRITORIES)
    items = draw(ITEMS)
    prices_include_tax = draw(st.booleans())
    due = sale(items, [], currency=currency, prices_include_tax=prices_include_tax, paid=False).total_incl_tax
    methods = draw(st.lists(METHODS, min_size=1, max_size=3))
    # Non-cash tenders take a share each; cash, when there is some, settles the rest rounded to its coins (a rest
    # that rounds to nothing goes on a card: no coin pays it).
    non_cash_methods = [m for m in methods if m is not PaymentMethod.CASH]
    has_cash = len(non_cash_methods) < len(methods)
    tenders: list[Tender] = []
    left = due
    for index, method in enumerate(non_cash_methods):
        last = index == len(non_cash_methods) - 1 and not has_cash
        amount = left if last else draw(st.integers(0, left))
        if amount:
            tenders.append(Tender(method, amount, reference="X1"))
        left -= amount
    if has_cash and left:
        cash = round_cash(left, rounding).rounded
        if cash:
            tenders.append(Tender(PaymentMethod.CASH, cash, tendered=cash + draw(st.integers(0, 5000))))
        else:
            tenders.append(Tender(PaymentMethod.CARD, left))
    ticket = sale(items, tenders, currency=currency, rounding=rounding, prices_include_tax=prices_include_tax)
    if draw(st.booleans()) and ticket.total_incl_tax:
        ticket = credit_note(ticket, draw(st.lists(METHODS, min_size=1, max_size=3, unique=True)), rounding=rounding)
    return ticket, exponent


@given(tickets(), st.booleans())
@settings(max_examples=300, deadline=None)
def test_every_valid_ticket_books_a_balanced_entry(drawn: tuple[TicketFinalizedV1, int], vat_subject: bool) -> None:
    ticket, exponent = drawn

    entry = ticket_entry(ticket, books(vat_subject=vat_subject), NOW)

    assert entry.debit == entry.credit
    assert entry.currency_exponent == exponent
    assert all(line.amount for line in entry.lines)
    sign = -1 if ticket.kind is TicketKind.CREDIT_NOTE else 1
    assert entry.debit >= sign * (ticket.total_incl_tax + ticket.cash_rounding) >= 0


@given(TERRITORIES.flatmap(lambda t: st.lists(tickets(t), min_size=1, max_size=8)), st.booleans())
@settings(max_examples=60, deadline=None)
async def test_a_file_of_arbitrary_tickets_passes_the_validator(
    drawn: list[tuple[TicketFinalizedV1, int]], vat_subject: bool
) -> None:
    journal = InMemoryFecJournal()
    for number, (ticket, _) in enumerate(drawn, start=1):  # a till numbers its tickets 1, 2, 3…
        await book_ticket_to_fec(
            ticket.model_copy(update={"number": number}), books(vat_subject=vat_subject), journal, NOW
        )

    exponent = drawn[0][1]
    year = FiscalYear(date(2026, 1, 1), date(2026, 12, 31))
    assert len(journal.entries) <= 1  # tickets of zero book nothing, not even a file
    for name in journal.entries:
        assert validate_fec(journal.text(name), year, exponent) == []
        assert validate_fec(journal.text(name), year) == []  # the currency's decimals, as the checker finds them
