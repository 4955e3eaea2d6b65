"""Read routes: a session's running totals, and whether a ticket has been counted."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from caisse_contracts.runtime.http import ProblemError
from session_service.entrypoints.http.deps import CurrentServices

router = APIRouter(prefix="/v1", tags=["totals"])


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


class AppliedTicketOut(BaseModel):
    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    number: int
    total_incl_tax: int
    event_id: UUID
    applied_at: datetime


@router.get("/sessions/{session_id}/totals")
async def session_totals(session_id: UUID, services: CurrentServices) -> SessionTotalsOut:
    async with services.uow() as work:
        totals = await work.totals.get(session_id)
    if totals is None:
        raise ProblemError(404, "Unknown session", detail=f"no ticket counted yet for session {session_id}")
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


@router.get("/tickets/{ticket_id}")
async def applied_ticket(ticket_id: UUID, services: CurrentServices) -> AppliedTicketOut:
    """Whether (and when, from which event) a ticket was counted into its session."""
    async with services.uow() as work:
        applied = await work.totals.applied_ticket(ticket_id)
    if applied is None:
        raise ProblemError(404, "Ticket not counted", detail=f"ticket {ticket_id} has not been counted yet")
    return AppliedTicketOut(**{f: getattr(applied, f) for f in AppliedTicketOut.model_fields})
