"""Till routes of the cash session: pos-api authenticates the till and forwards to session-service (traced).

The till opens, continues, moves cash, closes, fetches its reports and confirms the bank deposit here; session-service owns the
session. pos-api adds what it alone knows (the POS, its next ticket number, the session's last ticket) and
refuses a close while a basket is still open. session-service's answers, problems included, pass through
unchanged. pos-api records the open and the close in its own database as it forwards them, so that its
checks of a sale agree with session-service at once: no sale enters a session whose close was acknowledged.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel

from caisse_contracts.session_api import (
    CloseSessionIn,
    DepositIn,
    DepositOut,
    MovementIn,
    OpenSessionIn,
    SessionOut,
    ZReportOut,
)
from caisse_runtime.http import ProblemError
from pos_api.domain.till import Device
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices, CurrentSessionService
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy
from pos_api.service_layer.cash_sessions import (
    begin_close,
    close_refused,
    last_ticket_to_close,
    next_ticket_number,
    note_session_closed,
    note_session_opened,
    refuse_close_with_open_basket,
)
from pos_api.service_layer.services import Services

router = APIRouter(prefix="/v1/sessions", tags=["till"])

DOCUMENTS: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "model": ZReportOut,
        "description": "report: the Z report's JSON; the others as their media type",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _sent(body: BaseModel) -> dict[str, Any]:
    """The till's body as it sent it: session-service fills its own defaults."""
    return body.model_dump(mode="json", exclude_unset=True)


CLOSE_REFUSED: Final = frozenset({400, 401, 403, 404, 422})
"""session-service refused the close and changed nothing: the session is open again. A 409 (closing, waiting for
tickets, or closed already), a 5xx or no answer leave it closing: the till sends the close again."""


def till_headers(device: Device) -> dict[str, str]:
    return {"X-Caisse-Pos-Id": str(device.pos_id), "X-Caisse-Shop-Id": str(device.shop_id)}


@router.post(
    "",
    summary="Open the till's cash session with its counted float (or continue it)",
    response_model=None,
    status_code=201,
    responses={201: {"model": SessionOut}, 200: {"model": SessionOut, "description": "Continued: already open"}},
)
async def open_session(
    body: OpenSessionIn, session_service: CurrentSessionService, device: CurrentDevice, services: CurrentServices
) -> Response:
    return await forward_open(device, _sent(body), session_service, services)


async def forward_open(
    device: Device, sent: dict[str, Any], session_service: SessionServiceProxy, services: Services
) -> Response:
    """Open (or continue) the till's session at session-service, from its next ticket number unless the till says
    which (an open made offline), and note here that it is open."""
    if sent.get("first_ticket_number") is None:
        sent = {**sent, "first_ticket_number": await next_ticket_number(device, services)}
    answer = await session_service.forward("POST", f"/v1/pos/{device.pos_id}/sessions", till_headers(device), json=sent)
    if answer.status_code in (200, 201):
        opened = json.loads(bytes(answer.body))
        await note_session_opened(
            device,
            UUID(opened["session_id"]),
            datetime.fromisoformat(opened["opened_at"]),
            services,
            status=opened["status"],
        )
    return answer


@router.get(
    "/current",
    summary="The till's session that is not closed: what a rebooted till continues",
    response_model=None,
    responses={200: {"model": SessionOut}},
)
async def current_session(session_service: CurrentSessionService, device: CurrentDevice) -> Response:
    return await session_service.forward("GET", f"/v1/pos/{device.pos_id}/sessions/current", till_headers(device))


@router.get(
    "/{session_id}",
    summary="One of the till's sessions, with its status",
    response_model=None,
    responses={200: {"model": SessionOut}},
)
async def read_session(session_id: UUID, session_service: CurrentSessionService, device: CurrentDevice) -> Response:
    return await session_service.forward("GET", f"/v1/sessions/{session_id}", till_headers(device))


@router.post(
    "/{session_id}/movements",
    summary="Withdraw cash to the safe or add to the float",
    response_model=None,
    status_code=201,
    responses={201: {"model": SessionOut}},
)
async def post_movement(
    session_id: UUID, body: MovementIn, session_service: CurrentSessionService, device: CurrentDevice
) -> Response:
    path = f"/v1/sessions/{session_id}/movements"
    return await session_service.forward("POST", path, till_headers(device), json=_sent(body))


DEPOSIT_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    201: {"model": DepositOut, "description": "Confirmed"},
    200: {"model": DepositOut, "description": "The same confirmation sent again: the first one"},
}


@router.post(
    "/{session_id}/deposit",
    summary="Confirm the closed session's bank deposit: the slip as it went to the bank (once)",
    response_model=None,
    status_code=201,
    responses=DEPOSIT_ANSWERS,
)
async def post_deposit(
    session_id: UUID, body: DepositIn, session_service: CurrentSessionService, device: CurrentDevice
) -> Response:
    path = f"/v1/sessions/{session_id}/deposit"
    return await session_service.forward("POST", path, till_headers(device), json=_sent(body))


@router.post(
    "/{session_id}/close",
    summary="Close with the counted cash and the last ticket number (refused while a basket is open)",
    response_model=None,
    responses={200: {"model": SessionOut}},
)
async def post_close(
    session_id: UUID,
    body: CloseSessionIn,
    session_service: CurrentSessionService,
    device: CurrentDevice,
    services: CurrentServices,
) -> Response:
    await refuse_close_with_open_basket(device, services)
    forwarded = _sent(body)
    mark = await begin_close(device, session_id, forwarded.get("last_ticket_number"), services)
    if "last_ticket_number" in forwarded:  # a close without it is session-service's to refuse
        forwarded["last_ticket_number"] = last_ticket_to_close(forwarded["last_ticket_number"], mark)
    # unreachable (503): the session stays closing until the till sends its close again
    answer = await session_service.forward(
        "POST", f"/v1/sessions/{session_id}/close", till_headers(device), json=forwarded
    )
    if answer.status_code == 200:
        closed = json.loads(bytes(answer.body))
        if closed["status"] == "closed":
            await note_session_closed(
                device,
                session_id,
                datetime.fromisoformat(closed["closed_at"]),
                closed["closing"]["last_ticket_number"],
                services,
            )
    elif answer.status_code in CLOSE_REFUSED:
        await close_refused(device, session_id, mark, services)
    return answer


@router.get(
    "/{session_id}/{document}",
    summary="The Z report (report, report.html, report.pdf) or the deposit slip (deposit-slip.pdf, .escpos)",
    response_model=None,
    responses=DOCUMENTS,
)
async def get_document(
    session_id: UUID, document: str, session_service: CurrentSessionService, device: CurrentDevice
) -> Response:
    if document not in {"report", "report.html", "report.pdf", "deposit-slip.pdf", "deposit-slip.escpos"}:
        raise ProblemError(404, "Not Found", detail=f"no document {document!r}")
    return await session_service.forward("GET", f"/v1/sessions/{session_id}/{document}", till_headers(device))
