"""The errors pos-api's rules raise, each carrying the field and the reason a caller can act on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID


class PosApiError(Exception):
    """Root of every pos-api rule error."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    reason: str


@dataclass
class TicketInconsistentError(PosApiError):
    """The ticket's amounts do not add up, or a line or payment is invalid."""

    problems: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.reason}" for p in self.problems)


@dataclass(frozen=True, slots=True)
class TicketConflict:
    """A ticket number sent again with other content: refused, and kept aside for ops to sort out."""

    pos_id: UUID
    number: int
    existing_ticket_id: UUID
    attempted_ticket_id: UUID
    source: Literal["finalize", "credit_note", "ticket"]
    """`finalize` (a basket finalized online), `credit_note`, or `ticket` (a ticket the till made itself, e.g.
    synced after working offline)."""
    attempt: dict[str, Any]
    """What the till sent, as JSON: the basket's content, the credit note asked for, or the ticket."""
    detected_at: datetime

    @property
    def attempt_sha256(self) -> str:
        """Names the attempt: the same content sent again is the same conflict, kept once."""
        canonical = json.dumps(self.attempt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class TicketNumberConflictError(PosApiError):
    """The POS already has a ticket with this number and other content: kept aside, never overwritten."""

    pos_id: UUID
    number: int
    existing_ticket_id: UUID
    attempt: TicketConflict | None = field(default=None, compare=False)
    """What was sent, to keep aside for ops; None when nothing was sent that is worth keeping."""

    def __str__(self) -> str:
        return f"ticket number {self.number} of POS {self.pos_id} already holds another ticket"


@dataclass
class ForbiddenError(PosApiError):
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass
class NotFoundError(PosApiError):
    what: str
    id: str

    def __str__(self) -> str:
        return f"no {self.what} {self.id}"


@dataclass
class StaleVersionError(PosApiError):
    """An optimistic write based on a version that is no longer the current one."""

    entity: str
    id: UUID
    current_version: int

    def __str__(self) -> str:
        return f"{self.entity} {self.id} is at version {self.current_version}"


@dataclass
class InvalidReferenceError(PosApiError):
    """A field names something that does not exist, or that belongs elsewhere."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class InUseError(PosApiError):
    """The item is still named by others (a category by its products…): deleting or moving it would break them."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class UnauthenticatedError(PosApiError):
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass
class BasketConflictError(PosApiError):
    """The basket cannot take this operation in its state (finalized, or without an open session…)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class SeatsFullError(PosApiError):
    """An event has fewer seats left than the basket asks for."""

    field: str
    product_id: UUID
    left: int
    asked: int

    def __str__(self) -> str:
        return f"{self.field}: only {self.left} seat(s) left, {self.asked} asked"


@dataclass
class OperatorLockedError(PosApiError):
    """Too many wrong PINs in a row: the operator must wait."""

    operator_id: UUID
    until: datetime

    def __str__(self) -> str:
        return f"too many wrong PINs; try again after {self.until.isoformat()}"


@dataclass
class StreamTokensNotConfiguredError(PosApiError):
    """pos-api has no key to sign stream tokens with (`POS_API_STREAM_SIGNING_KEY` unset): a till works without
    the config stream, from its POS data."""

    def __str__(self) -> str:
        return "stream tokens are not configured"


@dataclass
class StockRefusedError(PosApiError):
    """A product that refuses to go below zero has fewer units in the shop than asked (an online sale, a loss)."""

    field: str
    product_id: UUID
    product_name: str
    level: int
    asked: int

    def __str__(self) -> str:
        return (
            f"{self.field}: {self.product_name!r} ({self.product_id}) has {self.level} in stock"
            f" and cannot go below zero; {self.asked} asked"
        )


@dataclass
class StockDocumentConflictError(PosApiError):
    """A stock document id already names another document (other content): refused, the first one stands."""

    document_id: UUID

    def __str__(self) -> str:
        return f"stock document {self.document_id} already holds other content"


@dataclass
class ForeignSaleError(PosApiError):
    """A synced sale that another till made (of this shop or another): a till only ever writes its own sales."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class NumberingMovedError(PosApiError):
    """A numbering release asked for a number that is not pos-api's last one of the till (any more): the till is
    released only after what pos-api holds now, and ops look again."""

    asked: int
    central_last: int | None

    def __str__(self) -> str:
        if self.central_last is None:
            return "pos-api holds no ticket of this till: there is no number to resume after"
        return f"pos-api's last ticket number of this till is {self.central_last}, not {self.asked}"
