"""`make bench`: run every benchmark on the real stack and print the figures beside PRODUCT.md's targets."""

from __future__ import annotations

import argparse
import sys

from bench import idle_rss
from bench.report import Figure, print_table

BENCHMARKS = {"idle_rss": idle_rss.run}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("only", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    args = parser.parse_args()
    figures: list[Figure] = []
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        sys.stdout.write(f"running {name}…\n")
        sys.stdout.flush()
        figures.extend(run())
    print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
