"""The table `make bench` prints: what was measured, the target, and whether it is met."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    what: str
    measured: float
    unit: str
    target: float | None
    """None: a figure to report, with no target of its own (PRODUCT.md or the issue set none)."""
    higher_is_better: bool = False
    runs: int = 1
    spread: str = ""

    @property
    def met(self) -> bool:
        if self.target is None:
            return True
        return self.measured >= self.target if self.higher_is_better else self.measured < self.target


def print_table(figures: list[Figure]) -> None:
    rows = [("benchmark", "measured", "target", "runs", "spread", "")]
    for f in figures:
        sign = "≥" if f.higher_is_better else "<"
        rows.append(
            (
                f.what,
                f"{f.measured:,.{2 if abs(f.measured) < 10 else 1}f} {f.unit}",
                "—" if f.target is None else f"{sign} {f.target:,.{1 if f.target % 1 else 0}f} {f.unit}",
                str(f.runs),
                f.spread,
                "reported" if f.target is None else "ok" if f.met else "MISSED",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
