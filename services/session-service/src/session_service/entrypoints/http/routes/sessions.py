"""Cash session routes: open (or continue), read, cash movements, close, Z report, bank deposit slip and the
confirmation of the deposit.

An open, a movement and a close each carry an id of the till's making (the session's, the movement's, the
session's again) and, when the till made them offline, its own time: sent again, they answer what was recorded
(`X-Session-Outcome`: `continued` or `already_exists`) and change nothing; the same id with other content is a
409 `replay-conflict` naming the field.

Every route needs pos-api's service token: pos-api calls for an authenticated till (whose POS scopes what it
reaches), for an operator (the shops of their scope), or for itself (`domain.access`). Every answer is a typed
schema; every refusal a problem document.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StrictInt

from caisse_contracts.session_api import (
    CloseSessionIn,
    DepositIn,
    DepositOut,
    LateTicketOut,
    MovementIn,
    OpenSessionIn,
    SessionOut,
)
from session_service.domain.access import (
    Caller,
    check_all_shops,
    check_company,
    check_pos,
    check_read,
    check_shop,
    check_writer,
)
from session_service.domain.deposits import Deposit
from session_service.domain.errors import SessionNotFoundError, describe_ranges
from session_service.domain.report import ZReport
from session_service.domain.sessions import Count, MovementKind, SessionStatus, expected_cash
from session_service.entrypoints.http.deps import CurrentCaller, CurrentServices
from session_service.entrypoints.http.schemas import BINARY, PDF, late_ticket_out, problems
from session_service.service_layer.close import CloseSession, request_close
from session_service.service_layer.deposits import ConfirmDeposit, confirm_session_deposit
from session_service.service_layer.movements import RecordMovement, record_movement
from session_service.service_layer.open import OpenSession, open_cash_session
from session_service.service_layer.ports import LateTicketsOf
from session_service.service_layer.sessions import SessionRead, current_session, read_session

router = APIRouter(prefix="/v1", tags=["sessions"], responses=problems(401, 403, 404))


class OpenIn(OpenSessionIn):
    """What pos-api forwards of a till's open: the till's body, and the POS's next ticket number as pos-api knows
    it."""

    first_ticket_number: StrictInt | None = Field(
        default=None, ge=1, description="The POS's next ticket number as pos-api knows it."
    )


def deposit_body(deposit: Deposit) -> DepositOut:
    return DepositOut(
        deposit_id=deposit.deposit_id,
        session_id=deposit.session_id,
        cash=deposit.cash,
        cheques=[
            {
                "payment_id": c.payment_id,
                "ticket_id": c.ticket_id,
                "number": c.number,
                "bank": c.bank,
                "amount": c.amount,
            }
            for c in deposit.cheques
        ],
        total=deposit.total,
        reference=deposit.reference,
        deposited_on=deposit.deposited_on,
        confirmed_at=deposit.confirmed_at,
        confirmed_by=deposit.confirmed_by,
    )


def _counts(counts: tuple[Count, ...]) -> list[dict[str, int]]:
    return [{"value": c.value, "count": c.count, "amount": c.amount} for c in counts]


def session_body(read: SessionRead) -> dict[str, Any]:
    session, totals = read.session, read.totals
    status_text = session.status.value
    if read.waiting_for:
        status_text = f"closing: waiting for tickets {describe_ranges(read.waiting_for)}"
    place = session.place
    body: dict[str, Any] = {
        "session_id": str(session.session_id),
        "pos_id": str(place.pos_id),
        "shop_id": str(place.shop_id),
        "company_id": str(place.company_id),
        "territory_id": str(place.territory_id),
        "currency": place.currency,
        "status": session.status.value,
        "status_text": status_text,
        "waiting_for": [list(r) for r in read.waiting_for],
        "opened_at": session.opened_at.isoformat(),
        "operator_ids": [str(o) for o in session.operator_ids],
        "denominations": list(place.denominations),
        "float_counts": _counts(session.float_counts),
        "opening_float": session.opening_float,
        "first_ticket_number": session.first_ticket_number,
        "movements": [
            {
                "movement_id": str(m.movement_id),
                "kind": m.kind.value,
                "amount": m.amount,
                "reason": m.reason,
                "operator_id": str(m.operator_id),
                "at": m.at.isoformat(),
            }
            for m in session.movements
        ],
        "cash_added": session.cash_added,
        "cash_withdrawn": session.cash_withdrawn,
        "ticket_count": totals.ticket_count if totals else 0,
        "last_counted_number": totals.last_number if totals else None,
        "expected_cash": expected_cash(session, totals),
        "closed_at": session.closed_at.isoformat() if session.closed_at else None,
        "closing": None,
        "late_tickets": [late_ticket_out(t) for t in read.late_tickets],
        "deposit": deposit_body(read.deposit).model_dump(mode="json") if read.deposit else None,
    }
    if session.closing is not None and session.close_request is not None:
        figures, request = session.closing, session.close_request
        body["closing"] = {
            "last_ticket_number": request.last_ticket_number,
            "expected_cash": figures.expected_cash,
            "counted_cash": figures.counted_cash,
            "variance": figures.variance,
            "comment": request.comment,
            "counts": _counts(request.counts),
            "float_kept": figures.float_kept,
            "deposit": _counts(figures.deposit),
            "deposit_cash": figures.deposit_cash,
            "cheques": [
                {"payment_id": str(c.payment_id), "number": c.number, "bank": c.bank, "amount": c.amount}
                for c in figures.cheques
            ],
            "cheque_total": figures.cheque_total,
            "card_total": figures.card_total,
            "card_terminal_total": request.card_terminal_total,
            "card_difference": figures.card_difference,
        }
    return body


@router.post(
    "/pos/{pos_id}/sessions",
    status_code=201,
    summary="Open a session with its counted float",
    response_model=SessionOut,
    responses={
        200: {
            "model": SessionOut,
            "description": "The session of this open, sent again: continued while it is open (X-Session-Outcome:"
            " continued), as it stands once closing or closed (already_exists)",
        },
        **problems(409, 422, 503),
    },
)
async def post_open(
    pos_id: UUID, body: OpenIn, services: CurrentServices, caller: CurrentCaller, response: Response
) -> dict[str, Any]:
    check_pos(caller, pos_id)
    opened = await open_cash_session(
        OpenSession(
            session_id=body.session_id,
            pos_id=pos_id,
            operator_ids=tuple(body.operator_ids),
            float_counts=tuple((c.value, c.count) for c in body.float_counts),
            first_ticket_number=body.first_ticket_number,
            opened_at=body.opened_at,
        ),
        services.sessions,
    )
    if opened.created:  # the close will render documents: load their libraries now, beside the request
        asyncio.get_running_loop().run_in_executor(None, services.documents.warm_up)
    if not opened.created:
        response.status_code = 200
    outcome = "created" if opened.created else "continued" if opened.continued else "already_exists"
    response.headers["X-Session-Outcome"] = outcome
    return session_body(await read_session(opened.session.session_id, services.sessions))


@router.get(
    "/pos/{pos_id}/sessions/current",
    summary="The POS's session that is not closed (a rebooted till continues it)",
    response_model=SessionOut,
)
async def get_current(pos_id: UUID, services: CurrentServices, caller: CurrentCaller) -> dict[str, Any]:
    check_pos(caller, pos_id)
    return session_body(await current_session(pos_id, services.sessions))


async def _readable(session_id: UUID, services: CurrentServices, caller: Caller) -> SessionRead:
    read = await read_session(session_id, services.sessions, caller.pos_scope)
    place = read.session.place
    check_read(caller, session_id, place.pos_id, place.shop_id, place.company_id)
    return read


@router.get("/sessions/{session_id}", summary="A session, its status and its figures so far", response_model=SessionOut)
async def get_session(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> dict[str, Any]:
    return session_body(await _readable(session_id, services, caller))


@router.post(
    "/sessions/{session_id}/movements",
    status_code=201,
    summary="Withdraw cash to the safe or add to the float",
    response_model=SessionOut,
    responses={
        200: {
            "model": SessionOut,
            "description": "Recorded before: nothing changed (X-Session-Outcome: already_exists)",
        },
        **problems(409, 422),
    },
)
async def post_movement(
    session_id: UUID, body: MovementIn, services: CurrentServices, caller: CurrentCaller, response: Response
) -> dict[str, Any]:
    check_writer(caller)
    moved = await record_movement(
        RecordMovement(
            session_id=session_id,
            movement_id=body.movement_id,
            kind=MovementKind(body.kind),
            amount=body.amount,
            reason=body.reason,
            operator_id=body.operator_id,
            pos_id=caller.pos_scope,
            occurred_at=body.occurred_at,
        ),
        services.sessions,
    )
    if not moved.created:
        response.status_code = 200
    response.headers["X-Session-Outcome"] = "created" if moved.created else "already_exists"
    return session_body(await read_session(session_id, services.sessions))


@router.post(
    "/sessions/{session_id}/close",
    summary="Close with the counts, once every ticket up to the last number is counted",
    response_model=SessionOut,
    responses={
        202: {
            "model": SessionOut,
            "description": "With wait=false: the close is recorded, the session `closing` until its last tickets are"
            " in (waiting_for); it closes on its own then",
        },
        **problems(422),
        409: {
            **problems(409)[409],
            "description": "Closed already, or (Retry-After) still waiting for tickets, or (replay-conflict) closed"
            " offline with other figures",
        },
    },
)
async def post_close(
    session_id: UUID,
    body: CloseSessionIn,
    services: CurrentServices,
    caller: CurrentCaller,
    response: Response,
    wait: Annotated[
        bool, Query(description="Wait (a bounded while) for the last tickets; false: answer at once (202 closing)")
    ] = True,
) -> dict[str, Any]:
    check_writer(caller)
    answer = await request_close(
        CloseSession(
            session_id=session_id,
            closed_by=body.closed_by,
            last_ticket_number=body.last_ticket_number,
            counts=tuple((c.value, c.count) for c in body.counts),
            float_kept=tuple((c.value, c.count) for c in body.float_kept),
            cheques_ticked=frozenset(body.cheques_ticked),
            card_terminal_total=body.card_terminal_total,
            comment=body.comment,
            pos_id=caller.pos_scope,
            closed_at=body.closed_at,
        ),
        services.sessions,
        wait=wait,
    )
    closed = answer.session
    if closed.status is SessionStatus.CLOSED:
        services.wake_mail()
    else:
        response.status_code = 202
    response.headers["X-Session-Outcome"] = "created" if answer.created else "already_exists"
    return session_body(await read_session(closed.session_id, services.sessions))


@router.post(
    "/sessions/{session_id}/deposit",
    status_code=201,
    summary="Confirm the bank deposit of a closed session (the slip as it went to the bank)",
    response_model=DepositOut,
    responses={
        200: {"model": DepositOut, "description": "The same confirmation, sent again: the first one"},
        **problems(422),
        409: {**problems(409)[409], "description": "The session is not closed, or its deposit was confirmed otherwise"},
    },
)
async def post_deposit(
    session_id: UUID, body: DepositIn, services: CurrentServices, caller: CurrentCaller, response: Response
) -> DepositOut:
    confirmed = await confirm_session_deposit(
        ConfirmDeposit(
            session_id=session_id,
            cash=body.cash,
            cheque_ids=tuple(body.cheques),
            reference=body.reference,
            deposited_on=body.deposited_on,
        ),
        caller,
        services.sessions,
    )
    if not confirmed.created:
        response.status_code = 200
    return deposit_body(confirmed.deposit)


async def _report(session_id: UUID, services: CurrentServices, caller: Caller) -> ZReport:
    async with services.uow() as work:
        report = await work.reports.get(session_id)
    if report is None or (caller.pos_scope is not None and report.pos_id != caller.pos_scope):
        raise SessionNotFoundError(session_id=session_id)
    check_read(caller, session_id, report.pos_id, report.shop_id, report.company_id)
    return report


@router.get("/sessions/{session_id}/report", summary="The Z report of a closed session (JSON)", response_model=ZReport)
async def get_report(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> Response:
    report = await _report(session_id, services, caller)
    return Response(services.documents.report_json(report), media_type="application/json")


@router.get(
    "/sessions/{session_id}/report.html",
    summary="The Z report as a web page",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The page"}},
)
async def get_report_html(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> Response:
    report = await _report(session_id, services, caller)
    return Response(services.documents.report_html(report), media_type="text/html; charset=utf-8")


@router.get(
    "/sessions/{session_id}/report.pdf",
    summary="The Z report as a PDF",
    response_class=Response,
    responses={200: PDF},
)
async def get_report_pdf(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> Response:
    report = await _report(session_id, services, caller)
    return Response(
        services.documents.report_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="rapport-z-{session_id}.pdf"'},
    )


@router.get(
    "/sessions/{session_id}/deposit-slip.pdf",
    summary="The bank deposit slip as a PDF",
    response_class=Response,
    responses={200: PDF},
)
async def get_deposit_slip_pdf(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> Response:
    report = await _report(session_id, services, caller)
    return Response(
        services.documents.deposit_slip_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="bordereau-{session_id}.pdf"'},
    )


@router.get(
    "/sessions/{session_id}/deposit-slip.escpos",
    summary="The bank deposit slip for the till's printer",
    response_class=Response,
    responses={200: BINARY},
)
async def get_deposit_slip_escpos(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> Response:
    report = await _report(session_id, services, caller)
    return Response(services.documents.deposit_slip_escpos(report), media_type="application/octet-stream")


@router.get(
    "/sessions/{session_id}/late-tickets",
    summary="Tickets that reached the session after its close: in none of its figures, to settle by hand",
)
async def get_late_tickets(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> list[LateTicketOut]:
    read = await _readable(session_id, services, caller)
    return [LateTicketOut.model_validate(late_ticket_out(t)) for t in read.late_tickets]


@router.get(
    "/late-tickets",
    summary="Late tickets of a shop or a company (ops: of every shop), newest first",
    responses=problems(422),
)
async def list_late_tickets(
    services: CurrentServices,
    caller: CurrentCaller,
    shop_id: Annotated[UUID | None, Query(description="Of this shop")] = None,
    company_id: Annotated[UUID | None, Query(description="Of this company's shops")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[LateTicketOut]:
    if shop_id is not None:
        check_shop(caller, shop_id, company_id)
    elif company_id is not None:
        check_company(caller, company_id)
    else:
        check_all_shops(caller)
    async with services.uow() as work:
        found = await work.totals.late_tickets(LateTicketsOf(shop_id=shop_id, company_id=company_id, limit=limit))
    return [LateTicketOut.model_validate(late_ticket_out(t)) for t in found]


class MailOut(BaseModel):
    mail_id: UUID
    recipients: list[str]
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


@router.get("/sessions/{session_id}/mail", summary="Where the e-mail of the session's Z report stands")
async def get_mail(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> list[MailOut]:
    await _readable(session_id, services, caller)
    async with services.uow() as work:
        mails = await work.mail.of_session(session_id)
    return [
        MailOut(
            mail_id=m.mail_id,
            recipients=list(m.recipients),
            attempts=m.attempts,
            next_attempt_at=m.next_attempt_at,
            sent_at=m.sent_at,
            last_error=m.last_error,
        )
        for m in mails
    ]
