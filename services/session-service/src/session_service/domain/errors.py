"""The errors session-service's rules raise, each carrying the field and the reason a caller can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID


class SessionServiceError(Exception):
    """Root of every session-service rule error."""


@dataclass
class InvalidFieldError(SessionServiceError):
    """A field of the request is refused (an unknown denomination, a negative count, an empty reason…)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class UnknownReferenceError(InvalidFieldError):
    """A field names something session-service's configuration view does not know (or knows elsewhere)."""


@dataclass
class ReplayConflictError(SessionServiceError):
    """An operation's id (a session's, a movement's, a session's close) was recorded before with other content: the
    first is kept, never overwritten; `field` is the first that differs."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class SessionNotFoundError(SessionServiceError):
    session_id: UUID | None = None
    pos_id: UUID | None = None

    def __str__(self) -> str:
        if self.session_id is not None:
            return f"no cash session {self.session_id}"
        return f"no open cash session on POS {self.pos_id}"


@dataclass
class SessionAlreadyOpenError(SessionServiceError):
    """The POS already has a session that is not closed: one open session per POS."""

    pos_id: UUID
    session_id: UUID

    def __str__(self) -> str:
        return f"POS {self.pos_id} already has the open session {self.session_id}"


@dataclass
class SessionNotOpenError(SessionServiceError):
    """The session is closing or closed: it takes no movement and no second close."""

    session_id: UUID
    status: str

    def __str__(self) -> str:
        return f"session {self.session_id} is {self.status}"


@dataclass
class SessionNotClosedError(SessionServiceError):
    """The session is open or closing: its takings are not known yet, so nothing of it goes to the bank."""

    session_id: UUID
    status: str

    def __str__(self) -> str:
        return f"session {self.session_id} is {self.status}: its deposit is confirmed once it is closed"


@dataclass
class DepositAlreadyConfirmedError(SessionServiceError):
    """The session's deposit was confirmed already with other figures: one deposit per session."""

    session_id: UUID
    reference: str
    deposited_on: date

    def __str__(self) -> str:
        return (
            f"the deposit of session {self.session_id} was confirmed already"
            f" (slip {self.reference} of {self.deposited_on.isoformat()})"
        )


@dataclass
class CommentRequiredError(SessionServiceError):
    """The variance is above the threshold: the cashier must say why."""

    variance: int
    threshold: int

    def __str__(self) -> str:
        return f"a variance of {self.variance} is beyond ±{self.threshold}: a comment is required"


@dataclass
class TicketsMissingError(SessionServiceError):
    """The close waits for tickets the till issued that have not reached the session's totals yet."""

    session_id: UUID
    missing: tuple[tuple[int, int], ...]
    waited_s: float

    def __str__(self) -> str:
        return f"closing: waiting for tickets {describe_ranges(self.missing)}"


@dataclass
class ConfigurationMissingError(SessionServiceError):
    """session-service has not received the configuration this request needs (yet)."""

    what: str
    id: UUID
    hints: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return f"the configuration of {self.what} {self.id} has not reached session-service"


@dataclass
class UnauthenticatedError(SessionServiceError):
    """The request carries no identity session-service accepts."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass
class ForbiddenError(SessionServiceError):
    """The caller is known but this is outside what it may do or see."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def describe_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    """`((3, 5), (9, 9))` → `"3..5, 9"`."""
    return ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in ranges)
