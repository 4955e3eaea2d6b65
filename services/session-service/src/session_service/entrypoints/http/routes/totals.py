"""Read routes: a session's running totals, and whether a ticket has been counted."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from caisse_runtime.http import ProblemError
from session_service.domain.access import Caller, CallerKind, check_read
from session_service.entrypoints.http.deps import CurrentCaller, CurrentServices
from session_service.entrypoints.http.schemas import problems
from session_service.service_layer.ports import AppliedTicket, UnitOfWork

router = APIRouter(prefix="/v1", tags=["totals"], responses=problems(401, 403, 404))


async def _check(work: UnitOfWork, caller: Caller, session_id: UUID, pos_id: UUID, not_found: ProblemError) -> None:
    """A till reads its own POS's figures; an operator those of a session of their scope; pos-api any."""
    if caller.kind is CallerKind.SERVICE:
        return
    if caller.kind is CallerKind.TILL:
        if caller.pos_id != pos_id:
            raise not_found
        return
    session = await work.sessions.get(session_id)
    if session is None:
        raise not_found
    place = session.place
    check_read(caller, session_id, place.pos_id, place.shop_id, place.company_id)


class MethodTotal(BaseModel):
    method: str
    amount: int
    count: int


class CategoryTotalOut(BaseModel):
    category_id: UUID
    revenue_account: str
    amount: int
    weight_grams: int


class SessionTotalsOut(BaseModel):
    session_id: UUID
    pos_id: UUID
    currency: str
    ticket_count: int
    credit_note_count: int
    credit_note_total: int
    first_number: int | None
    last_number: int | None
    total_incl_tax: int
    cash_received: int
    change_given: int
    cash_rounding: int
    weight_grams: int
    by_method: list[MethodTotal]
    by_category: list[CategoryTotalOut]


@router.get("/sessions/{session_id}/totals", summary="A session's running totals, as the tickets are counted")
async def session_totals(session_id: UUID, services: CurrentServices, caller: CurrentCaller) -> SessionTotalsOut:
    unknown = ProblemError(404, "Unknown session", detail=f"no ticket counted yet for session {session_id}")
    async with services.uow() as work:
        totals = await work.totals.get(session_id)
        if totals is None:
            raise unknown
        await _check(work, caller, session_id, totals.pos_id, unknown)
    return SessionTotalsOut(
        session_id=totals.session_id,
        pos_id=totals.pos_id,
        currency=totals.currency,
        ticket_count=totals.ticket_count,
        credit_note_count=totals.credit_note_count,
        credit_note_total=totals.credit_note_total,
        first_number=totals.first_number,
        last_number=totals.last_number,
        total_incl_tax=totals.total_incl_tax,
        cash_received=totals.cash_received,
        change_given=totals.change_given,
        cash_rounding=totals.cash_rounding,
        weight_grams=totals.weight_grams,
        by_method=[MethodTotal(method=m, amount=a, count=c) for m, (a, c) in sorted(totals.by_method.items())],
        by_category=[
            CategoryTotalOut(
                category_id=k, revenue_account=v.revenue_account, amount=v.amount, weight_grams=v.weight_grams
            )
            for k, v in totals.by_category.items()
        ],
    )


@router.get("/tickets/{ticket_id}", summary="Whether (and when, from which event) a ticket was counted")
async def applied_ticket(ticket_id: UUID, services: CurrentServices, caller: CurrentCaller) -> AppliedTicket:
    """Whether (and when, from which event) a ticket was counted into its session."""
    uncounted = ProblemError(404, "Ticket not counted", detail=f"ticket {ticket_id} has not been counted yet")
    async with services.uow() as work:
        applied = await work.totals.applied_ticket(ticket_id)
        if applied is None:
            raise uncounted
        await _check(work, caller, applied.session_id, applied.pos_id, uncounted)
    return applied  # the port's structure is the answer's
