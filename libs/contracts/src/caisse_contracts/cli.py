"""`caisse-contracts`: regenerate the committed JSON Schema snapshots after an (additive) change."""

from __future__ import annotations

import argparse
import sys

from caisse_contracts.snapshots import SCHEMA_DIR, write_snapshots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caisse-contracts")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("snapshot", help=f"write the JSON Schema of every event into {SCHEMA_DIR}")
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        for path in write_snapshots():
            sys.stdout.write(f"wrote {path}\n")
    return 0
