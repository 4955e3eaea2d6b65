"""`python -m paheko_bridge.entrypoints.fec_check FILE`: the FEC validator on a file, each problem with its line.

The fiscal year comes from the file's name (`<SIREN>FEC<YYYYMMDD>.txt`, the day the year ends, a year of twelve
months) unless `--year-start` and `--year-end` say it. The amounts must have the number of decimals of the books'
currency: `--currency XPF` (or `--exponent 0`) says which; without either, the number most amounts of the file have
(the writer writes them all with the currency's own, none for XPF, two for EUR), so a file of any currency is
checked as it is. Exit status 0 when the file holds, 1 when a problem is found, 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from caisse_contracts.money import CURRENCIES
from paheko_bridge.domain.fec import FEC_ENCODING, FiscalYear
from paheko_bridge.domain.fec_validator import validate_fec

_NAME = re.compile(r"FEC(\d{4})(\d{2})(\d{2})\.txt$")


def _day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _year_of(path: Path, start: str | None, end: str | None) -> FiscalYear | None:
    if start and end:
        return FiscalYear(_day(start), _day(end))
    found = _NAME.search(path.name)
    if found is None:
        return None
    last = date(*(int(part) for part in found.groups()))
    try:
        first = last.replace(year=last.year - 1) + timedelta(days=1)
    except ValueError:  # a year ending on 29 February
        first = date(last.year - 1, 3, 1)
    return FiscalYear(first, last)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paheko_bridge.entrypoints.fec_check", description=__doc__)
    parser.add_argument("file", type=Path)
    decimals = parser.add_mutually_exclusive_group()
    decimals.add_argument("--currency", choices=sorted(CURRENCIES), help="the books' currency (its decimals)")
    decimals.add_argument("--exponent", type=int, help="decimals of the currency (EUR 2, XPF 0)")
    parser.add_argument("--year-start", help="YYYYMMDD, first day of the fiscal year")
    parser.add_argument("--year-end", help="YYYYMMDD, last day of the fiscal year")
    args = parser.parse_args(argv)
    path: Path = args.file
    try:
        content = path.read_bytes().decode(FEC_ENCODING)
    except OSError as error:
        sys.stderr.write(f"{path}: {error.strerror}\n")
        return 2
    exponent: int | None = CURRENCIES[args.currency].exponent if args.currency else args.exponent
    problems = validate_fec(content, _year_of(path, args.year_start, args.year_end), exponent)
    for problem in problems:
        sys.stdout.write(f"{path}:{problem}\n")
    if not problems:
        sys.stdout.write(f"{path}: OK\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
