"""The one place where pos-api's rule errors become RFC 9457 problem details: one row per kind of error."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from caisse_contracts.basket import BasketError
from caisse_runtime.http import InvalidParam, Problem, field_reason, install_problem_table
from pos_api.domain.errors import (
    BasketConflictError,
    ForbiddenError,
    ForeignSaleError,
    InUseError,
    InvalidReferenceError,
    NotFoundError,
    NumberingMovedError,
    OperatorLockedError,
    PosApiError,
    SeatsFullError,
    StaleVersionError,
    StockDocumentConflictError,
    StockRefusedError,
    StreamTokensNotConfiguredError,
    TicketInconsistentError,
    TicketNumberConflictError,
    UnauthenticatedError,
)

PROBLEMS: Final[dict[type[Exception], Problem]] = {
    TicketInconsistentError: Problem(
        422,
        "Ticket does not add up",
        "ticket-inconsistent",
        lambda e: [InvalidParam(p.field, p.reason) for p in e.problems],
    ),
    TicketNumberConflictError: Problem(
        409,
        "Ticket number already used",
        "ticket-number-conflict",
        lambda _: [InvalidParam("number", "already holds another ticket of this POS")],
        lambda e: {"existing_ticket_id": str(e.existing_ticket_id)},
    ),
    BasketConflictError: Problem(409, "Basket conflict", "basket-conflict", field_reason),
    SeatsFullError: Problem(
        409,
        "Event full",
        "event-full",
        lambda e: [InvalidParam(e.field, f"only {e.left} seat(s) left, {e.asked} asked")],
        lambda e: {"product_id": str(e.product_id), "seats_left": e.left},
    ),
    OperatorLockedError: Problem(
        429,
        "Operator locked",
        "operator-locked",
        lambda _: [InvalidParam("pin", "too many wrong PINs in a row")],
        lambda e: {"locked_until": e.until.isoformat()},
        {"Retry-After": "300"},
    ),
    UnauthenticatedError: Problem(401, "Not authenticated", "unauthenticated", headers={"WWW-Authenticate": "Bearer"}),
    ForbiddenError: Problem(403, "Forbidden", "forbidden"),
    NotFoundError: Problem(404, "Not found", "not-found"),
    NumberingMovedError: Problem(
        409,
        "Not the till's last number",
        "numbering-moved",
        lambda e: [InvalidParam("resume_after", str(e))],
        lambda e: {"central_last_number": e.central_last},
    ),
    StaleVersionError: Problem(
        409,
        "Stale version",
        "stale-version",
        lambda e: [InvalidParam("version", f"the current version is {e.current_version}")],
        lambda e: {"current_version": e.current_version},
    ),
    InvalidReferenceError: Problem(422, "Invalid reference", "invalid-reference", field_reason),
    InUseError: Problem(409, "Still in use", "in-use", field_reason),
    BasketError: Problem(422, "Basket refused", "basket-refused", field_reason),
    StockRefusedError: Problem(
        409,
        "Not enough stock",
        "stock-refused",
        lambda e: [
            InvalidParam(
                e.field,
                f"{e.product_name!r} has {e.level} in stock at this shop and cannot go below zero; {e.asked} asked",
            )
        ],
        lambda e: {"product_id": str(e.product_id), "product_name": e.product_name, "stock_level": e.level},
    ),
    StockDocumentConflictError: Problem(
        409,
        "Stock document id already used",
        "stock-document-conflict",
        lambda _: [InvalidParam("id", "already names another stock document of other content")],
    ),
    StreamTokensNotConfiguredError: Problem(503, "Stream tokens unavailable", "stream-tokens-not-configured"),
    ForeignSaleError: Problem(403, "Another till's sale", "foreign-sale", field_reason),
}


def install(app: FastAPI) -> None:
    install_problem_table(app, PROBLEMS, (PosApiError, BasketError))
