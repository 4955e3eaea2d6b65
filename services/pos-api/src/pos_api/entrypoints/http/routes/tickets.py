"""Ticket routes: a till hands over a finalized ticket; a replay answers with the original."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.tills import CreditNoteIn, StockAlert
from caisse_runtime.http import InvalidParam, ProblemError
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices
from pos_api.entrypoints.http.routes.baskets import RECEIPT_RESPONSES, TICKET_OUTCOME, receipt_response
from pos_api.service_layer.baskets import check_credit_note, check_ticket_operator, credit_ticket
from pos_api.service_layer.ports import StoredTicket, UnitOfWork
from pos_api.service_layer.tickets import Outcome, record_ticket

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])


class TicketRecorded(TicketFinalizedV1):
    """The ticket as stored, and the stock alerts of the products it moved."""

    alerts: tuple[StockAlert, ...] = Field(
        default=(), description="Stock alerts of the products this ticket moved; none on a replay (nothing moved)."
    )


@router.post(
    "",
    status_code=201,
    responses={
        201: {"description": "The ticket is stored", "headers": TICKET_OUTCOME},
        200: {
            "model": TicketRecorded,
            "description": "Identical replay: the original ticket",
            "headers": TICKET_OUTCOME,
        },
    },
)
async def post_ticket(
    ticket: TicketFinalizedV1, device: CurrentDevice, services: CurrentServices, response: Response
) -> TicketRecorded:
    """Record a finalized ticket, emit `ticket.finalized` and move the stock of its stock-tracked products (a
    product refusing to go below zero without the units sold makes it a 409); 200 with the original on an identical
    replay.

    A credit note the till made itself (kind `credit_note`) is held to the rules of the online credit-note route:
    its sale (`original_ticket_id`) a sale of this shop that pos-api holds, the units given back within what was
    sold less what earlier credit notes gave back, every amount, tax and refund what the shared builder makes of
    them; a 422 `ticket-inconsistent` naming the field otherwise, nothing written. The till sends a credit note
    after its sale (its queue is ordered); a credit note whose sale pos-api does not hold is refused saying so."""
    if ticket.pos_id != device.pos_id or ticket.shop_id != device.shop_id:
        raise ProblemError(403, "Another till's ticket", invalid_params=[InvalidParam("pos_id", "is not this till")])

    async def check_operator(operator_id: UUID | None) -> None:
        await check_ticket_operator(device, operator_id, services)

    async def check_against_sale(work: UnitOfWork, note: TicketFinalizedV1, sale: StoredTicket | None) -> None:
        await check_credit_note(work, device, note, sale, services.cache)

    recorded = await record_ticket(
        ticket,
        uow=services.uow,
        clock=services.clock,
        new_id=services.new_id,
        check_operator=check_operator,
        check_credit_note=check_against_sale,
    )
    if recorded.outcome is Outcome.ALREADY_EXISTS:
        response.status_code = 200
    response.headers["X-Ticket-Outcome"] = recorded.outcome.value
    return TicketRecorded.model_validate({**recorded.stored.ticket.model_dump(), "alerts": recorded.alerts})


@router.get(
    "/{ticket_id}",
    summary="A ticket of this till's shop",
    response_model=None,
    responses={200: {"model": TicketFinalizedV1}},
)
async def get_ticket(ticket_id: UUID, device: CurrentDevice, services: CurrentServices) -> JSONResponse:
    async with services.uow() as work:
        stored = await work.tickets.by_id(ticket_id)
    if stored is None or stored.ticket.shop_id != device.shop_id:
        raise ProblemError(404, "Unknown ticket", detail=f"no ticket {ticket_id}")
    return JSONResponse(stored.ticket.model_dump(mode="json"))


@router.post(
    "/{ticket_id}/credit-notes",
    status_code=201,
    summary="A credit note on a sale (partial or full) with the refund tenders; the receipt",
    responses=RECEIPT_RESPONSES,
    response_model=None,
)
async def post_credit_note(
    ticket_id: UUID, body: CreditNoteIn, device: CurrentDevice, services: CurrentServices
) -> Response:
    return receipt_response(await credit_ticket(device, ticket_id, body, services))
