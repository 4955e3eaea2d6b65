"""The FEC validator: a good file passes; each broken one is reported with its line and its reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from paheko_bridge.domain.fec import FiscalYear
from paheko_bridge.domain.fec_validator import FecProblem, validate_fec
from paheko_bridge.entrypoints import fec_check

HEADER = (
    "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\tPieceRef\t"
    "PieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise\n"
)
YEAR_2026 = FiscalYear(date(2026, 1, 1), date(2026, 12, 31))


def row(
    number: str = "1",
    account: str = "530",
    debit: str = "10,75",
    credit: str = "0,00",
    day: str = "20261121",
    piece_date: str = "20261121",
    valid: str = "20261121",
    piece: str | None = None,
) -> str:
    piece = f"T{number}" if piece is None else piece
    fields = (number, day, account, "Caisse", "", "", piece, piece_date, "Vente", debit, credit, "", "", valid, "", "")
    return "\t".join(("CA", "Caisse", *fields))


# The PAHEKO.md §3 session, as the FEC writer books it: two tickets and the variance.
GOOD = (
    HEADER
    + "\n".join(
        [
            row("1", "530", "10,75", "0,00"),
            row("1", "707", "0,00", "10,75"),
            row("2", "5112", "5,00", "0,00"),
            row("2", "707", "0,00", "5,00"),
            row("3", "678", "1,00", "0,00"),
            row("3", "530", "0,00", "1,00"),
        ]
    )
    + "\n"
)


def test_a_well_formed_file_has_no_problem() -> None:
    assert validate_fec(GOOD, YEAR_2026, exponent=2) == []


def test_a_file_with_crlf_line_ends_is_as_good() -> None:
    assert validate_fec(GOOD.replace("\n", "\r\n"), YEAR_2026, exponent=2) == []


def test_an_xpf_file_has_amounts_without_decimals() -> None:
    xpf = HEADER + row(debit="1005", credit="0") + "\n" + row(account="707", debit="0", credit="1005") + "\n"

    assert validate_fec(xpf, YEAR_2026, exponent=0) == []
    assert validate_fec(xpf, YEAR_2026, exponent=2)[0] == FecProblem(
        2, "Debit '1005' is not an amount (digits, a comma with 2 decimals, both filled)"
    )


def broken(line_index: int, replacement: str) -> str:
    """GOOD with its data line `line_index` (0-based, after the header) replaced."""
    lines = GOOD.splitlines()
    lines[line_index + 1] = replacement
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [FecProblem(1, "the file is empty: the header line is missing")], id="empty"),
        pytest.param(
            GOOD.replace("Montantdevise\tIdevise", "Idevise\tMontantdevise"),
            [
                FecProblem(
                    1,
                    "the header must name the 18 fields JournalCode, JournalLib, EcritureNum, EcritureDate, CompteNum, "
                    "CompteLib, CompAuxNum, CompAuxLib, PieceRef, PieceDate, EcritureLib, Debit, Credit, EcritureLet, "
                    "DateLet, ValidDate, Montantdevise, Idevise in this order",
                )
            ],
            id="header-order",
        ),
        pytest.param(
            GOOD.rstrip("\n"),
            [FecProblem(7, "the last line does not end with a line feed (cut short?)")],
            id="cut-short",
        ),
        pytest.param(
            broken(1, row("1", "707", "0,00", "10,75") + "\textra"),
            [FecProblem(3, "19 fields instead of 18")],
            id="19-fields",
        ),
        pytest.param(
            broken(1, row("1", "707", "0,00", "10,75", day="20260230")),
            [
                FecProblem(3, "EcritureDate '20260230' is not a valid YYYYMMDD date"),
                FecProblem(3, "entry 1 has lines on two dates"),
            ],
            id="30-february",
        ),
        pytest.param(
            broken(0, row("1", "530", "10,75", "0,00", piece_date="21/11/2026")),
            [FecProblem(2, "PieceDate '21/11/2026' is not a valid YYYYMMDD date")],
            id="piece-date-format",
        ),
        pytest.param(
            broken(0, row("1", "530", "10,75", "0,00", valid="")),
            [FecProblem(2, "ValidDate '' is not a valid YYYYMMDD date")],
            id="valid-date-missing",
        ),
        pytest.param(
            broken(0, row("1", "530", "10.75", "0,00")),
            [
                FecProblem(2, "Debit '10.75' is not an amount (digits, a comma with 2 decimals, both filled)"),
            ],
            id="decimal-point",
        ),
        pytest.param(
            broken(1, row("1", "707", "", "10,75")),
            [FecProblem(3, "Debit '' is not an amount (digits, a comma with 2 decimals, both filled)")],
            id="empty-debit",
        ),
        pytest.param(
            broken(2, row("2", "5112", "1 005,00", "0,00")).replace("5,00\n", "1005,00\n", 1),
            [FecProblem(4, "Debit '1 005,00' is not an amount (digits, a comma with 2 decimals, both filled)")],
            id="thousands-separator",
        ),
        pytest.param(
            broken(1, row("1", "707", "0,00", "10,70")),
            [FecProblem(2, "entry 1 does not balance: debits 10,75 ≠ credits 10,70")],
            id="unbalanced",
        ),
        pytest.param(
            GOOD.replace("\t2\t", "\t4\t").replace("\t3\t", "\t5\t"),
            [FecProblem(4, "EcritureNum 4 where 2 was expected (a gap)")],
            id="gap",
        ),
        pytest.param(
            broken(5, row("1", "530", "0,00", "1,00")),
            [
                FecProblem(6, "entry 3 does not balance: debits 1,00 ≠ credits 0,00"),
                FecProblem(7, "EcritureNum 1 appears again after another entry"),
                FecProblem(7, "entry 1 does not balance: debits 0,00 ≠ credits 1,00"),
            ],
            id="number-reused",
        ),
        pytest.param(
            GOOD.replace("\t1\t", "\t0\t"),
            [
                FecProblem(2, "EcritureNum 0 where 1 was expected (a gap)"),
                FecProblem(4, "EcritureNum 2 where 1 was expected (a gap)"),
            ],
            id="starts-at-0",
        ),
        pytest.param(
            broken(0, row("1", "530", "10,75", "0,00", day="20251231")),
            [
                FecProblem(2, "EcritureDate 20251231 is outside the fiscal year 20260101-20261231"),
                FecProblem(3, "entry 1 has lines on two dates"),
            ],
            id="outside-the-year",
        ),
        pytest.param(
            broken(0, row("A1", "530", "10,75", "0,00")),
            [FecProblem(2, "EcritureNum 'A1' is not a number")],
            id="number-not-a-number",
        ),
        pytest.param(
            GOOD.replace("\t20261121\t\t\n", "\t20261122\t\t\n", 2),
            [
                FecProblem(
                    line,
                    f"entry {number} was validated on 20261121, before an entry numbered earlier (20261122): "
                    "numbers follow the order of validation",
                )
                for line, number in ((4, 2), (6, 3))
            ],
            id="validated-out-of-order",
        ),
        pytest.param(
            broken(5, row("3", "530", "0,00", "1,00").replace("\tCaisse\t\t", "\tEspèces\t\t")),
            [FecProblem(7, "CompteNum 530 is named 'Espèces' here and 'Caisse' on line 2")],
            id="account-renamed",
        ),
        pytest.param(
            broken(0, row("1", "", "10,75", "0,00")),
            [FecProblem(2, "CompteNum is empty")],
            id="no-account",
        ),
    ],
)
def test_a_broken_file_is_reported_with_the_line_and_the_reason(text: str, expected: list[FecProblem]) -> None:
    assert validate_fec(text, YEAR_2026, exponent=2) == expected


def test_the_command_line_checks_a_file_against_the_year_its_name_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "123456789FEC20261231.txt"
    good.write_bytes(GOOD.encode("iso-8859-15"))
    late = tmp_path / "123456789FEC20251231.txt"
    late.write_bytes(GOOD.encode("iso-8859-15"))

    assert fec_check.main([str(good)]) == 0
    assert fec_check.main([str(late)]) == 1
    assert fec_check.main([str(tmp_path / "missing.txt")]) == 2

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{good}: OK"
    assert printed[1] == f"{late}:line 2: EcritureDate 20261121 is outside the fiscal year 20250101-20251231"


def test_a_piece_booked_again_by_another_entry_is_reported_once_on_that_entry() -> None:
    # Two tills' ticket 1 under one reference: the piece no longer leads back to one ticket.
    text = broken(2, row("2", "5112", "5,00", "0,00", piece="T1")).replace("\tT2\t", "\tT1\t")

    assert validate_fec(text, YEAR_2026, exponent=2) == [
        FecProblem(4, "PieceRef T1 is already the piece of entry 1 (line 2): each entry books a piece of its own")
    ]


XPF = (
    HEADER
    + "\n".join(
        [
            row("1", "530", "1005", "0"),
            row("1", "707", "0", "1003"),
            row("1", "658", "0", "2"),
            row("2", "5115", "2400", "0"),
            row("2", "707", "0", "2400"),
        ]
    )
    + "\n"
)
"""A CFP franc file as the writer writes it: whole francs, the currency having no subunit."""


def test_without_an_exponent_the_amounts_must_have_the_decimals_most_amounts_of_the_file_have() -> None:
    assert validate_fec(XPF, YEAR_2026) == []
    assert validate_fec(GOOD, YEAR_2026) == []
    assert validate_fec(XPF.replace("\t2400\t0\t", "\t2400,00\t0\t"), YEAR_2026) == [
        FecProblem(5, "Debit '2400,00' is not an amount (digits, a comma with 0 decimals, both filled)")
    ]


def test_the_command_line_checks_an_xpf_file_and_a_eur_file_with_their_currency_s_decimals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xpf = tmp_path / "552100554FEC20261231.txt"
    xpf.write_bytes(XPF.encode("iso-8859-15"))
    eur = tmp_path / "123456789FEC20261231.txt"
    eur.write_bytes(GOOD.encode("iso-8859-15"))
    malformed = tmp_path / "552100554FEC20271231.txt"
    malformed.write_bytes(XPF.replace("\t1003\t", "\t1003,5\t").replace("20261121", "20271121").encode("iso-8859-15"))

    assert [fec_check.main([str(xpf)]), fec_check.main([str(xpf), "--currency", "XPF"])] == [0, 0]
    assert [fec_check.main([str(eur)]), fec_check.main([str(eur), "--currency", "EUR"])] == [0, 0]
    assert fec_check.main([str(xpf), "--currency", "EUR"]) == 1
    capsys.readouterr()
    assert fec_check.main([str(malformed), "--currency", "XPF"]) == 1

    assert capsys.readouterr().out.splitlines() == [
        f"{malformed}:line 3: Credit '1003,5' is not an amount (digits, a comma with 0 decimals, both filled)"
    ]
