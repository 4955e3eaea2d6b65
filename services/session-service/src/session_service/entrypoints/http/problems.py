"""The one place where session-service's rule errors become RFC 9457 problem details: one row per kind of error."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI

from caisse_runtime.http import PROBLEM_JSON, InvalidParam, Problem, field_reason, install_problem_table
from session_service.domain.errors import (
    CommentRequiredError,
    ConfigurationMissingError,
    DepositAlreadyConfirmedError,
    ForbiddenError,
    InvalidFieldError,
    ReplayConflictError,
    SessionAlreadyOpenError,
    SessionNotClosedError,
    SessionNotFoundError,
    SessionNotOpenError,
    SessionServiceError,
    TicketsMissingError,
    UnauthenticatedError,
    UnknownReferenceError,
    describe_ranges,
)

PROBLEMS: Final[dict[type[Exception], Problem]] = {
    UnknownReferenceError: Problem(422, "Unknown reference", "unknown-reference", field_reason),
    InvalidFieldError: Problem(422, "Invalid field", "invalid-field", field_reason),
    CommentRequiredError: Problem(
        422,
        "Comment required",
        "comment-required",
        lambda e: [InvalidParam("comment", f"required when the variance ({e.variance}) is beyond ±{e.threshold}")],
        lambda e: {"variance": e.variance, "threshold": e.threshold},
    ),
    UnauthenticatedError: Problem(401, "Not authenticated", "unauthenticated", headers={"WWW-Authenticate": "Bearer"}),
    ForbiddenError: Problem(403, "Forbidden", "forbidden"),
    SessionNotFoundError: Problem(404, "Session not found", "session-not-found"),
    ReplayConflictError: Problem(409, "Recorded before with other content", "replay-conflict", field_reason),
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
    SessionNotClosedError: Problem(
        409,
        "Session not closed",
        "session-not-closed",
        lambda e: [InvalidParam("session_id", f"the session is {e.status}: it is deposited once closed")],
        lambda e: {"session_id": str(e.session_id), "session_status": e.status},
    ),
    DepositAlreadyConfirmedError: Problem(
        409,
        "Deposit already confirmed",
        "deposit-already-confirmed",
        lambda e: [
            InvalidParam(
                "reference", f"the deposit was confirmed as slip {e.reference} of {e.deposited_on.isoformat()}"
            )
        ],
        lambda e: {"session_id": str(e.session_id), "reference": e.reference},
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


def install(app: FastAPI) -> None:
    install_problem_table(app, PROBLEMS, (SessionServiceError,))
    document_problems_as_problem_json(app)


def document_problems_as_problem_json(app: FastAPI) -> None:
    """FastAPI documents a `responses=` model under the route's own media type: every refusal is served as
    application/problem+json, so the OpenAPI document says so."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for methods in document.get("paths", {}).values():
            for operation in methods.values():
                for code, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if code[0] not in "45" or "application/json" not in content:
                        continue
                    if PROBLEM_JSON in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
                    elif code == "422":  # FastAPI's own validation answer, which the problem handlers render
                        content.pop("application/json")
                        content[PROBLEM_JSON] = {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
