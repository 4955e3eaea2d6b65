"""The till's cash session as it keeps it locally: open with a counted float, cash moved in and out, closed by
counting every denomination. The rules here are the till's first check; session-service stays the judge when the
operations are synced (`caisse_contracts.session_api`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from caisse_contracts.session_api import CountIn
from hw_proxy.domain.errors import FieldError

SessionState = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class LocalSession:
    """A cash session of this till. `first_ticket_number` is the number its first sale will carry."""

    session_id: UUID
    status: SessionState
    opened_at: datetime
    operator_ids: tuple[UUID, ...]
    float_counts: tuple[CountIn, ...]
    first_ticket_number: int
    closed_at: datetime | None = None
    closing: dict[str, Any] | None = None

    @property
    def opening_float(self) -> int:
        return counted(self.float_counts)


def counted(counts: Sequence[CountIn]) -> int:
    """The cash a count adds up to, in minor units."""
    return sum(c.value * c.count for c in counts)


def check_counts(counts: Sequence[CountIn], denominations: Sequence[int], field: str) -> None:
    """Every line of a count is one of the territory's notes or coins, once, with a count ≥ 0."""
    allowed = set(denominations)
    seen: set[int] = set()
    for index, count in enumerate(counts):
        where = f"{field}[{index}]"
        if count.value not in allowed:
            raise FieldError(f"{where}.value", f"{count.value} is not a note or coin of the territory")
        if count.value in seen:
            raise FieldError(f"{where}.value", f"{count.value} is counted twice")
        if count.count < 0:
            raise FieldError(f"{where}.count", "cannot be negative")
        seen.add(count.value)
