"""Print jobs: what the till must print (receipts, credit notes, duplicates, the bank deposit slip) or do on its
printer (open the cash drawer), kept in the store until done, and the printer's state as last seen.

A job is written in the same transaction as what it prints (the sale, the credit note, the reprint, the cash
movement), so a sale is never without its receipt job and printing never holds a sale back: the printer worker
prints the jobs in order, and one the printer cannot take now waits, visible, for the printer to come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

JobKind = Literal["receipt", "credit_note", "duplicate", "deposit_slip", "drawer"]
JobState = Literal["pending", "printing", "printed", "no_printer", "abandoned"]
"""`pending`: waits for the printer; `printing`: being sent (found so at start: the till stopped mid-job, it is
printed again whole); `no_printer`: the POS has no printer configured (kept, printed on retry); `abandoned`: a
drawer opening the printer could not do at the time (never done late on its own)."""


class PrinterState(StrEnum):
    READY = "ready"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"
    NOT_CONFIGURED = "not_configured"
    UNKNOWN = "unknown"
    """Not asked yet on this run (nothing printed since the start)."""


@dataclass(frozen=True, slots=True)
class NewPrintJob:
    """A job to store: its kind, what it prints (`ref`: the ticket or session id) and its payload (a receipt's
    `ReceiptPrint` JSON, the deposit slip's bytes in base64, nothing for the drawer)."""

    kind: JobKind
    ref: str
    payload: str


@dataclass(frozen=True, slots=True)
class PrintJob:
    """A stored job and where it stands: its attempts, the last reason it could not print, and whether an
    attempt was cut in the middle (`interrupted`: it is printed again whole, and says so on the paper)."""

    id: int
    kind: JobKind
    ref: str
    payload: str
    state: JobState
    attempts: int
    last_reason: str | None
    interrupted: bool
    created_at: datetime
    printed_at: datetime | None


@dataclass(slots=True)
class PrinterStatus:
    """The printer as the worker last saw it (shown by `GET /v1/status`)."""

    state: PrinterState = PrinterState.UNKNOWN
    reason: str | None = None
    checked_at: datetime | None = None

    def seen(self, state: PrinterState, reason: str | None, at: datetime) -> None:
        self.state, self.reason, self.checked_at = state, reason, at
