"""The problem document every refusal of session-service is, for OpenAPI, and how a late ticket is answered.

The bodies themselves (what a till sends through pos-api, the session and Z report it is answered) are the
contracts' (`caisse_contracts.session_api`), shared with pos-api.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from caisse_contracts.session_api import LateTicketOut
from caisse_runtime.http import PROBLEM_JSON
from session_service.domain.totals import LateTicket


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


def late_ticket_out(t: LateTicket) -> dict[str, Any]:
    return {name: getattr(t, name) for name in LateTicketOut.model_fields}
