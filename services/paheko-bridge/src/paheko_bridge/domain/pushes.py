"""When a ticket is pushed again, and when a session may be closed in Paheko.

A ticket that Paheko could not take (down, 5xx, timeout) waits and is tried again with exponential backoff and
full jitter, so that many tills reconnecting do not hammer a Paheko that is coming back; the delay is tenacity's
own strategy. A session is closed in Paheko only when every ticket it numbered is there: Caisse closes what it
has, and a ticket arriving after the close would stay outside the session's accounting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tenacity import RetryCallState, wait_exponential_jitter


class PushStatus(StrEnum):
    PENDING = "pending"
    """Received, not yet in Paheko (or in the FEC file)."""
    PUSHED = "pushed"
    REJECTED = "rejected"
    """Refused by Paheko (4xx): dead-lettered with the reason until ops replays it."""


class CloseStatus(StrEnum):
    WAITING = "waiting"
    """Received; waits for its tickets, or for Paheko."""
    SYNCED = "synced"
    """Closed in Paheko, accounting synced and reconciled equal."""
    MISMATCH = "mismatch"
    """Closed and synced, but Paheko's figures differ from ours: reported, not corrected."""
    REJECTED = "rejected"
    BOOKED = "booked"
    """No Paheko: written to the FEC file."""


class DepositStatus(StrEnum):
    WAITING = "waiting"
    """Received; waits for its session's close to be booked, or for Paheko."""
    BOOKED = "booked"
    """In Paheko (its `POS-DEPOSIT-<session>` entry, reconciled equal) or in the FEC file."""
    MISMATCH = "mismatch"
    """Booked in Paheko, but its entry differs from the deposit: reported, not corrected."""
    REJECTED = "rejected"


REASON_KEPT = 2000
"""Characters of a target's reason kept with a ticket, close or deposit that waits or was refused: enough to read
why, not a whole HTML error page."""


def kept_reason(reason: str) -> str:
    """What is kept of a target's reason for a failure or a refusal."""
    return reason[:REASON_KEPT]


def close_settled(status: CloseStatus | None) -> bool:
    """Whether a session's close is in the books, so that its deposit may follow it there."""
    return status in (CloseStatus.SYNCED, CloseStatus.MISMATCH, CloseStatus.BOOKED)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt n+1 after n failures: exponential from `first_s`, capped at `max_s`, with jitter."""

    first_s: float = 0.5
    max_s: float = 300.0

    def delay(self, failures: int) -> timedelta:
        wait = wait_exponential_jitter(multiplier=self.first_s, max=self.max_s, jitter=self.first_s)
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(failures, 1)
        return timedelta(seconds=min(wait(state), self.max_s))

    def next_attempt(self, failures: int, now: datetime) -> datetime:
        return now + self.delay(failures)


def missing_numbers(first: int | None, last: int | None, pushed: Iterable[int]) -> list[int]:
    """The numbers from `first` to `last` not yet in Paheko: the session may be closed there when none is missing."""
    if first is None or last is None:
        return []
    done = set(pushed)
    return [n for n in range(first, last + 1) if n not in done]
