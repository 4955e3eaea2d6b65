"""The till's cash session, kept locally and queued for pos-api (`POST /v1/sync/sessions`): open with a counted
float, continue after a restart, cash moved in or out, close by counting every denomination. Each operation is
stored and queued in one transaction, with the till's id and time, so that its sync is a safe replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal
from uuid import UUID

from caisse_contracts.session_api import CloseOperationIn, CountIn, MovementOperationIn, OpenOperationIn
from hw_proxy.domain.cash_session import LocalSession, check_counts, counted
from hw_proxy.domain.errors import FieldError, NotReadyError
from hw_proxy.domain.login import Cashier
from hw_proxy.domain.printing import NewPrintJob
from hw_proxy.domain.till_status import TillStatus
from hw_proxy.service_layer.boot import ready_to
from hw_proxy.service_layer.ports import TillStore
from hw_proxy.service_layer.till_state import TillState

NewId = Callable[[], UUID]


def _cashier(state: TillState) -> Cashier:
    if state.cashier is None:
        raise NotReadyError("no-cashier", "no cashier is logged in on this till")
    return state.cashier


async def open_session(
    store: TillStore, state: TillState, float_counts: list[CountIn], *, now: datetime, new_id: NewId
) -> LocalSession:
    """Open a session with its counted float (READY_OPEN → WORKING); its first ticket is the till's next number."""
    view = await ready_to(store, state, TillStatus.READY_OPEN)
    assert view.place is not None  # noqa: S101 (a till past BOOTING knows its place)
    cashier = _cashier(state)
    check_counts(float_counts, [d.value for d in view.place.territory.denominations], "float_counts")
    operation = OpenOperationIn(
        op="open",
        session_id=new_id(),
        operator_ids=[cashier.operator_id],
        float_counts=float_counts,
        opened_at=now,
        first_ticket_number=view.last_number + 1,
    )
    session = await store.record_open(operation, now)
    state.working = True
    return session


async def continue_session(store: TillStore, state: TillState) -> LocalSession:
    """Take up the session left open (READY_CONTINUE → WORKING), after a restart."""
    view = await ready_to(store, state, TillStatus.READY_CONTINUE)
    _cashier(state)
    assert view.session is not None  # noqa: S101 (READY_CONTINUE is an open session)
    state.working = True
    return view.session


async def move_cash(
    store: TillStore,
    state: TillState,
    kind: Literal["withdrawal", "addition"],
    amount: int,
    reason: str,
    *,
    now: datetime,
    new_id: NewId,
) -> MovementOperationIn:
    """Cash taken out of or put into the drawer during the session; the drawer opens for it (its print job is
    stored with the movement, in one transaction)."""
    view = await ready_to(store, state, TillStatus.WORKING)
    assert view.session is not None  # noqa: S101 (WORKING is an open session)
    if amount <= 0:
        raise FieldError("amount", "must be more than 0")
    if not reason.strip():
        raise FieldError("reason", "says why the cash moved")
    operation = MovementOperationIn(
        op="movement",
        movement_id=new_id(),
        session_id=view.session.session_id,
        kind=kind,
        amount=amount,
        reason=reason,
        operator_id=_cashier(state).operator_id,
        occurred_at=now,
    )
    await store.record_movement(operation, now, NewPrintJob("drawer", str(operation.movement_id), ""))
    return operation


async def close_session(
    store: TillStore,
    state: TillState,
    counts: list[CountIn],
    *,
    float_kept: list[CountIn],
    comment: str | None,
    card_terminal_total: int | None,
    now: datetime,
) -> CloseOperationIn:
    """Close the session by counting every denomination (WORKING → READY_OPEN); the last ticket is the till's."""
    view = await ready_to(store, state, TillStatus.WORKING)
    assert view.session is not None  # noqa: S101 (WORKING is an open session)
    assert view.place is not None  # noqa: S101 (a till past BOOTING knows its place)
    denominations = [d.value for d in view.place.territory.denominations]
    check_counts(counts, denominations, "counts")
    check_counts(float_kept, denominations, "float_kept")
    if counted(float_kept) > counted(counts):
        raise FieldError("float_kept", "keeps more cash than was counted")
    session = view.session
    last = view.last_number if view.last_number >= session.first_ticket_number else None
    operation = CloseOperationIn(
        op="close",
        session_id=session.session_id,
        closed_by=_cashier(state).operator_id,
        last_ticket_number=last,
        counts=counts,
        float_kept=float_kept,
        card_terminal_total=card_terminal_total,
        comment=comment,
        closed_at=now,
    )
    closing = {"counted_cash": counted(counts), "float_kept": counted(float_kept), "last_ticket_number": last}
    await store.record_close(operation, closing, now)
    state.working = False
    return operation
