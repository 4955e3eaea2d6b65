"""Use cases of a cash session: open (or continue), cash movements, close once every ticket is in, and read.

The close never guesses: it carries the number of the last ticket the till issued, and the session closes
only when its totals include every ticket from its first number to that one. Until then the session is
`closing`, visibly waiting for the missing numbers; whoever sees the last ticket arrive (the waiting request
or the ticket consumer) completes it, in one transaction with its report, its e-mail and `session.closed`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict
from uuid import UUID

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import (
    CategoryTotalV1,
    ChequeV1,
    DenominationCountV1,
    MethodTotalV1,
    PaymentMethod,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    SessionOpenedV1,
)
from caisse_contracts.topics import SESSIONS
from session_service.domain.deposits import Deposit
from session_service.domain.errors import (
    ConfigurationMissingError,
    InvalidFieldError,
    SessionAlreadyOpenError,
    SessionNotFoundError,
    SessionNotOpenError,
    TicketsMissingError,
    UnknownReferenceError,
)
from session_service.domain.report import z_report
from session_service.domain.sessions import (
    CashMovement,
    CashSession,
    CloseRequest,
    MovementKind,
    SessionStatus,
    add_movement,
    begin_closing,
    check_close_request,
    check_operators,
    close_session,
    counted,
    missing_ranges,
    open_session,
    tickets_awaited,
)
from session_service.domain.totals import LateTicket, RunningTotals
from session_service.service_layer.places import PlaceItems, names_of, operator_shops, place_of, report_recipients
from session_service.service_layer.ports import (
    Clock,
    CountingWorkFactory,
    IdFactory,
    LateTicketsOf,
    Mail,
    UnitOfWork,
    UnitOfWorkFactory,
)

SOURCE = "session-service"


@dataclass(frozen=True, slots=True)
class SessionRules:
    comment_threshold: int = 500
    """A variance beyond ± this many minor units needs a comment."""
    close_wait_s: float = 10.0
    """How long a close request waits for the till's last tickets before it answers that they are missing."""
    config_wait_s: float = 3.0
    """How long an open waits for the POS's configuration to reach session-service."""
    poll_s: float = 0.05


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class SessionServices:
    uow: UnitOfWorkFactory
    clock: Clock
    new_id: IdFactory
    rules: SessionRules = field(default_factory=SessionRules)
    sleep: Callable[[float], Awaitable[None]] = _sleep


@dataclass(frozen=True, slots=True)
class OpenSession:
    session_id: UUID
    pos_id: UUID
    operator_ids: tuple[UUID, ...]
    float_counts: tuple[tuple[int, int], ...]
    first_ticket_number: int | None = None
    """The POS's next ticket number as pos-api knows it; the session's tickets are numbered from there."""


@dataclass(frozen=True, slots=True)
class Opened:
    session: CashSession
    created: bool
    """False when the till continues (or retries the open of) its open session."""


async def open_cash_session(command: OpenSession, services: SessionServices) -> Opened:
    """Open a session on the POS with its counted float, or answer the open one when the till retries.

    The denominations come from the territory in session-service's configuration view, never from the till;
    while the POS's configuration has not arrived, the open waits up to `config_wait_s`.
    """
    waited = 0.0
    while True:
        try:
            return await _open_once(command, services)
        except (ConfigurationMissingError, UnknownReferenceError):
            if waited >= services.rules.config_wait_s:
                raise
        await services.sleep(services.rules.poll_s)
        waited += services.rules.poll_s


async def _open_once(command: OpenSession, services: SessionServices) -> Opened:
    async with services.uow() as work:
        items = await place_of(work, command.pos_id)
        current = await work.sessions.current_of_pos(command.pos_id, for_update=True)
        if current is not None:
            if current.session_id == command.session_id:
                return Opened(current, created=False)
            raise SessionAlreadyOpenError(command.pos_id, current.session_id)
        if (earlier := await work.sessions.get(command.session_id)) is not None:
            raise SessionNotOpenError(earlier.session_id, earlier.status.value)
        check_operators(
            command.operator_ids, await operator_shops(work, items.place.shop_id), items.place.shop_id, "operator_ids"
        )
        after_last_close = (await work.sessions.last_closed_number(command.pos_id) or 0) + 1
        session = open_session(
            session_id=command.session_id,
            place=items.place,
            operator_ids=command.operator_ids,
            float_counts=command.float_counts,
            first_ticket_number=max(command.first_ticket_number or 1, after_last_close),
            now=services.clock(),
        )
        if not await work.sessions.add(session):
            raced = await work.sessions.current_of_pos(command.pos_id)
            raise SessionAlreadyOpenError(command.pos_id, raced.session_id if raced else command.session_id)
        await announce(work, services, _opened_event(session))
        await work.commit()
    return Opened(session, created=True)


async def _session(work: UnitOfWork, session_id: UUID, pos_id: UUID | None, *, for_update: bool) -> CashSession:
    session = await work.sessions.get(session_id, for_update=for_update)
    if session is None or (pos_id is not None and session.place.pos_id != pos_id):
        raise SessionNotFoundError(session_id=session_id)
    return session


@dataclass(frozen=True, slots=True)
class RecordMovement:
    session_id: UUID
    movement_id: UUID
    kind: MovementKind
    amount: int
    reason: str
    operator_id: UUID
    pos_id: UUID | None = None
    """When given, the session must be this POS's (a till reaches only its own)."""


async def record_movement(command: RecordMovement, services: SessionServices) -> CashSession:
    """A withdrawal to the safe or a float addition, with its reason and operator; a replay changes nothing."""
    async with services.uow() as work:
        session = await _session(work, command.session_id, command.pos_id, for_update=True)
        movement = CashMovement(
            movement_id=command.movement_id,
            kind=command.kind,
            amount=command.amount,
            reason=command.reason,
            operator_id=command.operator_id,
            at=services.clock(),
        )
        updated = add_movement(session, movement)
        if updated is session:
            return session
        shops = await operator_shops(work, session.place.shop_id)
        check_operators([command.operator_id], shops, session.place.shop_id, "operator_id")
        await work.sessions.add_movement(session.session_id, movement)
        await work.commit()
    return updated


@dataclass(frozen=True, slots=True)
class CloseSession:
    session_id: UUID
    closed_by: UUID
    last_ticket_number: int | None
    counts: tuple[tuple[int, int], ...]
    float_kept: tuple[tuple[int, int], ...] = ()
    cheques_ticked: frozenset[UUID] = frozenset()
    card_terminal_total: int | None = None
    comment: str | None = None
    pos_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A close that waits for tickets."""

    session: CashSession
    missing: tuple[tuple[int, int], ...]


async def close_cash_session(command: CloseSession, services: SessionServices) -> CashSession:
    """Close the session with the till's counts, once its totals include every ticket up to the last number.

    Waits up to `close_wait_s` for missing tickets, then raises `TicketsMissingError` (the session stays
    `closing`; the consumer completes it when the tickets arrive, or the till sends the close again — a new
    count replaces the previous one). Bad input is refused before anything is written.
    """
    outcome = await _request_close(command, services)
    waited = 0.0
    while isinstance(outcome, Waiting):
        if waited >= services.rules.close_wait_s:
            raise TicketsMissingError(command.session_id, outcome.missing, waited)
        await services.sleep(services.rules.poll_s)
        waited += services.rules.poll_s
        outcome = await complete_close(command.session_id, services)
    return outcome


async def _request_close(command: CloseSession, services: SessionServices) -> CashSession | Waiting:
    async with services.uow() as work:
        session = await _session(work, command.session_id, command.pos_id, for_update=True)
        items = await place_of(work, session.place.pos_id)
        denominations = items.place.denominations
        request = CloseRequest(
            closed_by=command.closed_by,
            last_ticket_number=command.last_ticket_number,
            counts=counted(command.counts, denominations, "counts"),
            float_kept=counted(command.float_kept, denominations, "float_kept"),
            cheques_ticked=command.cheques_ticked,
            card_terminal_total=command.card_terminal_total,
            comment=command.comment,
        )
        if session.status is SessionStatus.CLOSED:
            if session.close_request == request:
                return session  # the till retries a close that went through
            raise SessionNotOpenError(session.session_id, session.status.value)
        if command.last_ticket_number is not None and command.last_ticket_number < 0:
            raise InvalidFieldError("last_ticket_number", "a ticket number is not negative")
        check_close_request(session, request)
        shops = await operator_shops(work, session.place.shop_id)
        check_operators([command.closed_by], shops, session.place.shop_id, "closed_by")
        missing = await _missing(work, session, request)
        if missing:
            session = begin_closing(session, request, services.clock())
            await work.sessions.update(session)
            await work.commit()
            return Waiting(session, missing)
        closed = await _finish(work, services, session, request, items)
        await work.commit()
    return closed


async def complete_close(session_id: UUID, services: SessionServices) -> CashSession | Waiting:
    """Close a `closing` session if its last tickets are in now; the session as it stands otherwise."""
    async with services.uow() as work:
        session = await _session(work, session_id, None, for_update=True)
        request = session.close_request
        if session.status is not SessionStatus.CLOSING or request is None:
            return session
        missing = await _missing(work, session, request)
        if missing:
            return Waiting(session, missing)
        closed = await _finish(work, services, session, request, await place_of(work, session.place.pos_id))
        await work.commit()
    return closed


async def complete_closes(
    session_ids: Sequence[UUID], services: SessionServices, *, counting: CountingWorkFactory | None = None
) -> list[UUID]:
    """After tickets were counted: close those of their sessions that were waiting for them. Which are waiting is
    asked in `counting`'s unit of work when given (the one the tickets were counted in: after every batch, and
    most often none is)."""
    if not session_ids:
        return []
    async with (counting or services.uow)() as work:
        waiting = await work.sessions.closing(session_ids)
    done = []
    for session_id in waiting:
        if isinstance(await complete_close(session_id, services), CashSession):
            done.append(session_id)
    return done


async def _missing(work: UnitOfWork, session: CashSession, request: CloseRequest) -> tuple[tuple[int, int], ...]:
    awaited = tickets_awaited(session, request.last_ticket_number)
    if awaited is None:
        return ()
    present = await work.totals.numbers_in(session.session_id, *awaited)
    if len(present) == awaited[1] - awaited[0] + 1:
        return ()
    return missing_ranges(awaited, present)


async def _finish(
    work: UnitOfWork, services: SessionServices, session: CashSession, request: CloseRequest, items: PlaceItems
) -> CashSession:
    totals = await work.totals.get(session.session_id)
    cheques = await work.totals.cheques(session.session_id)
    now = services.clock()
    closed = close_session(
        session, request, totals, cheques, comment_threshold=services.rules.comment_threshold, now=now
    )
    await work.sessions.update(closed)
    people = [*session.operator_ids, request.closed_by, *(m.operator_id for m in session.movements)]
    report = z_report(closed, totals, await names_of(work, items, people))
    await work.reports.put(report)
    recipients = report_recipients(items)
    if recipients:
        await work.mail.add(Mail(services.new_id(), session.session_id, recipients, next_attempt_at=now))
    await announce(work, services, _closed_event(closed, totals))
    return closed


async def announce(
    work: UnitOfWork, services: SessionServices, event: SessionOpenedV1 | SessionClosedV1 | SessionDepositConfirmedV1
) -> None:
    """A session event in the outbox, in the unit of work of the change it tells: keyed by its till (the outbox
    adapter adds the trace context of the span that writes it)."""
    envelope = Envelope[type(event)].wrap(  # type: ignore[misc]
        event,
        event_id=services.new_id(),
        occurred_at=services.clock(),
        source=SOURCE,
        tenant=TenantKeys(
            territory_id=event.territory_id, company_id=event.company_id, shop_id=event.shop_id, pos_id=event.pos_id
        ),
    )
    await work.outbox.add(
        envelope,
        topic=SESSIONS.name,
        key=str(event.pos_id),
        aggregate_type="cash_session",
        aggregate_id=str(event.session_id),
    )


class SessionKeys(TypedDict):
    """Which session a session event tells of, and where its till sits."""

    session_id: UUID
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID


def session_keys(session: CashSession) -> SessionKeys:
    place = session.place
    return SessionKeys(
        session_id=session.session_id,
        territory_id=place.territory_id,
        company_id=place.company_id,
        shop_id=place.shop_id,
        pos_id=place.pos_id,
    )


def _opened_event(session: CashSession) -> SessionOpenedV1:
    place = session.place
    return SessionOpenedV1(
        **session_keys(session),
        opened_at=session.opened_at,
        operator_ids=session.operator_ids,
        currency=place.currency,
        opening_float=session.opening_float,
        float_counts=tuple(DenominationCountV1(value=c.value, count=c.count) for c in session.float_counts),
    )


def _closed_event(session: CashSession, totals: RunningTotals | None) -> SessionClosedV1:
    place, figures, request, closed_at = session.place, session.closing, session.close_request, session.closed_at
    if figures is None or request is None or closed_at is None:
        raise ValueError("only a closed session is announced closed")
    known_methods = {m.value for m in PaymentMethod}
    return SessionClosedV1(
        **session_keys(session),
        currency=place.currency,
        opened_at=session.opened_at,
        closed_at=closed_at,
        first_ticket_number=totals.first_number if totals else None,
        last_ticket_number=request.last_ticket_number,
        ticket_count=totals.ticket_count if totals else 0,
        credit_note_count=totals.credit_note_count if totals else 0,
        credit_note_total=totals.credit_note_total if totals else 0,
        totals_by_method=tuple(
            MethodTotalV1(method=PaymentMethod(m), amount=a, count=c)
            for m, (a, c) in sorted((totals.by_method if totals else {}).items())
            if m in known_methods
        ),
        totals_by_category=tuple(
            CategoryTotalV1(
                category_id=k, revenue_account=v.revenue_account, amount=v.amount, weight_grams=v.weight_grams
            )
            for k, v in sorted((totals.by_category if totals else {}).items(), key=lambda kv: str(kv[0]))
        ),
        total_weight_grams=totals.weight_grams if totals else 0,
        cash_received=totals.cash_received if totals else 0,
        change_given=totals.change_given if totals else 0,
        cash_rounding=totals.cash_rounding if totals else 0,
        cash_added=session.cash_added,
        cash_withdrawn=session.cash_withdrawn,
        opening_float=session.opening_float,
        expected_cash=figures.expected_cash,
        counted_cash=figures.counted_cash,
        variance=figures.variance,
        counted=tuple(DenominationCountV1(value=c.value, count=c.count) for c in request.counts),
        cheques=tuple(
            ChequeV1(ticket_id=c.ticket_id, number=c.number, bank=c.bank, amount=c.amount) for c in figures.cheques
        ),
        card_terminal_total=request.card_terminal_total,
        comment=request.comment,
        closed_by=request.closed_by,
        opened_by=session.operator_ids[0],
    )


@dataclass(frozen=True, slots=True)
class SessionRead:
    session: CashSession
    totals: RunningTotals | None
    waiting_for: tuple[tuple[int, int], ...]
    late_tickets: tuple[LateTicket, ...] = ()
    """Tickets that reached the session after its close: in none of its figures."""
    deposit: Deposit | None = None
    """The bank deposit of a closed session, once confirmed."""


async def read_session(session_id: UUID, services: SessionServices, pos_id: UUID | None = None) -> SessionRead:
    async with services.uow() as work:
        session = await _session(work, session_id, pos_id, for_update=False)
        return await _read(work, session)


async def current_session(pos_id: UUID, services: SessionServices) -> SessionRead:
    """The POS's session that is not closed: what a till continues after a reboot."""
    async with services.uow() as work:
        session = await work.sessions.current_of_pos(pos_id)
        if session is None:
            raise SessionNotFoundError(pos_id=pos_id)
        return await _read(work, session)


async def _read(work: UnitOfWork, session: CashSession) -> SessionRead:
    totals = await work.totals.get(session.session_id)
    waiting: tuple[tuple[int, int], ...] = ()
    if session.status is SessionStatus.CLOSING and session.close_request is not None:
        waiting = await _missing(work, session, session.close_request)
    late: tuple[LateTicket, ...] = ()
    deposit = None
    if session.status is SessionStatus.CLOSED:  # only a closed session has any
        late = tuple(await work.totals.late_tickets(LateTicketsOf(session_id=session.session_id)))
        deposit = await work.deposits.get(session.session_id)
    return SessionRead(session, totals, waiting, late, deposit)
