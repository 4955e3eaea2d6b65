"""The typed answers of session-service's routes, and the problem document every refusal is, for OpenAPI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, Field

from caisse_runtime.http import PROBLEM_JSON
from session_service.service_layer.ports import LateTicket


class InvalidParamOut(BaseModel):
    name: str = Field(description="The field refused, as a JSON path into the request")
    reason: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details; rules add members of their own (e.g. `waiting_for` of a close that waits)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    invalid_params: list[InvalidParamOut] = Field(default_factory=list)


PROBLEM_TITLES: Final = {
    401: "No service token, or an unknown one",
    403: "Outside the caller's scope",
    404: "No such session (or not the till's)",
    409: "The session's state refuses it",
    422: "A field is refused",
    503: "A dependency or the configuration is not there yet (Retry-After)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting these refusals as problem documents."""
    return {
        status: {"model": ProblemOut, "content": {PROBLEM_JSON: {}}, "description": PROBLEM_TITLES[status]}
        for status in statuses
    }


PDF: Final[dict[str, Any]] = {
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    "description": "The PDF document",
}
BINARY: Final[dict[str, Any]] = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "description": "ESC/POS bytes for the till's receipt printer",
}


class CountOut(BaseModel):
    value: int = Field(description="The note or coin, in minor units")
    count: int
    amount: int


class MovementOut(BaseModel):
    movement_id: UUID
    kind: str
    amount: int
    reason: str
    operator_id: UUID
    at: datetime


class ChequeOut(BaseModel):
    payment_id: UUID
    number: str
    bank: str | None
    amount: int


class ClosingOut(BaseModel):
    last_ticket_number: int | None
    expected_cash: int
    counted_cash: int
    variance: int
    comment: str | None
    counts: list[CountOut]
    float_kept: int
    deposit: list[CountOut]
    deposit_cash: int
    cheques: list[ChequeOut]
    cheque_total: int
    card_total: int
    card_terminal_total: int | None
    card_difference: int | None


class LateTicketOut(BaseModel):
    """A ticket that reached its session after the close: counted nowhere, for ops and the treasurer to settle."""

    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    number: int
    kind: str
    total_incl_tax: int
    currency: str
    by_method: dict[str, int] = Field(description="What was paid per payment method, in minor units")
    finalized_at: datetime
    event_id: UUID
    received_at: datetime = Field(description="When session-service received it (after the close)")


def late_ticket_out(t: LateTicket) -> dict[str, Any]:
    return {name: getattr(t, name) for name in LateTicketOut.model_fields}


class DepositChequeOut(BaseModel):
    payment_id: UUID
    ticket_id: UUID
    number: str
    bank: str | None
    amount: int


class DepositOut(BaseModel):
    """A closed session's confirmed bank deposit."""

    deposit_id: UUID
    session_id: UUID
    cash: int = Field(description="Cash deposited, in minor units")
    cheques: list[DepositChequeOut]
    total: int = Field(description="cash + the cheques, in minor units")
    reference: str = Field(description="The deposit slip's number")
    deposited_on: date
    confirmed_at: datetime
    confirmed_by: UUID | None = Field(description="The operator who confirmed it; none for a till")


class SessionOut(BaseModel):
    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    territory_id: UUID
    currency: str
    status: str = Field(description="open, closing or closed")
    status_text: str
    waiting_for: list[list[int]] = Field(description="Ranges of ticket numbers a closing session waits for")
    opened_at: datetime
    operator_ids: list[UUID]
    denominations: list[int]
    float_counts: list[CountOut]
    opening_float: int
    first_ticket_number: int
    movements: list[MovementOut]
    cash_added: int
    cash_withdrawn: int
    ticket_count: int
    last_counted_number: int | None
    expected_cash: int
    closed_at: datetime | None
    closing: ClosingOut | None
    late_tickets: list[LateTicketOut] = Field(
        description="Tickets that reached the session after its close: in none of its figures"
    )
    deposit: DepositOut | None = Field(default=None, description="The bank deposit, once confirmed")
