"""Back-office routes of cash sessions: an operator reads a session, its Z report and its deposit slip, confirms its
bank deposit, and lists the tickets that reached a closed session late. pos-api authenticates the operator and forwards to session-service
with its service token and the operator's scope, which session-service enforces; its answers pass through."""

from __future__ import annotations

from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Query, Response

from caisse_contracts.session_api import DepositIn, LateTicketOut, SessionOut
from caisse_runtime.http import ProblemError
from pos_api.domain.config import Actor
from pos_api.entrypoints.http.deps import CurrentActor, CurrentSessionService
from pos_api.entrypoints.http.routes.sessions import DEPOSIT_ANSWERS
from pos_api.entrypoints.http.routes.sessions import DOCUMENTS as DOCUMENT_ANSWERS

router = APIRouter(prefix="/v1", tags=["back office"])

DOCUMENTS: Final = frozenset({"report", "report.html", "report.pdf", "deposit-slip.pdf", "late-tickets", "mail"})


def operator_headers(actor: Actor) -> dict[str, str]:
    headers = {"X-Caisse-Operator-Id": str(actor.operator_id), "X-Caisse-Operator-Role": actor.role.value}
    if actor.shop_id is not None:
        headers["X-Caisse-Shop-Id"] = str(actor.shop_id)
    if actor.company_id is not None:
        headers["X-Caisse-Company-Id"] = str(actor.company_id)
    return headers


@router.get(
    "/cash-sessions/{session_id}",
    summary="A cash session of your scope, its status and figures",
    response_model=None,
    responses={200: {"model": SessionOut}},
)
async def read_session(session_id: UUID, session_service: CurrentSessionService, actor: CurrentActor) -> Response:
    return await session_service.forward("GET", f"/v1/sessions/{session_id}", operator_headers(actor))


@router.post(
    "/cash-sessions/{session_id}/deposit",
    summary="Confirm a closed session's bank deposit (a shop manager of its shop, or ops): the slip as it went to the bank",
    response_model=None,
    status_code=201,
    responses=DEPOSIT_ANSWERS,
)
async def confirm_deposit(
    session_id: UUID, body: DepositIn, session_service: CurrentSessionService, actor: CurrentActor
) -> Response:
    sent = body.model_dump(mode="json", exclude_unset=True)
    return await session_service.forward(
        "POST", f"/v1/sessions/{session_id}/deposit", operator_headers(actor), json=sent
    )


@router.get(
    "/cash-sessions/{session_id}/{document}",
    summary="Its Z report (report, report.html, report.pdf), deposit slip (deposit-slip.pdf), late tickets, mail",
    response_model=None,
    responses=DOCUMENT_ANSWERS,
)
async def read_document(
    session_id: UUID, document: str, session_service: CurrentSessionService, actor: CurrentActor
) -> Response:
    if document not in DOCUMENTS:
        raise ProblemError(404, "Not Found", detail=f"no document {document!r}")
    return await session_service.forward("GET", f"/v1/sessions/{session_id}/{document}", operator_headers(actor))


@router.get(
    "/late-tickets",
    summary="Tickets that reached a closed session: of a shop, a company, or all (ops)",
    response_model=None,
    responses={200: {"model": list[LateTicketOut]}},
)
async def late_tickets(
    session_service: CurrentSessionService,
    actor: CurrentActor,
    shop_id: Annotated[UUID | None, Query()] = None,
    company_id: Annotated[UUID | None, Query()] = None,
) -> Response:
    query = "&".join(f"{k}={v}" for k, v in (("shop_id", shop_id), ("company_id", company_id)) if v is not None)
    return await session_service.forward(
        "GET", "/v1/late-tickets" + (f"?{query}" if query else ""), operator_headers(actor)
    )
