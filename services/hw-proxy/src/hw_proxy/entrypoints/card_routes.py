"""The till's local HTTP API for card payments on the POS's terminal: pay a basket, refund a sale, and read, confirm
or void what the terminal left pending.

`POST /v1/baskets/{basket_id}/card-payments` and `POST /v1/sales/{ticket_id}/card-refunds` answer when the terminal
has answered (up to its client timeout): 201 with where the operation stands (`approved`, `declined` with the
reason in the cashier's words, or `pending` when the till cannot know), 200 with the same operation for a retry of
the same `operation_id` (the terminal is never called twice).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from caisse_runtime.http import PROBLEM_JSON
from hw_proxy.domain.card_payments import MESSAGES, CardCode, CardStatus
from hw_proxy.service_layer.card_payments import (
    CardView,
    card_view,
    confirm_card_operation,
    pay_by_card,
    read_card_operation,
    refund_by_card,
    void_card_operation,
)
from hw_proxy.service_layer.ports import CardTerminal, Clock, TillStore
from hw_proxy.service_layer.till_state import TillState

PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


class CardOperationIn(BaseModel):
    """A card payment or refund to make on the terminal."""

    model_config = ConfigDict(extra="forbid")

    operation_id: UUID = Field(
        description="Chosen by the web app, the idempotency id: a retry with the same id is the same operation and "
        "never calls the terminal again. An approved payment goes into the basket with this id as its payment_id."
    )
    amount: StrictInt = Field(gt=0, le=999_999_999_999, description="Minor units of the territory's currency.")


class ConfirmIn(BaseModel):
    """The cashier's word, from the terminal's slip, that a pending operation went through."""

    model_config = ConfigDict(extra="forbid")

    authorisation_number: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")] | None = Field(
        default=None, description="The authorisation printed on the terminal's slip."
    )


class CardOperationOut(BaseModel):
    """A card operation and where it stands, with the reason in the cashier's words."""

    operation_id: UUID
    kind: Literal["payment", "refund"]
    basket_id: UUID | None
    ticket_id: UUID | None = Field(description="The sale a refund gives money back for.")
    amount: StrictInt
    currency: str
    status: CardStatus = Field(
        description="approved (the terminal's AE=10, or the cashier's confirm), declined, voided, or pending: the "
        "till does not know what the terminal did (no answer, or the till stopped meanwhile) and the cashier must "
        "confirm or void it from the terminal's slip."
    )
    code: CardCode = Field(description="Why it stands so: a stable code for the web app.")
    message: str = Field(description="The same, in the cashier's words (French).")
    with_terminal: bool = Field(description="The terminal is being asked right now.")
    authorisation_number: str | None
    masked_pan: str | None
    contactless: bool | None
    slip_text: str | None = Field(description="The card slip, printed with the receipt.")
    confirmed_by_cashier: bool
    basket_version: StrictInt | None = Field(
        description="The basket's version once an approved payment went into it (read it again)."
    )
    created_at: AwareDatetime
    done_at: AwareDatetime | None


def operation_out(view: CardView) -> CardOperationOut:
    op = view.operation
    return CardOperationOut(
        operation_id=op.operation_id,
        kind=op.kind,
        basket_id=op.basket_id,
        ticket_id=op.ticket_id,
        amount=op.amount,
        currency=op.currency,
        status=op.status,
        code=view.code,
        message=MESSAGES[view.code],
        with_terminal=view.with_terminal,
        authorisation_number=op.authorisation,
        masked_pan=op.masked_pan,
        contactless=op.contactless,
        slip_text=op.slip_text,
        confirmed_by_cashier=op.confirmed_by_cashier,
        basket_version=view.basket_version,
        created_at=op.created_at,
        done_at=op.done_at,
    )


def card_routes(store: TillStore, terminal: CardTerminal, state: TillState, *, clock: Clock) -> APIRouter:
    """The card routes over the till's store, its terminal and its in-memory state."""
    router = APIRouter(prefix="/v1", tags=["card"])
    made: dict[int | str, dict[str, Any]] = {
        200: {"model": CardOperationOut, "description": "Asked before: the same operation, as it stands"}
    }

    @router.post(
        "/baskets/{basket_id}/card-payments",
        status_code=201,
        summary="Pay (part of) an open basket by card on the terminal; approved, it goes into the basket",
        responses={**made, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    async def post_card_payment(basket_id: UUID, body: CardOperationIn, response: Response) -> CardOperationOut:
        view = await pay_by_card(store, terminal, state, basket_id, body.operation_id, body.amount, clock=clock)
        if view.replayed:
            response.status_code = 200
        return operation_out(view)

    @router.post(
        "/sales/{ticket_id}/card-refunds",
        status_code=201,
        summary="Give money back to a card on the terminal for a sale of this till (for its credit note)",
        responses={**made, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    async def post_card_refund(ticket_id: UUID, body: CardOperationIn, response: Response) -> CardOperationOut:
        view = await refund_by_card(store, terminal, state, ticket_id, body.operation_id, body.amount, clock=clock)
        if view.replayed:
            response.status_code = 200
        return operation_out(view)

    @router.get("/card-operations", summary="The card operations, oldest first (`status=pending`: what to settle)")
    async def list_card_operations(
        status: Annotated[CardStatus | None, Query()] = None,
        basket_id: Annotated[UUID | None, Query()] = None,
        ticket_id: Annotated[UUID | None, Query()] = None,
    ) -> list[CardOperationOut]:
        found = await store.card_operations(status=status, basket_id=basket_id, ticket_id=ticket_id)
        return [operation_out(card_view(op, state)) for op in found]

    @router.get("/card-operations/{operation_id}", summary="One card operation", responses={404: PROBLEM})
    async def get_card_operation(operation_id: UUID) -> CardOperationOut:
        return operation_out(await read_card_operation(store, state, operation_id))

    @router.post(
        "/card-operations/{operation_id}/confirm",
        summary="The terminal's slip says a pending operation went through: approve it",
        responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    async def post_confirm(operation_id: UUID, body: ConfirmIn) -> CardOperationOut:
        view = await confirm_card_operation(store, state, operation_id, body.authorisation_number, clock=clock)
        return operation_out(view)

    @router.post(
        "/card-operations/{operation_id}/void",
        summary="The terminal's slip says a pending operation did not go through: void it",
        responses={404: PROBLEM, 409: PROBLEM},
    )
    async def post_void(operation_id: UUID) -> CardOperationOut:
        return operation_out(await void_card_operation(store, state, operation_id, clock=clock))

    return router
