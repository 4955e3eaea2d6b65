"""`make bench`: run every benchmark on the real stack and print the figures beside PRODUCT.md's targets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import (
    basket_math,
    finalize,
    idle_rss,
    notifier,
    offline_sync,
    paheko_latency,
    paheko_push,
    paheko_recovery,
    receipts,
    sessions,
    till_agent,
)
from bench.report import Figure, print_table

BENCHMARKS: dict[str, Callable[[], list[Figure]]] = {
    "basket_math": basket_math.run,
    "finalize": finalize.run,
    "offline_sync": offline_sync.run,
    "idle_rss": idle_rss.run,
    "till_agent": till_agent.run,
    "receipts": receipts.run,
    "sessions": sessions.run,
    "notifier": notifier.run,
    "paheko_push": paheko_push.run,
    "paheko_latency": paheko_latency.run,
    "paheko_recovery": paheko_recovery.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"benchmarks to run, among {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
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
