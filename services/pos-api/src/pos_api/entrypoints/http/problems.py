"""The one place where pos-api's rule errors become RFC 9457 problem details: one row per kind of error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

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


def _none(_: Any) -> list[InvalidParam]:
    return []


def _nothing(_: Any) -> dict[str, Any]:
    return {}


def _field_reason(exc: Any) -> list[InvalidParam]:
    return [InvalidParam(exc.field, exc.reason)]


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    title: str
    slug: str
    params: Callable[[Any], list[InvalidParam]] = _none
    members: Callable[[Any], dict[str, Any]] = _nothing
    headers: dict[str, str] = field(default_factory=dict)


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
    BasketConflictError: Problem(409, "Basket conflict", "basket-conflict", _field_reason),
    SeatsFullError: Problem(
        409,
        "Event full",
        "event-full",
        lambda e: [InvalidParam(e.field, "not enough seats left")],
        lambda e: {"product_id": str(e.product_id)},
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
    StaleVersionError: Problem(
        409,
        "Stale version",
        "stale-version",
        lambda e: [InvalidParam("version", f"the current version is {e.current_version}")],
        lambda e: {"current_version": e.current_version},
    ),
    InvalidReferenceError: Problem(422, "Invalid reference", "invalid-reference", _field_reason),
    BasketError: Problem(422, "Basket refused", "basket-refused", _field_reason),
}
REFUSED: Final = Problem(400, "Request refused", "refused")


def problem_for(exc: Exception, instance: str) -> JSONResponse:
    problem = next((p for kind, p in PROBLEMS.items() if isinstance(exc, kind)), REFUSED)
    response = problem_response(
        problem.status,
        problem.title,
        detail=str(exc),
        type_=TYPE_BASE + problem.slug,
        instance=instance,
        invalid_params=problem.params(exc),
        extra=problem.members(exc) or None,
    )
    response.headers.update(problem.headers)
    return response


def install(app: FastAPI) -> None:
    async def on_rule_error(request: Request, exc: Exception) -> JSONResponse:
        return problem_for(exc, request.url.path)

    app.add_exception_handler(PosApiError, on_rule_error)
    app.add_exception_handler(BasketError, on_rule_error)
