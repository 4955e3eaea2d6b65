"""Checks a FEC file's text and names each problem with its line: what the tax administration's checks look at first.

Checked: the header names the 18 fields of A47 A-1 in order; every line has 18 tab-separated fields and ends
with a line feed; EcritureDate, PieceDate and ValidDate are real `YYYYMMDD` dates (DateLet too when filled);
Debit and Credit are both filled, non-negative, with a comma as decimal separator, no thousands separator and
exactly the number of decimals of the books' currency (A47 A-1 III 2°; `domain/fec.py` says why the writer
writes the currency's own decimals, none for XPF): the exponent when it is given, else the number of decimals
most amounts of the file have, since a file holds the books of one company in one currency; an entry's lines
are contiguous, share one date and balance; EcritureNum runs 1, 2, 3… without a gap, in the order of validation
(ValidDate never goes back as the numbers grow); an account keeps one CompteLib throughout; every EcritureDate
falls in the fiscal year when one is given. One rule is Caisse's own rather than the text's: each entry books
one piece (a ticket, a session's variance, a deposit slip), so a PieceRef met again in another entry is a
reference that no longer leads back to one ticket. Line numbers count the header as line 1, as an editor shows
them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from paheko_bridge.domain.fec import FEC_COLUMNS, FEC_SEPARATOR, FiscalYear

_COLUMN = {name: index for index, name in enumerate(FEC_COLUMNS)}
_DATE = re.compile(r"^[0-9]{8}$")
_AMOUNT = re.compile(r"^[0-9]+(,[0-9]+)?$")


@dataclass(frozen=True, slots=True)
class FecProblem:
    """What is wrong (`reason`) on which line of the file (`line`, 1 = the header)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _parse_date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        # strptime is the stdlib's calendar check (20260230 fails); only the date part is kept, no time zone needed.
        return datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007
    except ValueError:
        return None


def _parse_amount(text: str, exponent: int | None) -> Decimal | None:
    """The amount in major units, exact, or None when malformed."""
    if not _AMOUNT.match(text):
        return None
    _, _, decimals = text.partition(",")
    if exponent is not None and len(decimals) != exponent:
        return None
    return Decimal(text.replace(",", "."))


@dataclass
class _Entry:
    number: int
    first_line: int
    day: str
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    unreadable: bool = False
    """A line of it could not be read: its balance would only repeat that problem, so it is not reported."""


def _written(amount: Decimal) -> str:
    return str(amount).replace(".", ",")


def _usual_decimals(lines: list[str]) -> int | None:
    """The number of decimals most well-formed amounts of the file have (the first met wins a tie)."""
    debit, credit = _COLUMN["Debit"], _COLUMN["Credit"]
    counts: Counter[int] = Counter()
    for line in lines:
        fields = line.split(FEC_SEPARATOR)
        if len(fields) != len(FEC_COLUMNS):
            continue
        for text in (fields[debit], fields[credit]):
            if _AMOUNT.match(text):
                counts[len(text.partition(",")[2])] += 1
    return counts.most_common(1)[0][0] if counts else None


def validate_fec(text: str, fiscal_year: FiscalYear | None = None, exponent: int | None = None) -> list[FecProblem]:
    """Every problem found in `text` (a whole FEC file, decoded), in line order; an empty list when it holds."""
    problems: list[FecProblem] = []
    if not text:
        return [FecProblem(1, "the file is empty: the header line is missing")]
    raw_lines = text.split("\n")
    if raw_lines[-1] != "":
        problems.append(FecProblem(len(raw_lines), "the last line does not end with a line feed (cut short?)"))
    else:
        raw_lines.pop()
    lines = [line.removesuffix("\r") for line in raw_lines]
    header = lines[0].split(FEC_SEPARATOR)
    if tuple(header) != FEC_COLUMNS:
        problems.append(FecProblem(1, f"the header must name the 18 fields {', '.join(FEC_COLUMNS)} in this order"))
    if exponent is None:
        exponent = _usual_decimals(lines[1:])

    entries: list[_Entry] = []
    seen: set[int] = set()
    # A line whose entry cannot be told may belong to the entry before it or to the next one.
    lost_line = False
    latest_validation: date | None = None
    account_names: dict[str, tuple[str, int]] = {}
    pieces: dict[str, tuple[str, int]] = {}
    """The EcritureNum and first line of each PieceRef met."""
    shared_pieces: set[tuple[str, str]] = set()
    for index, line in enumerate(lines[1:], start=2):
        fields = line.split(FEC_SEPARATOR)
        if len(fields) != len(FEC_COLUMNS):
            problems.append(FecProblem(index, f"{len(fields)} fields instead of {len(FEC_COLUMNS)}"))
            lost_line = True
            if entries:
                entries[-1].unreadable = True
            continue

        def get(name: str, row: list[str] = fields) -> str:
            return row[_COLUMN[name]]

        for name in ("EcritureDate", "PieceDate", "ValidDate"):
            if _parse_date(get(name)) is None:
                problems.append(FecProblem(index, f"{name} {get(name)!r} is not a valid YYYYMMDD date"))
        if get("DateLet") and _parse_date(get("DateLet")) is None:
            problems.append(FecProblem(index, f"DateLet {get('DateLet')!r} is not a valid YYYYMMDD date"))
        for name in ("JournalCode", "JournalLib", "CompteNum", "CompteLib", "PieceRef", "EcritureLib"):
            if not get(name).strip():
                problems.append(FecProblem(index, f"{name} is empty"))
        named = account_names.setdefault(get("CompteNum"), (get("CompteLib"), index))
        if named[0] != get("CompteLib"):
            problems.append(
                FecProblem(
                    index,
                    f"CompteNum {get('CompteNum')} is named {get('CompteLib')!r} here and {named[0]!r} on line {named[1]}",
                )
            )
        piece = pieces.setdefault(get("PieceRef"), (get("EcritureNum"), index))
        shared = (get("PieceRef"), get("EcritureNum"))
        if piece[0] != get("EcritureNum") and get("PieceRef").strip() and shared not in shared_pieces:
            shared_pieces.add(shared)  # once per entry, not on each of its lines
            problems.append(
                FecProblem(
                    index,
                    f"PieceRef {get('PieceRef')} is already the piece of entry {piece[0]} (line {piece[1]}):"
                    " each entry books a piece of its own",
                )
            )
        entry_day = _parse_date(get("EcritureDate"))
        if fiscal_year is not None and entry_day is not None and entry_day not in fiscal_year:
            problems.append(
                FecProblem(
                    index,
                    f"EcritureDate {get('EcritureDate')} is outside the fiscal year "
                    f"{fiscal_year.start:%Y%m%d}-{fiscal_year.end:%Y%m%d}",
                )
            )

        amounts: dict[str, Decimal] = {}
        for name in ("Debit", "Credit"):
            parsed = _parse_amount(get(name), exponent)
            if parsed is None:
                decimals = "" if exponent is None else f" with {exponent} decimals"
                problems.append(
                    FecProblem(index, f"{name} {get(name)!r} is not an amount (digits, a comma{decimals}, both filled)")
                )
            else:
                amounts[name] = parsed

        number_text = get("EcritureNum")
        if not number_text.isdigit():
            problems.append(FecProblem(index, f"EcritureNum {number_text!r} is not a number"))
            lost_line = True
            if entries:
                entries[-1].unreadable = True
            continue
        number = int(number_text)
        current = entries[-1] if entries else None
        if current is None or current.number != number:
            expected = 1 if current is None else current.number + 1
            if number in seen:
                problems.append(FecProblem(index, f"EcritureNum {number} appears again after another entry"))
            elif number != expected:
                problems.append(FecProblem(index, f"EcritureNum {number} where {expected} was expected (a gap)"))
            seen.add(number)
            current = _Entry(number, index, get("EcritureDate"), unreadable=lost_line)
            entries.append(current)
            lost_line = False
            validated = _parse_date(get("ValidDate"))
            if validated is not None:
                if latest_validation is not None and validated < latest_validation:
                    problems.append(
                        FecProblem(
                            index,
                            f"entry {number} was validated on {get('ValidDate')}, before an entry numbered "
                            f"earlier ({latest_validation:%Y%m%d}): numbers follow the order of validation",
                        )
                    )
                latest_validation = max(validated, latest_validation or validated)
        elif get("EcritureDate") != current.day:
            problems.append(FecProblem(index, f"entry {number} has lines on two dates"))
        current.debit += amounts.get("Debit", Decimal(0))
        current.credit += amounts.get("Credit", Decimal(0))
        current.unreadable = current.unreadable or len(amounts) < 2

    for entry in entries:
        if entry.debit != entry.credit and not entry.unreadable:
            problems.append(
                FecProblem(
                    entry.first_line,
                    f"entry {entry.number} does not balance: debits {_written(entry.debit)} ≠ credits {_written(entry.credit)}",
                )
            )
    return sorted(problems, key=lambda problem: problem.line)
