"""Ops routes of the bridge: where a session's tickets stand, what is dead-lettered, and replaying it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from caisse_runtime.http import ProblemError, bearer_only
from paheko_bridge.domain.pushes import missing_numbers
from paheko_bridge.service_layer.ports import PushRow
from paheko_bridge.service_layer.push import replay
from paheko_bridge.service_layer.services import BridgeServices


class NotKnownError(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, "Not found", detail)


async def services_of(request: Request) -> BridgeServices:
    services: BridgeServices = request.app.state.services
    return services


def _ops_token(request: Request) -> str | None:
    token: str | None = request.app.state.ops_token
    return token


Services = Annotated[BridgeServices, Depends(services_of)]
router = APIRouter(
    prefix="/v1/ops", tags=["ops"], dependencies=[Depends(bearer_only(_ops_token, whose="the bridge's ops"))]
)


class PushOut(BaseModel):
    ticket_id: UUID
    pos_id: UUID
    session_id: UUID
    number: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    received_at: datetime
    pushed_at: datetime | None

    @classmethod
    def of(cls, row: PushRow) -> PushOut:
        return cls(
            ticket_id=row.ticket_id,
            pos_id=row.pos_id,
            session_id=row.session_id,
            number=row.number,
            status=row.status.value,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            received_at=row.received_at,
            pushed_at=row.pushed_at,
        )


class SessionState(BaseModel):
    session_id: UUID
    close: str | None
    """waiting, synced, mismatch, rejected, booked; None while no close arrived."""
    waiting_for: list[int]
    last_error: str | None
    differences: list[dict[str, Any]]
    tickets: list[PushOut]
    deposit: str | None = None
    """The bank deposit: waiting, booked, rejected; None while none was confirmed."""
    deposit_error: str | None = None


@router.get(
    "/sessions/{session_id}",
    summary="A session's push state: each ticket, its close, what it waits for, its bank deposit",
)
async def session_state(session_id: UUID, services: Services) -> SessionState:
    async with services.uow() as work:
        rows = await work.pushes.of_session(session_id)
        close = await work.closes.get(session_id)
        deposit = await work.deposits.get(session_id)
    if not rows and close is None:
        raise NotKnownError(f"the bridge knows no session {session_id}")
    pushed = [r.number for r in rows if r.status.value == "pushed"]
    waiting = (
        missing_numbers(close.closed.first_ticket_number, close.closed.last_ticket_number, pushed) if close else []
    )
    return SessionState(
        session_id=session_id,
        close=close.status.value if close else None,
        waiting_for=waiting,
        last_error=close.last_error if close else None,
        differences=list(close.differences) if close else [],
        tickets=[PushOut.of(r) for r in rows],
        deposit=deposit.status.value if deposit else None,
        deposit_error=deposit.last_error if deposit else None,
    )


@router.get("/dead-letters", summary="Tickets Paheko refused, with the reason")
async def dead_letters(services: Services) -> list[PushOut]:
    async with services.uow() as work:
        return [PushOut.of(r) for r in await work.pushes.rejected_ones()]


class DeadLetter(BaseModel):
    push: PushOut
    ticket: dict[str, Any]


@router.get("/dead-letters/{ticket_id}", summary="One refused ticket: the reason and the ticket itself")
async def dead_letter(ticket_id: UUID, services: Services) -> DeadLetter:
    async with services.uow() as work:
        found = await work.pushes.get(ticket_id)
    if found is None or found[0].status.value != "rejected":
        raise NotKnownError(f"ticket {ticket_id} is not dead-lettered")
    return DeadLetter(push=PushOut.of(found[0]), ticket=found[1].model_dump(mode="json"))


class Replayed(BaseModel):
    replayed: int


@router.post("/dead-letters/{ticket_id}/replay", summary="Queue one refused ticket again")
async def replay_one(ticket_id: UUID, services: Services, request: Request) -> Replayed:
    count = await replay(ticket_id, services)
    if count == 0:
        raise NotKnownError(f"ticket {ticket_id} is not dead-lettered")
    request.app.state.wake()
    return Replayed(replayed=count)


@router.post("/dead-letters/replay", summary="Queue every refused ticket again")
async def replay_all(services: Services, request: Request) -> Replayed:
    count = await replay(None, services)
    request.app.state.wake()
    return Replayed(replayed=count)
