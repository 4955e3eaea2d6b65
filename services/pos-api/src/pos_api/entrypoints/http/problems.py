"""The one place where pos-api's rule errors become RFC 9457 problem details."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from caisse_contracts.basket import BasketError
from caisse_contracts.runtime.http import InvalidParam, problem_response
from pos_api.domain.errors import (
    BasketConflictError,
    ForbiddenError,
    InvalidReferenceError,
    NotFoundError,
    OperatorLockedError,
    PosApiError,
    SeatsFullError,
    StaleVersionError,
    TicketInconsistentError,
    TicketNumberConflictError,
    UnauthenticatedError,
)

TYPE_BASE = "https://caisse.example/problems/"


def problem_for(exc: PosApiError, instance: str) -> JSONResponse:
    if isinstance(exc, TicketInconsistentError):
        return problem_response(
            422,
            "Ticket does not add up",
            detail=str(exc),
            type_=TYPE_BASE + "ticket-inconsistent",
            instance=instance,
            invalid_params=[InvalidParam(p.field, p.reason) for p in exc.problems],
        )
    if isinstance(exc, TicketNumberConflictError):
        return problem_response(
            409,
            "Ticket number already used",
            detail=str(exc),
            type_=TYPE_BASE + "ticket-number-conflict",
            instance=instance,
            invalid_params=[InvalidParam("number", "already holds another ticket of this POS")],
            extra={"existing_ticket_id": str(exc.existing_ticket_id)},
        )
    if isinstance(exc, BasketConflictError):
        return problem_response(
            409,
            "Basket conflict",
            detail=str(exc),
            type_=TYPE_BASE + "basket-conflict",
            instance=instance,
            invalid_params=[InvalidParam(exc.field, exc.reason)],
        )
    if isinstance(exc, SeatsFullError):
        return problem_response(
            409,
            "Event full",
            detail=str(exc),
            type_=TYPE_BASE + "event-full",
            instance=instance,
            invalid_params=[InvalidParam(exc.field, "not enough seats left")],
            extra={"product_id": str(exc.product_id)},
        )
    if isinstance(exc, OperatorLockedError):
        response = problem_response(
            429,
            "Operator locked",
            detail=str(exc),
            type_=TYPE_BASE + "operator-locked",
            instance=instance,
            invalid_params=[InvalidParam("pin", "too many wrong PINs in a row")],
            extra={"locked_until": exc.until.isoformat()},
        )
        response.headers["Retry-After"] = "300"
        return response
    if isinstance(exc, UnauthenticatedError):
        response = problem_response(
            401, "Not authenticated", detail=str(exc), type_=TYPE_BASE + "unauthenticated", instance=instance
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if isinstance(exc, ForbiddenError):
        return problem_response(403, "Forbidden", detail=str(exc), type_=TYPE_BASE + "forbidden", instance=instance)
    if isinstance(exc, NotFoundError):
        return problem_response(404, "Not found", detail=str(exc), type_=TYPE_BASE + "not-found", instance=instance)
    if isinstance(exc, StaleVersionError):
        return problem_response(
            409,
            "Stale version",
            detail=str(exc),
            type_=TYPE_BASE + "stale-version",
            instance=instance,
            invalid_params=[InvalidParam("version", f"the current version is {exc.current_version}")],
            extra={"current_version": exc.current_version},
        )
    if isinstance(exc, InvalidReferenceError):
        return problem_response(
            422,
            "Invalid reference",
            detail=str(exc),
            type_=TYPE_BASE + "invalid-reference",
            instance=instance,
            invalid_params=[InvalidParam(exc.field, exc.reason)],
        )
    return problem_response(400, "Request refused", detail=str(exc), instance=instance)


def install(app: FastAPI) -> None:
    @app.exception_handler(PosApiError)
    async def on_rule_error(request: Request, exc: PosApiError) -> JSONResponse:
        return problem_for(exc, request.url.path)

    @app.exception_handler(BasketError)
    async def on_basket_error(request: Request, exc: BasketError) -> JSONResponse:
        return problem_response(
            422,
            "Basket refused",
            detail=str(exc),
            type_=TYPE_BASE + "basket-refused",
            instance=request.url.path,
            invalid_params=[InvalidParam(exc.field, exc.reason)],
        )
