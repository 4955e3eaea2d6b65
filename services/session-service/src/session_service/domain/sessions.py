"""A till's cash session: the counted float, cash movements, and the close with its counted cash and variance.

Everything here is pure: the caller passes `now`, ids, the territory's denominations and the running totals.
Money is int minor units; a count is refused unless its denomination is one of the territory's.

A till that worked offline syncs its session later: the open, each movement and the close carry the till's own
time and an id of the till's making. The session keeps the till's times (its report, its events and the books
tell the day as it happened), and an operation sent again is recognised by its id: the same content changes
nothing, other content is a conflict naming the first field that differs, never an overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from session_service.domain.errors import (
    CommentRequiredError,
    InvalidFieldError,
    ReplayConflictError,
    SessionNotOpenError,
    UnknownReferenceError,
)
from session_service.domain.totals import RunningTotals

MAX_COUNT = 1_000_000
"""More pieces of one note or coin than any drawer holds: a typo, refused rather than stored."""


@dataclass(frozen=True, slots=True)
class TillPlace:
    """Where a POS sits and what its territory's cash is made of, from the configuration view."""

    pos_id: UUID
    pos_name: str
    shop_id: UUID
    company_id: UUID
    territory_id: UUID
    currency: str
    exponent: int
    denominations: tuple[int, ...]
    """Values of the territory's notes and coins, in minor units."""


@dataclass(frozen=True, slots=True)
class Count:
    """How many of one note or coin (value in minor units)."""

    value: int
    count: int

    @property
    def amount(self) -> int:
        return self.value * self.count


def counted(raw: Iterable[tuple[int, int]], denominations: Sequence[int], field_name: str) -> tuple[Count, ...]:
    """Validated counts, largest denomination first; refused: an unknown denomination, a negative or absurd
    count, the same denomination twice. `field_name` names the list in the errors (`counts[2].value`)."""
    allowed = set(denominations)
    seen: set[int] = set()
    result: list[Count] = []
    for index, (value, count) in enumerate(raw):
        where = f"{field_name}[{index}]"
        if value not in allowed:
            known = ", ".join(str(v) for v in sorted(allowed, reverse=True))
            raise InvalidFieldError(f"{where}.value", f"{value} is not a denomination of this territory ({known})")
        if value in seen:
            raise InvalidFieldError(f"{where}.value", f"{value} is counted twice")
        if count < 0:
            raise InvalidFieldError(f"{where}.count", "a count cannot be negative")
        if count > MAX_COUNT:
            raise InvalidFieldError(f"{where}.count", f"more than {MAX_COUNT} pieces is not a count")
        seen.add(value)
        result.append(Count(value, count))
    return tuple(sorted(result, key=lambda c: -c.value))


def total_of(counts: Iterable[Count]) -> int:
    return sum(c.amount for c in counts)


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    """The till has counted; the session waits for the tickets it issued before it closes."""
    CLOSED = "closed"


class MovementKind(StrEnum):
    WITHDRAWAL = "withdrawal"
    """Cash taken out of the drawer during the session (to the safe)."""
    ADDITION = "addition"
    """Cash added to the float during the session (change ran short)."""


@dataclass(frozen=True, slots=True)
class CashMovement:
    movement_id: UUID
    kind: MovementKind
    amount: int
    reason: str
    operator_id: UUID
    at: datetime


@dataclass(frozen=True, slots=True)
class Cheque:
    """A cheque received in the session, to tick at the close and list on the deposit slip."""

    payment_id: UUID
    ticket_id: UUID
    number: str
    bank: str | None
    amount: int


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """What the till sends at the close: the counts, the float kept for tomorrow, the cheques it ticked."""

    closed_by: UUID
    last_ticket_number: int | None
    counts: tuple[Count, ...]
    float_kept: tuple[Count, ...] = ()
    cheques_ticked: frozenset[UUID] = frozenset()
    card_terminal_total: int | None = None
    comment: str | None = None
    closed_at: datetime | None = None
    """The till's time of the close when it closed offline; None: the session closes when its tickets are in."""


@dataclass(frozen=True, slots=True)
class Closing:
    """The figures of a close, computed from the session, its totals and the counts."""

    expected_cash: int
    counted_cash: int
    variance: int
    """counted − expected; negative is a shortage."""
    float_kept: int
    deposit: tuple[Count, ...]
    """What goes to the bank, per denomination: counted minus the float kept."""
    deposit_cash: int
    cheques: tuple[Cheque, ...]
    cheque_total: int
    card_total: int
    card_difference: int | None
    """Our card total minus the terminal's, when the terminal's was given."""


@dataclass(frozen=True, slots=True)
class CashSession:
    session_id: UUID
    place: TillPlace
    opened_at: datetime
    operator_ids: tuple[UUID, ...]
    float_counts: tuple[Count, ...]
    first_ticket_number: int
    """The first number this session's tickets carry: the POS's last number at the open, plus one."""
    status: SessionStatus = SessionStatus.OPEN
    movements: tuple[CashMovement, ...] = ()
    close_request: CloseRequest | None = None
    closing_since: datetime | None = None
    closed_at: datetime | None = None
    closing: Closing | None = None

    @property
    def opening_float(self) -> int:
        return total_of(self.float_counts)

    @property
    def cash_added(self) -> int:
        return sum(m.amount for m in self.movements if m.kind is MovementKind.ADDITION)

    @property
    def cash_withdrawn(self) -> int:
        return sum(m.amount for m in self.movements if m.kind is MovementKind.WITHDRAWAL)


def till_time(at: datetime | None, now: datetime, tolerance: timedelta, field_name: str) -> datetime:
    """When something happened on the till: its own time when it says (an offline operation synced later), else
    `now`. A time in the future beyond `tolerance` (clocks drift a little) is a till with a wrong clock: refused.
    The time is kept in UTC (the shop's time zone renders it)."""
    if at is None:
        return now
    if at.tzinfo is None:
        raise InvalidFieldError(field_name, "a time carries its UTC offset")
    if at > now + tolerance:
        raise InvalidFieldError(
            field_name,
            f"{at.isoformat()} is in the future (server time {now.isoformat()}, tolerance {tolerance.total_seconds():g} s)",
        )
    return at.astimezone(UTC)


def _not_before_open(session: CashSession, at: datetime, field_name: str) -> None:
    if at < session.opened_at:
        raise InvalidFieldError(
            field_name, f"{at.isoformat()} is before the session opened ({session.opened_at.isoformat()})"
        )


def first_difference(fields: Sequence[tuple[str, object, object]]) -> str | None:
    """The name of the first (name, recorded, sent) whose values differ."""
    return next((name for name, recorded, sent in fields if recorded != sent), None)


def check_same_open(
    session: CashSession,
    operator_ids: Sequence[UUID],
    float_counts: Iterable[tuple[int, int]],
    opened_at: datetime | None,
) -> None:
    """An open sent again is the same open: the same operators, the same float and, when the till says when, the
    same time. Anything else is a conflict naming the field (the session recorded first stays as it is)."""
    counts = counted(float_counts, session.place.denominations, "float_counts")
    differs = first_difference(
        [
            ("operator_ids", session.operator_ids, tuple(operator_ids)),
            ("float_counts", session.float_counts, counts),
            ("opened_at", session.opened_at, opened_at if opened_at is not None else session.opened_at),
        ]
    )
    if differs is not None:
        raise ReplayConflictError(differs, f"session {session.session_id} was opened with another {differs}")


def open_session(
    *,
    session_id: UUID,
    place: TillPlace,
    operator_ids: Sequence[UUID],
    float_counts: Iterable[tuple[int, int]],
    first_ticket_number: int,
    now: datetime,
) -> CashSession:
    """A new session with its counted float; at least one operator. `now` is when it opened: the till's time of
    an offline open, checked by `till_time`."""
    if not operator_ids:
        raise InvalidFieldError("operator_ids", "at least one operator opens a session")
    if len(set(operator_ids)) != len(operator_ids):
        raise InvalidFieldError("operator_ids", "an operator is listed twice")
    if first_ticket_number < 1:
        raise InvalidFieldError("first_ticket_number", "ticket numbers start at 1")
    counts = counted(float_counts, place.denominations, "float_counts")
    return CashSession(
        session_id=session_id,
        place=place,
        opened_at=now,
        operator_ids=tuple(operator_ids),
        float_counts=counts,
        first_ticket_number=first_ticket_number,
    )


def require_open(session: CashSession) -> None:
    if session.status is not SessionStatus.OPEN:
        raise SessionNotOpenError(session.session_id, session.status.value)


def add_movement(session: CashSession, movement: CashMovement, *, timed: bool = False) -> CashSession:
    """The session with one more withdrawal or addition; a replay of the same movement id changes nothing, and
    the same id with other content is a conflict naming the field. `timed`: the movement's time is the till's
    (an offline movement), which a replay must repeat and which is not before the session's open."""
    recorded = next((m for m in session.movements if m.movement_id == movement.movement_id), None)
    if recorded is not None:
        differs = first_difference(
            [
                ("kind", recorded.kind, movement.kind),
                ("amount", recorded.amount, movement.amount),
                ("reason", recorded.reason, movement.reason),
                ("operator_id", recorded.operator_id, movement.operator_id),
                ("occurred_at", recorded.at, movement.at if timed else recorded.at),
            ]
        )
        if differs is not None:
            raise ReplayConflictError(differs, f"movement {movement.movement_id} was recorded with another {differs}")
        return session
    require_open(session)
    if movement.amount <= 0:
        raise InvalidFieldError("amount", "a cash movement moves a positive amount")
    if not movement.reason.strip():
        raise InvalidFieldError("reason", "say why cash moves")
    if timed:
        _not_before_open(session, movement.at, "occurred_at")
    return replace(session, movements=(*session.movements, movement))


def expected_cash(session: CashSession, totals: RunningTotals | None) -> int:
    """float + cash received − change given + additions − withdrawals (PRODUCT.md §2)."""
    received = totals.cash_received if totals else 0
    change = totals.change_given if totals else 0
    return session.opening_float + received - change + session.cash_added - session.cash_withdrawn


def check_close_request(session: CashSession, request: CloseRequest) -> None:
    """What can be refused before the tickets are all in: the counts and the float kept."""
    counts = {c.value: c.count for c in request.counts}
    for index, kept in enumerate(request.float_kept):
        if kept.count > counts.get(kept.value, 0):
            raise InvalidFieldError(
                f"float_kept[{index}].count",
                f"keeps {kept.count} × {kept.value} but only {counts.get(kept.value, 0)} counted",
            )
    if request.last_ticket_number is not None and request.last_ticket_number < session.first_ticket_number - 1:
        raise InvalidFieldError(
            "last_ticket_number",
            f"this session's tickets start at {session.first_ticket_number}; {request.last_ticket_number} is before it",
        )
    if request.card_terminal_total is not None and request.card_terminal_total < 0:
        raise InvalidFieldError("card_terminal_total", "a terminal total cannot be negative")
    if request.closed_at is not None:
        _not_before_open(session, request.closed_at, "closed_at")
        last_moved = max((m.at for m in session.movements), default=None)
        if last_moved is not None and request.closed_at < last_moved:
            raise InvalidFieldError(
                "closed_at",
                f"{request.closed_at.isoformat()} is before the session's last cash movement"
                f" ({last_moved.isoformat()})",
            )


def check_same_close(session: CashSession, request: CloseRequest) -> None:
    """A close the till says it made offline (`closed_at`) is the session's one close: another close of the session
    (other counts, another time…) is a conflict naming the first field that differs, never a recount."""
    recorded = session.close_request
    if recorded is None or recorded == request:
        return
    differs = (
        first_difference([(name, getattr(recorded, name), getattr(request, name)) for name in CLOSE_FIELDS]) or "counts"
    )
    raise ReplayConflictError(differs, f"session {session.session_id} was closed with another {differs}")


CLOSE_FIELDS: tuple[str, ...] = (
    "closed_at",
    "closed_by",
    "last_ticket_number",
    "counts",
    "float_kept",
    "cheques_ticked",
    "card_terminal_total",
    "comment",
)


def tickets_awaited(session: CashSession, last_ticket_number: int | None) -> tuple[int, int] | None:
    """The range of numbers the close must see counted, or None when the till issued no ticket."""
    if last_ticket_number is None or last_ticket_number < session.first_ticket_number:
        return None
    return (session.first_ticket_number, last_ticket_number)


def missing_ranges(awaited: tuple[int, int], present: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """The numbers of `awaited` (inclusive) that are not in `present`, as ranges."""
    have = set(present)
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for n in range(awaited[0], awaited[1] + 2):
        absent = n <= awaited[1] and n not in have
        if absent and start is None:
            start = n
        elif not absent and start is not None:
            ranges.append((start, n - 1))
            start = None
    return tuple(ranges)


def close_session(
    session: CashSession,
    request: CloseRequest,
    totals: RunningTotals | None,
    cheques: Sequence[Cheque],
    *,
    comment_threshold: int,
    now: datetime,
) -> CashSession:
    """The closed session with its figures. Every cheque of the session must be ticked, nothing else;
    a comment is required when the variance is beyond ±`comment_threshold`."""
    if session.status is SessionStatus.CLOSED:
        raise SessionNotOpenError(session.session_id, session.status.value)
    check_close_request(session, request)
    by_payment = {c.payment_id: c for c in cheques}
    unknown = sorted(str(p) for p in request.cheques_ticked - by_payment.keys())
    if unknown:
        raise InvalidFieldError("cheques_ticked", f"not a cheque of this session: {', '.join(unknown)}")
    unticked = [c for c in cheques if c.payment_id not in request.cheques_ticked]
    if unticked:
        listed = ", ".join(f"n° {c.number} ({c.amount})" for c in unticked)
        raise InvalidFieldError("cheques_ticked", f"every cheque must be ticked; not ticked: {listed}")
    expected = expected_cash(session, totals)
    counted_cash = total_of(request.counts)
    variance = counted_cash - expected
    if abs(variance) > comment_threshold and not (request.comment or "").strip():
        raise CommentRequiredError(variance, comment_threshold)
    kept = {c.value: c.count for c in request.float_kept}
    deposit = tuple(
        Count(c.value, c.count - kept.get(c.value, 0)) for c in request.counts if c.count > kept.get(c.value, 0)
    )
    card_total = totals.by_method.get("card", (0, 0))[0] if totals else 0
    figures = Closing(
        expected_cash=expected,
        counted_cash=counted_cash,
        variance=variance,
        float_kept=total_of(request.float_kept),
        deposit=deposit,
        deposit_cash=total_of(deposit),
        cheques=tuple(sorted(cheques, key=lambda c: (c.number, str(c.payment_id)))),
        cheque_total=sum(c.amount for c in cheques),
        card_total=card_total,
        card_difference=None if request.card_terminal_total is None else card_total - request.card_terminal_total,
    )
    return replace(
        session,
        status=SessionStatus.CLOSED,
        close_request=request,
        closing_since=session.closing_since or now,
        closed_at=request.closed_at or now,
        closing=figures,
    )


def begin_closing(session: CashSession, request: CloseRequest, now: datetime) -> CashSession:
    """The session waiting for its last tickets, with the till's figures kept for when they are in."""
    return replace(session, status=SessionStatus.CLOSING, close_request=request, closing_since=now)


def check_operators(
    operator_ids: Sequence[UUID], known: dict[UUID, UUID | None], shop_id: UUID, field_name: str
) -> None:
    """Each operator exists and works in the till's shop (a federation admin, with no shop, may work anywhere)."""
    for index, operator_id in enumerate(operator_ids):
        if operator_id not in known:
            raise UnknownReferenceError(f"{field_name}[{index}]", f"unknown operator {operator_id}")
        shop = known[operator_id]
        if shop is not None and shop != shop_id:
            raise UnknownReferenceError(f"{field_name}[{index}]", f"operator {operator_id} works in another shop")


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as the till and the shop manager read it, with a status line a person understands."""

    session: CashSession
    waiting_for: tuple[tuple[int, int], ...] = field(default_factory=tuple)
