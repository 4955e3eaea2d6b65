"""The FEC entries of a company without Paheko: one balanced entry per ticket, one per cash variance, as FEC text.

The *fichier des écritures comptables* (article A47 A-1 of the Livre des procédures fiscales, commented in
BOI-CF-IOR-60-40-20) is one flat file per company and fiscal year, one line per accounting line, 18 fields in a
fixed order separated by tabs, a header line naming them. What this module follows, and why:

- **Same bookings as Paheko's Caisse** (PAHEKO.md §3), so that a company moving between FEC and Paheko sees the
  same accounts and amounts: each tender is a debit on its method's account (530 cash, 5112 cheques, 5115 cards,
  4191 gift vouchers) for what it settles — for cash that is the payment's `amount`, the change already out of
  it; each revenue account of the lines is a credit; a cash variance is booked against the cash account, a
  shortage as a debit on the shortage account (658 seed, 678 Caisse), a surplus as a credit on the surplus
  account (758 seed, 778 Caisse). Caisse books one entry per session summing its tickets; the FEC books one
  entry per ticket plus one per variance (issue 6 asks for one entry per ticket, and a ticket booked as it is
  finalized never waits for its session's close): summed per account over a session, both give the same lines.
- **Signs**: a line is an `int` of minor units, positive for a debit and negative for a credit, so an entry
  balances when its amounts add up to zero. A credit note's amounts are negative (its lines and its refund
  tenders), so the same rules put the refunded cash on the credit side and the revenue on the debit side.
- **VAT**: a VAT-subject company credits revenue tax excluded and the VAT of each rate to the VAT-collected
  account (44571); a company that is not VAT-subject credits revenue tax included, as Caisse always does.
- **Cash rounding** (XPF, CHF): the payments add up to the amount due plus `cash_rounding`, so the rounding is
  booked on the rounding account on the opposite side of its sign (a customer paying 2 more: credit 2).
- **Bank deposit** (512 / 53x and 511x): the cash and the cheques leave the till for the bank when the shop
  confirms the deposit slip (`session.deposit_confirmed`), not at the close: one more entry, dated the day of the
  deposit, debits the bank account with the slip's total and credits the cash account with the cash deposited
  and the cheques account with each cheque, its number and bank in the label. Paheko gets the same entry
  (`POS-DEPOSIT-<Caisse session>`) through the plugin.
- **Numbering**: EcritureNum is sequential from 1 without gaps over the whole file, which is one journal; the
  text asks for chronological, gap-free numbering within each journal, so one counter per file satisfies it.
- **Dates**: EcritureDate and PieceDate are the business date in the shop's time zone (a ticket's
  `local_date`; a session's close converted with the company's time zone). ValidDate is the local day the entry
  was booked: a finalized ticket never changes, so booking it validates it, and the text wants entries numbered
  in the order of their validation — a ticket sold offline yesterday and booked today gets today's ValidDate
  and the next number, while its EcritureDate stays yesterday.
- **Amounts**: Debit and Credit are both written, in major units with a comma and the currency's own number of
  decimals (EUR `10,75`, XPF `1005`), no thousands separator, `0,00` (or `0`) on the side not used. The rule is
  A47 A-1 III 2°: numbers in base ten, "la virgule sépare la fraction entière de la partie décimale", no
  thousands separator; it sets no number of decimals. The amounts are those of the books, kept in the currency of
  the company's territory (the euro in France, the CFP franc in New Caledonia and French Polynesia, which has no
  subunit: `1005,00` would show hundredths that do not exist). Montantdevise and Idevise (fields 17 and 18) give
  an operation's amount in a currency other than the books' one; a ticket is always in the books' currency, so
  they stay empty. Every amount of a file thus has the same number of decimals, which the checker relies on.
- **PieceRef**: a ticket's piece is `T<number>-<pos id>`: a till numbers its tickets (sales and credit notes)
  gap-free in one sequence of its own, so the number and the whole id of the till name one ticket for ever and
  lead back to both. A shortened id would not do: time-ordered ids (UUIDv7) of tills created together share
  their first characters, and a till's name or hostname can be renamed or repeated. A47 A-1 sets no length for
  the fields of a file with a separator (I 3°: records of variable length). A session's pieces are
  `POS-SESSION-<session id>` (its variance) and `REMISE-<session id>` (its deposit slip): every entry of the
  file has a piece of its own, which the checker verifies.
- **Labels**: each EcritureLib names the shop, the till and the day of the entry (`Boutique Centre, Caisse 1,
  21/11/2026`) before what the line books, so a line read alone in a ledger says where it comes from; a cheque
  carries its number and bank.
- **Fiscal year**: the calendar year unless the company's year ends another month (`fiscal_year_end_month`);
  the file is named `<SIREN>FEC<year end YYYYMMDD>.txt`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo

from caisse_contracts.config import AccountMapping, Company, Pos, Shop
from caisse_contracts.events.sessions import SessionClosedV1, SessionDepositConfirmedV1
from caisse_contracts.events.tickets import PaymentMethod, PaymentV1, TicketFinalizedV1, TicketKind
from caisse_contracts.money import CURRENCIES

FEC_COLUMNS: Final = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
"""The 18 fields of A47 A-1, in their order; the header line names them so."""

FEC_SEPARATOR: Final = "\t"
FEC_ENCODING: Final = "iso-8859-15"
"""A47 A-1 names ASCII, ISO 8859-15 or EBCDIC for the characters of the file; ISO 8859-15 holds French accents
and the euro sign. A character it lacks is written as `?` rather than refusing the entry."""

FEC_HEADER: Final = FEC_SEPARATOR.join(FEC_COLUMNS) + "\n"

ACCOUNT_LABELS: Final[Mapping[str, str]] = {
    "44571": "TVA collectée",
    "4191": "Clients - avances reçues",
    "411": "Clients",
    "512": "Banque",
    "5112": "Chèques à encaisser",
    "5115": "Cartes bancaires à encaisser",
    "511": "Valeurs à l'encaissement",
    "53": "Caisse",
    "658": "Charges diverses de gestion courante",
    "678": "Autres charges exceptionnelles",
    "706": "Prestations de services",
    "707": "Ventes de marchandises",
    "708": "Produits des activités annexes",
    "70": "Ventes",
    "756": "Cotisations",
    "758": "Produits divers de gestion courante",
    "778": "Autres produits exceptionnels",
}
"""Labels of the associative chart (PCA 2025) by account prefix; the longest known prefix names an account, so a
CompteNum keeps one CompteLib throughout the file."""

_METHOD_LABELS: Final = {
    PaymentMethod.CASH: "Espèces",
    PaymentMethod.CHEQUE: "Chèque",
    PaymentMethod.CARD: "Carte bancaire",
    PaymentMethod.VOUCHER: "Bon d'achat",
}


class FecError(Exception):
    """Root of the FEC writer's errors: none of them is worth a retry, the event goes to the dead letters."""


class UnbalancedEntryError(FecError):
    """The lines of an entry do not add up to zero: the event's own totals disagree with each other."""

    def __init__(self, source_id: UUID, difference: int) -> None:
        super().__init__(f"entry of {source_id} is off by {difference} minor units (debits - credits)")
        self.source_id = source_id
        self.difference = difference


class UnknownCurrencyError(FecError):
    """The event's currency is not one whose number of decimals we know, so its amounts cannot be written."""

    def __init__(self, currency: str) -> None:
        super().__init__(f"unknown currency {currency!r}")
        self.currency = currency


class OtherCompanyError(FecError):
    """The event belongs to another company than the books it was given."""

    def __init__(self, expected: UUID, actual: UUID) -> None:
        super().__init__(f"event of company {actual} booked into the books of {expected}")
        self.expected = expected
        self.actual = actual


class SourceKind(StrEnum):
    """What an entry books: idempotency is per source (a ticket, a session's variance)."""

    TICKET = "ticket"
    SESSION_VARIANCE = "session_variance"
    CHEQUE_DEPOSIT = "cheque_deposit"
    """The cheques of a session, booked to the bank at its close by earlier versions: kept to read their files."""
    DEPOSIT = "deposit"
    """A session's confirmed bank deposit: its cash and its cheques."""


@dataclass(frozen=True, slots=True)
class FecBooks:
    """What the FEC writer needs of a company: its accounts, VAT status, SIREN, year and journal."""

    company_id: UUID
    accounts: AccountMapping = field(default_factory=AccountMapping)
    vat_subject: bool = False
    siren: str | None = None
    timezone: str = "Europe/Paris"
    fiscal_year_end_month: int = 12
    journal_code: str = "CA"
    journal_label: str = "Caisse"
    account_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels that override or complete `ACCOUNT_LABELS`, by exact account."""
    shop_names: Mapping[UUID, str] = field(default_factory=dict)
    till_names: Mapping[UUID, str] = field(default_factory=dict)
    """The names the back office gives the company's shops and tills, by id, for the labels."""

    @classmethod
    def of_company(
        cls,
        company: Company,
        timezone: str = "Europe/Paris",
        shops: Iterable[Shop] = (),
        tills: Iterable[Pos] = (),
    ) -> FecBooks:
        """The books of a configured company; `timezone` is its territory's, `shops` and `tills` its own."""
        return cls(
            company_id=company.id,
            accounts=company.accounts,
            vat_subject=company.vat_subject,
            siren=company.siren,
            timezone=timezone,
            shop_names={shop.id: shop.name for shop in shops},
            till_names={till.id: till.name for till in tills},
        )

    def where(self, shop_id: UUID, pos_id: UUID, day: date) -> str:
        """`Shop, till, DD/MM/YYYY`: where and when an entry's money moved, as the back office names them (the
        id stands in for a name the bridge has not seen yet)."""
        shop = self.shop_names.get(shop_id) or f"Boutique {shop_id}"
        till = self.till_names.get(pos_id) or f"Caisse {pos_id}"
        return f"{shop}, {till}, {day:%d/%m/%Y}"

    def account_label(self, account: str) -> str:
        if account in self.account_labels:
            return self.account_labels[account]
        for length in range(len(account), 0, -1):
            known = ACCOUNT_LABELS.get(account[:length])
            if known is not None:
                return known
        return f"Compte {account}"


@dataclass(frozen=True, slots=True)
class FiscalYear:
    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def fiscal_year_containing(day: date, end_month: int = 12) -> FiscalYear:
    """The twelve months ending on the last day of `end_month` that contain `day`."""
    if not 1 <= end_month <= 12:
        raise ValueError(f"a fiscal year ends in a month 1..12, not {end_month}")
    year = day.year if day.month <= end_month else day.year + 1
    end = date(year, end_month, calendar.monthrange(year, end_month)[1])
    before = date(year - 1, end_month, calendar.monthrange(year - 1, end_month)[1])
    return FiscalYear(before + timedelta(days=1), end)


def fec_file_name(books: FecBooks, year: FiscalYear) -> str:
    """`<SIREN>FEC<YYYYMMDD>.txt`; without a SIREN the company id stands in, to be renamed before filing."""
    who = books.siren or books.company_id.hex
    return f"{who}FEC{year.end:%Y%m%d}.txt"


@dataclass(frozen=True, slots=True)
class FecLine:
    """One accounting line: `amount` in minor units, > 0 a debit, < 0 a credit."""

    account: str
    account_label: str
    label: str
    amount: int


@dataclass(frozen=True, slots=True)
class FecEntry:
    """One balanced entry, not numbered yet: `number_entries` numbers it in its turn."""

    company_id: UUID
    source_kind: SourceKind
    source_id: UUID
    journal_code: str
    journal_label: str
    entry_date: date
    piece_ref: str
    piece_date: date
    valid_date: date
    """When the entry was booked (validated): the order of the numbering."""
    currency_exponent: int
    lines: tuple[FecLine, ...]

    @property
    def debit(self) -> int:
        return sum(line.amount for line in self.lines if line.amount > 0)

    @property
    def credit(self) -> int:
        return -sum(line.amount for line in self.lines if line.amount < 0)

    def fiscal_year(self, end_month: int = 12) -> FiscalYear:
        return fiscal_year_containing(self.entry_date, end_month)

    @property
    def source(self) -> FecSource:
        return (self.source_kind, self.source_id)


FecSource = tuple[SourceKind, UUID]
"""What an entry books (a ticket, a session's variance, a deposit): a company's journal books each source once."""


def _exponent(currency: str) -> int:
    known = CURRENCIES.get(currency)
    if known is None:
        raise UnknownCurrencyError(currency)
    return known.exponent


def _rate_label(rate_bp: int) -> str:
    whole, part = divmod(rate_bp, 100)
    return f"{whole} %" if not part else f"{whole},{part:02d}".rstrip("0") + " %"


def _tender_label(method: PaymentMethod, reference: str | None, bank: str | None) -> str:
    label = _METHOD_LABELS[method]
    if reference:
        label += f" n°{reference}"
    if bank:
        label += f" ({bank})"
    return label


def _payment_label(payment: PaymentV1) -> str:
    return _tender_label(payment.method, payment.reference, payment.bank)


def _payment_account(accounts: AccountMapping, method: PaymentMethod) -> str:
    by_method = {
        PaymentMethod.CASH: accounts.cash,
        PaymentMethod.CHEQUE: accounts.cheque,
        PaymentMethod.CARD: accounts.card,
        PaymentMethod.VOUCHER: accounts.voucher,
    }
    return by_method[method]


def _balanced(entry: FecEntry) -> FecEntry:
    difference = sum(line.amount for line in entry.lines)
    if difference:
        raise UnbalancedEntryError(entry.source_id, difference)
    return entry


def _local_day(moment: datetime, books: FecBooks) -> date:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed to find the local day")
    return moment.astimezone(ZoneInfo(books.timezone)).date()


def ticket_entry(ticket: TicketFinalizedV1, books: FecBooks, booked_at: datetime) -> FecEntry:
    """The entry of one finalized ticket (sale or credit note), booked at `booked_at`; no lines when it moves no
    money at all."""
    if ticket.company_id != books.company_id:
        raise OtherCompanyError(books.company_id, ticket.company_id)
    exponent = _exponent(ticket.currency)
    what = "Avoir" if ticket.kind is TicketKind.CREDIT_NOTE else "Ticket"
    title = f"{books.where(ticket.shop_id, ticket.pos_id, ticket.local_date)} - {what} n°{ticket.number}"
    accounts = books.accounts
    lines: list[FecLine] = []

    for payment in ticket.payments:
        account = _payment_account(accounts, payment.method)
        lines.append(
            FecLine(account, books.account_label(account), f"{title} - {_payment_label(payment)}", payment.amount)
        )

    # Revenue per account in the order the lines first name it, so a ticket's entry reads like its receipt.
    revenue: dict[str, int] = {}
    for line in ticket.lines:
        amount = line.total_excl_tax if books.vat_subject else line.total_incl_tax
        revenue[line.revenue_account] = revenue.get(line.revenue_account, 0) + amount
    for account, amount in revenue.items():
        lines.append(FecLine(account, books.account_label(account), f"{title} - Ventes", -amount))
    if books.vat_subject:
        for tax in sorted(ticket.taxes, key=lambda t: t.rate_bp):
            vat = accounts.vat_collected
            lines.append(FecLine(vat, books.account_label(vat), f"{title} - TVA {_rate_label(tax.rate_bp)}", -tax.tax))

    if ticket.cash_rounding:
        account = ticket.rounding_account or accounts.cash_rounding
        lines.append(
            FecLine(account, books.account_label(account), f"{title} - Arrondi espèces", -ticket.cash_rounding)
        )

    return _balanced(
        FecEntry(
            company_id=ticket.company_id,
            source_kind=SourceKind.TICKET,
            source_id=ticket.ticket_id,
            journal_code=books.journal_code,
            journal_label=books.journal_label,
            entry_date=ticket.local_date,
            piece_ref=f"T{ticket.number}-{ticket.pos_id}",
            piece_date=ticket.local_date,
            valid_date=_local_day(booked_at, books),
            currency_exponent=exponent,
            lines=tuple(line for line in lines if line.amount),
        )
    )


def deposit_entry(deposit: SessionDepositConfirmedV1, books: FecBooks, booked_at: datetime) -> FecEntry:
    """The entry of a session's takings going to the bank with its confirmed deposit slip, on the deposit's day:
    the bank debited with the slip's total, the cash account credited with the cash, the cheques account with each
    cheque (no lines for an empty slip)."""
    if deposit.company_id != books.company_id:
        raise OtherCompanyError(books.company_id, deposit.company_id)
    accounts = books.accounts
    slip = f"{books.where(deposit.shop_id, deposit.pos_id, _local_day(deposit.closed_at, books))} - Remise {deposit.reference}"
    cheque_label = books.account_label(accounts.cheque)
    total = deposit.cash + sum(cheque.amount for cheque in deposit.cheques)
    # The cheques account gives up each cheque on a line of its own, with its number and bank, so that each can
    # be matched with the ticket line that received it.
    lines = (
        FecLine(accounts.bank, books.account_label(accounts.bank), f"{slip} - Total", total),
        FecLine(accounts.cash, books.account_label(accounts.cash), f"{slip} - Espèces", -deposit.cash),
        *(
            FecLine(
                accounts.cheque,
                cheque_label,
                f"{slip} - {_tender_label(PaymentMethod.CHEQUE, cheque.number, cheque.bank)}",
                -cheque.amount,
            )
            for cheque in deposit.cheques
        ),
    )
    return _balanced(
        FecEntry(
            company_id=deposit.company_id,
            source_kind=SourceKind.DEPOSIT,
            source_id=deposit.session_id,
            journal_code=books.journal_code,
            journal_label=books.journal_label,
            entry_date=deposit.deposited_on,
            piece_ref=f"REMISE-{deposit.session_id}",
            piece_date=deposit.deposited_on,
            valid_date=_local_day(booked_at, books),
            currency_exponent=_exponent(deposit.currency),
            lines=tuple(line for line in lines if line.amount),
        )
    )


def session_variance_entry(closed: SessionClosedV1, books: FecBooks, booked_at: datetime) -> FecEntry:
    """The entry of a session's cash variance (no lines when the count matched), dated on its local close day."""
    if closed.company_id != books.company_id:
        raise OtherCompanyError(books.company_id, closed.company_id)
    exponent = _exponent(closed.currency)
    closing_day = _local_day(closed.closed_at, books)
    accounts = books.accounts
    where = books.where(closed.shop_id, closed.pos_id, closing_day)
    label = f"{where} - Session de caisse - {_METHOD_LABELS[PaymentMethod.CASH]} - Erreur de caisse"
    lines: tuple[FecLine, ...] = ()
    if closed.variance:
        other = accounts.variance_surplus if closed.variance > 0 else accounts.variance_shortage
        lines = (
            FecLine(accounts.cash, books.account_label(accounts.cash), label, closed.variance),
            FecLine(other, books.account_label(other), label, -closed.variance),
        )
    return _balanced(
        FecEntry(
            company_id=closed.company_id,
            source_kind=SourceKind.SESSION_VARIANCE,
            source_id=closed.session_id,
            journal_code=books.journal_code,
            journal_label=books.journal_label,
            entry_date=closing_day,
            piece_ref=f"POS-SESSION-{closed.session_id}",
            piece_date=closing_day,
            valid_date=_local_day(booked_at, books),
            currency_exponent=exponent,
            lines=lines,
        )
    )


def validated_after(entry: FecEntry, latest: date | None) -> FecEntry:
    """`entry`, validated no earlier than the `latest` ValidDate of its file: numbers follow validation even when
    two writers' clocks straddle midnight."""
    if latest is None or entry.valid_date >= latest:
        return entry
    return replace(entry, valid_date=latest)


@dataclass(frozen=True, slots=True)
class BookedEntry:
    """An entry a company's journal holds already: its number, and its day, which names its fiscal year."""

    number: int
    entry_date: date


@dataclass(frozen=True, slots=True)
class JournalEnd:
    """The last entry of a company's journal of one fiscal year: the next entry follows its number and its
    validation."""

    number: int
    valid_date: date


@dataclass(frozen=True, slots=True)
class NumberedEntry:
    """An entry with its EcritureNum, validated in its turn, and its lines as the file holds them."""

    number: int
    entry: FecEntry
    text: str


@dataclass(frozen=True, slots=True)
class EntryPlace:
    """Where an entry stands in its company's journal: its number in its fiscal year, and whether it is new or its
    source was booked before (then the number is that first entry's)."""

    number: int
    year: FiscalYear
    new: bool


@dataclass(frozen=True, slots=True)
class Numbering:
    """What a batch of entries becomes in a journal: where each one stands, and the new ones to append."""

    places: tuple[EntryPlace, ...]
    """One per entry of the batch, in its order."""
    new: tuple[NumberedEntry, ...]
    """In number order, following the year's last entry without a gap."""


def number_entries(
    entries: Sequence[FecEntry],
    year: FiscalYear,
    *,
    end_month: int,
    booked: Mapping[FecSource, BookedEntry],
    end: JournalEnd | None,
) -> Numbering:
    """Number `entries`, all of one company and of its fiscal year `year`, after the year's last entry `end`.

    Each source is booked once: an entry whose source `booked` holds (from any year) answers that entry's number,
    and a source twice in the batch is numbered at its first. The new entries follow `end` without a gap, each
    validated no earlier than the one before it (`validated_after`), so that numbers follow validation.
    """
    number, latest = (end.number + 1, end.valid_date) if end is not None else (1, None)
    places: list[EntryPlace] = []
    new: list[NumberedEntry] = []
    first: dict[FecSource, EntryPlace] = {}
    for entry in entries:
        if (known := booked.get(entry.source)) is not None:
            places.append(EntryPlace(known.number, fiscal_year_containing(known.entry_date, end_month), new=False))
            continue
        if (same := first.get(entry.source)) is not None:
            places.append(same)
            continue
        validated = validated_after(entry, latest)
        latest = validated.valid_date
        new.append(NumberedEntry(number, validated, render_entry(validated, number)))
        first[entry.source] = EntryPlace(number, year, new=True)
        places.append(first[entry.source])
        number += 1
    return Numbering(tuple(places), tuple(new))


def format_amount(minor: int, exponent: int) -> str:
    """Minor units as FEC writes them: major units, comma, the currency's decimals, no thousands separator."""
    if minor < 0:
        raise ValueError("Debit and Credit are written as magnitudes")
    if exponent == 0:
        return str(minor)
    major, rest = divmod(minor, 10**exponent)
    return f"{major},{rest:0{exponent}d}"


_TYPOGRAPHY: Final = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": ",",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2026": "...",
        "\u2009": " ",
        "\u202f": " ",
    }
)
"""Typographic dashes, quotes, ellipsis and thin spaces, which ISO 8859-15 lacks, as their plain forms: a shop
named "Bocage — Bressuire" reads "Bocage - Bressuire" in the file rather than "Bocage ? Bressuire"."""


def _field(text: str) -> str:
    text = text.translate(_TYPOGRAPHY)
    # A tab or a line break inside a label would shift every field after it or split the line. Both are
    # unprintable, as is every line boundary: a printable text only needs its ends trimmed.
    if text.isprintable():
        return text.strip()
    return " ".join(text.replace("\t", " ").splitlines()).strip()


def render_entry(entry: FecEntry, number: int) -> str:
    """The entry's lines as FEC text, numbered `number`, each ending with a line feed."""
    exponent = entry.currency_exponent
    # The fields every line of the entry shares, written once: journal, number and date, then piece.
    head = FEC_SEPARATOR.join(
        (_field(entry.journal_code), _field(entry.journal_label), str(number), f"{entry.entry_date:%Y%m%d}")
    )
    piece = FEC_SEPARATOR.join((_field(entry.piece_ref), f"{entry.piece_date:%Y%m%d}"))
    tail = FEC_SEPARATOR.join(("", "", f"{entry.valid_date:%Y%m%d}", "", ""))
    out = []
    for line in entry.lines:
        fields = (
            head,
            _field(line.account),
            _field(line.account_label),
            "",
            "",
            piece,
            _field(line.label),
            format_amount(max(line.amount, 0), exponent),
            format_amount(max(-line.amount, 0), exponent),
            tail,
        )
        out.append(FEC_SEPARATOR.join(fields) + "\n")
    return "".join(out)
