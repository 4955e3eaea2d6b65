"""The offline sync of a till's cash sessions: the opens, cash movements and closes it queued while pos-api was out
of reach, sent in the order they happened, each forwarded to session-service as the till's own routes forward them.

Each operation carries an id of the till's making (the session's, the movement's, the session's for its close) and
the till's time, so that session-service keeps the day as it happened and a replay changes nothing. Each is
answered on its own: `created`, `already_exists` (the same again: what was recorded), `conflict` (its id was
recorded with other content: the first stays, the problem names the field) or `failed` (refused, naming the field;
nothing written). One refused operation never stops the others; an operation that needed it fails in turn, saying
why (a movement of a session whose open failed is a session not found).

A close does not wait here for its tickets: the till sends its sales afterwards (`POST /v1/tickets` or the sales
sync), and the session, `closing` meanwhile, closes on its own at the till's time once the last one is in. pos-api
records each open and close in its read model as its own session routes do.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from fastapi import APIRouter, Response

from caisse_contracts.session_api import (
    SYNC_SESSIONS_MAX,
    CloseOperationIn,
    MovementOperationIn,
    OpenOperationIn,
    SessionOperationOut,
    SessionOut,
    SessionSyncIn,
    SessionSyncOut,
    SyncOutcome,
    SyncProblemOut,
)
from caisse_runtime.http import PROBLEM_JSON, ProblemError
from pos_api.domain.till import Device
from pos_api.entrypoints.http.deps import CurrentDevice, CurrentServices, CurrentSessionService
from pos_api.entrypoints.http.routes.sessions import CLOSE_REFUSED, forward_open, till_headers
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy
from pos_api.service_layer.cash_sessions import (
    begin_close,
    close_refused,
    last_ticket_to_close,
    note_session_closed,
)
from pos_api.service_layer.services import Services

router = APIRouter(prefix="/v1/sync/sessions", tags=["till"])

ANSWERED: Final = frozenset({200, 201, 202})
REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    413: {"content": {PROBLEM_JSON: {}}, "description": f"More than {SYNC_SESSIONS_MAX} operations: nothing sent"},
}


@router.post(
    "",
    summary="Sync the session operations the till queued offline (open, cash movements, close), in order",
    response_model=SessionSyncOut,
    responses=REFUSALS,
)
async def sync_sessions(
    body: SessionSyncIn,
    session_service: CurrentSessionService,
    device: CurrentDevice,
    services: CurrentServices,
) -> SessionSyncOut:
    """Forward each operation to session-service in order; one answer each. Once session-service cannot be reached,
    the operations left are answered `failed` (503) without being sent: the till sends them again later."""
    if len(body.operations) > SYNC_SESSIONS_MAX:
        raise ProblemError(
            413,
            "Too many operations",
            detail=f"{len(body.operations)} operations; at most {SYNC_SESSIONS_MAX} in one sync",
        )
    results: list[SessionOperationOut] = []
    unreachable: ProblemError | None = None
    for index, operation in enumerate(body.operations):
        if unreachable is None:
            try:
                results.append(await _sync_one(index, operation, session_service, device, services))
                continue
            except ProblemError as exc:
                if exc.status != 503:
                    raise
                unreachable = exc
        results.append(_unsent(index, operation, unreachable))
    counts: dict[SyncOutcome, int] = {"created": 0, "already_exists": 0, "conflict": 0, "failed": 0}
    for result in results:
        counts[result.outcome] += 1
    return SessionSyncOut(results=results, counts=counts)


async def _sync_one(
    index: int,
    operation: OpenOperationIn | MovementOperationIn | CloseOperationIn,
    session_service: SessionServiceProxy,
    device: Device,
    services: Services,
) -> SessionOperationOut:
    headers = till_headers(device)
    if isinstance(operation, OpenOperationIn):
        answer = await forward_open(
            device, operation.model_dump(mode="json", exclude={"op"}), session_service, services
        )
        return _answered(index, operation, operation.session_id, answer)
    if isinstance(operation, MovementOperationIn):
        sent = operation.model_dump(mode="json", exclude={"op", "session_id"})
        path = f"/v1/sessions/{operation.session_id}/movements"
        answer = await session_service.forward("POST", path, headers, json=sent)
        return _answered(index, operation, operation.movement_id, answer)
    sent = operation.model_dump(mode="json", exclude={"op", "session_id"})
    mark = await begin_close(device, operation.session_id, operation.last_ticket_number, services)
    sent["last_ticket_number"] = last_ticket_to_close(operation.last_ticket_number, mark)
    path = f"/v1/sessions/{operation.session_id}/close?wait=false"
    answer = await session_service.forward("POST", path, headers, json=sent)
    if answer.status_code in ANSWERED:
        closed = json.loads(bytes(answer.body))
        if closed["status"] == "closed":
            await note_session_closed(
                device,
                operation.session_id,
                datetime.fromisoformat(closed["closed_at"]),
                closed["closing"]["last_ticket_number"],
                services,
            )
    elif answer.status_code in CLOSE_REFUSED:
        await close_refused(device, operation.session_id, mark, services)
    return _answered(index, operation, operation.session_id, answer)


def _answered(
    index: int,
    operation: OpenOperationIn | MovementOperationIn | CloseOperationIn,
    operation_id: UUID,
    answer: Response,
) -> SessionOperationOut:
    """The operation's outcome from session-service's answer (`X-Session-Outcome` says whether it was new)."""
    body = _json_of(answer)
    status = answer.status_code
    keys = {"index": index, "op": operation.op, "id": operation_id, "session_id": operation.session_id}
    if status in ANSWERED:
        outcome: SyncOutcome = "created" if answer.headers.get("x-session-outcome") == "created" else "already_exists"
        return SessionOperationOut(**keys, outcome=outcome, status=status, session=SessionOut.model_validate(body))
    conflict = status == 409 and str(body.get("type", "")).endswith("/replay-conflict")
    problem = SyncProblemOut.model_validate(
        {"type": "about:blank", "title": "Refused by session-service", "status": status, **body}
    )
    return SessionOperationOut(**keys, outcome="conflict" if conflict else "failed", status=status, problem=problem)


def _json_of(answer: Response) -> dict[str, Any]:
    """The answer's JSON object; an empty one when it has none (a bare 500)."""
    try:
        body = json.loads(bytes(answer.body))
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _unsent(
    index: int, operation: OpenOperationIn | MovementOperationIn | CloseOperationIn, unreachable: ProblemError
) -> SessionOperationOut:
    operation_id = operation.movement_id if isinstance(operation, MovementOperationIn) else operation.session_id
    return SessionOperationOut(
        index=index,
        op=operation.op,
        id=operation_id,
        session_id=operation.session_id,
        outcome="failed",
        status=unreachable.status,
        problem=SyncProblemOut(
            type="about:blank", title=unreachable.title, status=unreachable.status, detail=unreachable.detail
        ),
    )
