"""Use case: close a cash session once every ticket is in.

The close never guesses: it carries the number of the last ticket the till issued, and the session closes
only when its totals include every ticket from its first number to that one. Until then the session is
`closing`, visibly waiting for the missing numbers; whoever sees the last ticket arrive (the waiting request
or the ticket consumer) completes it, in one transaction with its report, its e-mail and `session.closed`.

A close made offline carries the till's `closed_at`: the session closes at that time whenever its tickets come
in, and it is the session's one close (sent again, it answers the close; other figures are a conflict).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from caisse_contracts.events import (
    CashMovementV1,
    CategoryTotalV1,
    ChequeV1,
    DenominationCountV1,
    MethodTotalV1,
    PaymentMethod,
    SessionClosedV1,
)
from session_service.domain.errors import (
    InvalidFieldError,
    SessionNotOpenError,
    SessionServiceError,
    TicketsMissingError,
)
from session_service.domain.report import z_report
from session_service.domain.sessions import (
    CashSession,
    CloseRequest,
    MovementKind,
    SessionStatus,
    begin_closing,
    check_close_request,
    check_operators,
    check_same_close,
    close_session,
    counted,
    till_time,
)
from session_service.domain.totals import RunningTotals
from session_service.service_layer.places import PlaceItems, names_of, operator_shops, place_of, report_recipients
from session_service.service_layer.ports import Mail, UnitOfWork
from session_service.service_layer.sessions import (
    SessionServices,
    announce,
    find_session,
    missing_tickets,
    session_keys,
)

log = logging.getLogger(__name__)


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
    closed_at: datetime | None = None
    """The till's time of a close made offline; None: when the last ticket is in."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """A close that waits for tickets."""

    session: CashSession
    missing: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class CloseAnswer:
    session: CashSession
    """Closed, or (a close that does not wait) `closing` until its last tickets are in."""
    created: bool
    """False: the till sent a close that was recorded before, nothing changed."""


async def close_cash_session(command: CloseSession, services: SessionServices) -> CashSession:
    """Close the session with the till's counts, once its totals include every ticket up to the last number.

    Waits up to `close_wait_s` for missing tickets, then raises `TicketsMissingError` (the session stays
    `closing`; the consumer completes it when the tickets arrive, or the till sends the close again — a new
    count replaces the previous one, unless the close was made offline). Bad input is refused before anything
    is written.
    """
    return (await request_close(command, services, wait=True)).session


async def request_close(command: CloseSession, services: SessionServices, *, wait: bool) -> CloseAnswer:
    """The close, recorded; with `wait`, as `close_cash_session`; without, answered at once, the session left
    `closing` while tickets are missing (a till syncing its offline queue sends its tickets afterwards)."""
    outcome, created = await _request_close(command, services)
    waited = 0.0
    while isinstance(outcome, Waiting):
        if not wait:
            return CloseAnswer(outcome.session, created)
        if waited >= services.rules.close_wait_s:
            raise TicketsMissingError(command.session_id, outcome.missing, waited)
        await services.sleep(services.rules.poll_s)
        waited += services.rules.poll_s
        outcome = await complete_close(command.session_id, services)
    return CloseAnswer(outcome, created)


async def _request_close(command: CloseSession, services: SessionServices) -> tuple[CashSession | Waiting, bool]:
    closed_at = command.closed_at
    if closed_at is not None:
        closed_at = till_time(closed_at, services.clock(), services.rules.clock_tolerance, "closed_at")
    async with services.uow() as work:
        session = await find_session(work, command.session_id, command.pos_id, for_update=True)
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
            closed_at=closed_at,
        )
        recorded = session.close_request
        offline = closed_at is not None or (recorded is not None and recorded.closed_at is not None)
        if session.status is SessionStatus.CLOSED:
            if recorded == request:
                return session, False  # the till retries a close that went through
            if offline:
                check_same_close(session, request)
            raise SessionNotOpenError(session.session_id, session.status.value)
        if session.status is SessionStatus.CLOSING and recorded is not None:
            if recorded == request:  # sent again while its tickets are on their way
                missing = await missing_tickets(work, session, request)
                return (Waiting(session, missing) if missing else await _complete(work, services, session)), False
            if offline:
                check_same_close(session, request)
        if command.last_ticket_number is not None and command.last_ticket_number < 0:
            raise InvalidFieldError("last_ticket_number", "a ticket number is not negative")
        check_close_request(session, request)
        shops = await operator_shops(work, session.place.shop_id)
        check_operators([command.closed_by], shops, session.place.shop_id, "closed_by")
        missing = await missing_tickets(work, session, request)
        if missing:
            session = begin_closing(session, request, services.clock())
            await work.sessions.update(session)
            await work.commit()
            return Waiting(session, missing), True
        closed = await _finish(work, services, session, request, items)
        await work.commit()
    return closed, True


async def _complete(work: UnitOfWork, services: SessionServices, session: CashSession) -> CashSession:
    """Close a `closing` session whose last tickets are in, in the unit of work that found it so."""
    request = session.close_request
    if request is None:  # pragma: no cover - a closing session holds its request
        raise ValueError("a closing session holds its close request")
    closed = await _finish(work, services, session, request, await place_of(work, session.place.pos_id))
    await work.commit()
    return closed


async def complete_close(session_id: UUID, services: SessionServices) -> CashSession | Waiting:
    """Close a `closing` session if its last tickets are in now; the session as it stands otherwise."""
    async with services.uow() as work:
        session = await find_session(work, session_id, None, for_update=True)
        request = session.close_request
        if session.status is not SessionStatus.CLOSING or request is None:
            return session
        missing = await missing_tickets(work, session, request)
        if missing:
            return Waiting(session, missing)
        return await _complete(work, services, session)


async def complete_closes(session_ids: Sequence[UUID], services: SessionServices) -> list[UUID]:
    """Close those of `session_ids` whose last tickets are in now (the sessions a batch of tickets found
    waiting for their close); the ones closed. A close that cannot complete stays `closing`, logged, and its
    till hears why when it asks: the others go on."""
    done = []
    for session_id in session_ids:
        try:
            outcome = await complete_close(session_id, services)
        except SessionServiceError as exc:
            log.warning("the waiting close of session %s could not complete: %s", session_id, exc)
            continue
        if isinstance(outcome, CashSession) and outcome.status is SessionStatus.CLOSED:
            done.append(session_id)
    return done


async def resume_closes(services: SessionServices) -> None:
    """At start: complete the closes whose last tickets were counted while nobody completed them (the service
    stopped between the two)."""
    async with services.uow() as work:
        waiting = await work.sessions.closing()
    done = await complete_closes(waiting, services)
    if done:
        log.info("closed %d session(s) whose last tickets had come in while no one completed them", len(done))


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
    await announce(work, services, _closed_event(closed, totals), occurred_at=closed.closed_at)
    return closed


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
        movements=tuple(
            CashMovementV1(
                movement_id=m.movement_id,
                kind="withdrawal" if m.kind is MovementKind.WITHDRAWAL else "addition",
                amount=m.amount,
                reason=m.reason,
                operator_id=m.operator_id,
                at=m.at,
            )
            for m in sorted(session.movements, key=lambda m: (m.at, str(m.movement_id)))
        ),
        close_received_at=session.closing_since,
    )
