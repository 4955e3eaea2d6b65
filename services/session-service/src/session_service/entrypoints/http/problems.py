"""The one place where session-service's rule errors become RFC 9457 problem details: one row per kind of error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from caisse_contracts.runtime.http import InvalidParam, problem_response
from session_service.domain.errors import (
    CommentRequiredError,
    ConfigurationMissingError,
    InvalidFieldError,
    SessionAlreadyOpenError,
    SessionNotFoundError,
    SessionNotOpenError,
    SessionServiceError,
    TicketsMissingError,
    UnknownReferenceError,
    describe_ranges,
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
    UnknownReferenceError: Problem(422, "Unknown reference", "unknown-reference", _field_reason),
    InvalidFieldError: Problem(422, "Invalid field", "invalid-field", _field_reason),
    CommentRequiredError: Problem(
        422,
        "Comment required",
        "comment-required",
        lambda e: [InvalidParam("comment", f"required when the variance ({e.variance}) is beyond ±{e.threshold}")],
        lambda e: {"variance": e.variance, "threshold": e.threshold},
    ),
    SessionNotFoundError: Problem(404, "Session not found", "session-not-found"),
    SessionAlreadyOpenError: Problem(
        409,
        "A session is already open",
        "session-already-open",
        lambda e: [InvalidParam("pos_id", f"already has the open session {e.session_id}")],
        lambda e: {"session_id": str(e.session_id)},
    ),
    SessionNotOpenError: Problem(
        409,
        "Session not open",
        "session-not-open",
        lambda e: [InvalidParam("session_id", f"the session is {e.status}")],
        lambda e: {"session_id": str(e.session_id), "session_status": e.status},
    ),
    TicketsMissingError: Problem(
        409,
        "Tickets missing",
        "tickets-missing",
        lambda e: [
            InvalidParam("last_ticket_number", f"tickets {describe_ranges(e.missing)} have not reached the session")
        ],
        lambda e: {
            "session_status": "closing",
            "status_text": str(e),
            "waiting_for": [list(r) for r in e.missing],
            "waited_s": round(e.waited_s, 1),
        },
        {"Retry-After": "5"},
    ),
    ConfigurationMissingError: Problem(
        503,
        "Configuration not received",
        "configuration-missing",
        lambda e: [InvalidParam("pos_id", str(e))],
        lambda e: {"entity": e.what, "entity_id": str(e.id)},
        {"Retry-After": "2"},
    ),
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

    app.add_exception_handler(SessionServiceError, on_rule_error)
