"""`caisse-contracts`: regenerate the committed JSON Schema snapshots and AsyncAPI documents after a change."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from caisse_contracts.asyncapi import write_documents
from caisse_contracts.snapshots import SCHEMA_DIR, write_snapshots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caisse-contracts")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("snapshot", help=f"write the JSON Schema of every event into {SCHEMA_DIR}")
    docs = sub.add_parser("asyncapi", help="write services/<service>/asyncapi.yaml under the repository root")
    docs.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        for path in write_snapshots():
            sys.stdout.write(f"wrote {path}\n")
    if args.command == "asyncapi":
        for path in write_documents(args.root):
            sys.stdout.write(f"wrote {path}\n")
    return 0
