"""The one place where the till agent's rule errors become RFC 9457 problem details, naming the field and why."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from caisse_runtime.http import InvalidParam, Problem, field_reason, install_problem_table
from hw_proxy.domain.errors import (
    BasketRefusedError,
    CardOperationConflictError,
    CreditNoteConflictError,
    FieldError,
    HwProxyError,
    LoginRefusedError,
    NotFoundError,
    NotReadyError,
    OperatorLockedError,
    PosApiUnreachableError,
    PrintJobPrintedError,
    StaleBasketError,
)

PROBLEMS: Final[dict[type[Exception], Problem]] = {
    BasketRefusedError: Problem(
        422, "Basket refused", "basket-refused", lambda e: [InvalidParam(f, r) for f, r in e.problems]
    ),
    CreditNoteConflictError: Problem(
        409, "Credit note conflict", "credit-note-conflict", lambda e: [InvalidParam(f, r) for f, r in e.problems]
    ),
    FieldError: Problem(422, "Invalid value", "invalid-value", field_reason),
    NotReadyError: Problem(
        409, "Not now", "till-not-ready", lambda _: [], lambda e: {"till_status": e.status, "reason": e.reason}
    ),
    NotFoundError: Problem(404, "Not found", "not-found"),
    CardOperationConflictError: Problem(
        409,
        "Card operation not possible now",
        "card-operation-conflict",
        lambda _: [],
        lambda e: {"reason": e.reason, "operation_id": str(e.operation_id) if e.operation_id else None},
    ),
    LoginRefusedError: Problem(401, "Login refused", "login-refused", lambda _: [InvalidParam("pin", "refused")]),
    OperatorLockedError: Problem(
        429,
        "Operator locked",
        "operator-locked",
        lambda _: [InvalidParam("pin", "too many wrong PINs in a row")],
        lambda e: {"locked_until": e.until.isoformat()},
    ),
    PrintJobPrintedError: Problem(
        409, "Printed already", "print-job-printed", lambda _: [], lambda e: {"job_id": e.job_id}
    ),
    PosApiUnreachableError: Problem(503, "pos-api out of reach", "pos-api-unreachable"),
    StaleBasketError: Problem(
        409,
        "Stale version",
        "stale-version",
        lambda _: [InvalidParam("version", "is not the basket's latest")],
        lambda e: {"current_version": e.current},
    ),
}


def install_problems(app: FastAPI) -> None:
    install_problem_table(app, PROBLEMS, [HwProxyError])
