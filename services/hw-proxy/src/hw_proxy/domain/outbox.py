"""What the till owes the central side, in the order it happened: its session operations and its sales.

One queue for both, so that a session's open reaches pos-api before the sales made in it, and its close after
them: the sender takes the head of the queue, a run of entries of one kind at a time, oldest first. Its waits
after a failure are `domain.reconnect.reconnect_delay` (exponential, capped, full jitter), as the config stream's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EntryKind = Literal["session", "sale", "credit_note"]
EntryState = Literal["pending", "sent", "aside"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One thing to send: `payload` is the JSON of a session operation or of an offline sale."""

    seq: int
    kind: EntryKind
    ref: str
    payload: str
    enqueued_at: datetime
    attempts: int = 0
    state: EntryState = "pending"
    outcome: str | None = None
    reason: str | None = None


def head_run(entries: list[OutboxEntry], limit: int) -> list[OutboxEntry]:
    """The first entries of the queue that are of the first one's kind, at most `limit`: one request's worth."""
    if not entries:
        return []
    kind = entries[0].kind
    run: list[OutboxEntry] = []
    for entry in entries[:limit]:
        if entry.kind != kind:
            break
        run.append(entry)
    return run


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How much the till still owes: pending entries per kind, and those kept aside for ops."""

    pending_sessions: int
    pending_sales: int
    aside: int
    oldest_pending_at: datetime | None


@dataclass(frozen=True, slots=True)
class Settled:
    """What the central side said of one entry: `sent`, `aside` (refused, kept for ops with the reason), or still
    `pending` (not answered: tried again later)."""

    seq: int
    state: EntryState
    outcome: str | None = None
    reason: str | None = None
