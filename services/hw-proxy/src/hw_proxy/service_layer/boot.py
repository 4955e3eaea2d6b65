"""The till's boot: its status from what it holds (enrolment, its place in the config cache, its open session), and
the check against pos-api that no number the till would use is already used centrally."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hw_proxy.domain.cash_session import LocalSession
from hw_proxy.domain.errors import NotReadyError
from hw_proxy.domain.till_status import Place, StatusView, TillStatus, number_clash, place_of, till_status
from hw_proxy.service_layer.ports import CentralApi, CentralRefusedError, CentralUnreachableError, TillStore
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TillView:
    """The till's status and what it rests on."""

    status: StatusView
    place: Place | None
    session: LocalSession | None
    last_number: int


async def till_view(store: TillStore, state: TillState) -> TillView:
    """The till's status now, from its store and its in-memory state."""
    credentials = state.identity.credentials
    place = place_of(await store.items(), credentials.serial) if credentials is not None else None
    session = await store.open_session()
    status = till_status(
        enrolled=credentials is not None,
        place_known=place is not None,
        number_clash=state.number_clash,
        session_open=session is not None,
        working=state.working,
    )
    return TillView(status, place, session, await store.last_number())


async def ready_to(store: TillStore, state: TillState, *allowed: TillStatus) -> TillView:
    """The till's view if its status is one of `allowed`; `NotReadyError` saying why otherwise."""
    view = await till_view(store, state)
    if view.status.status not in allowed:
        reason = view.status.reason or f"the till is {view.status.status.value}"
        raise NotReadyError(view.status.status.value, reason)
    return view


async def check_numbers(store: TillStore, central: CentralApi, state: TillState) -> None:
    """Ask pos-api the till's highest number it holds; a number above the till's own stops the selling (a till
    restored from an old backup would reuse numbers). Out of reach: the till boots offline, as it was."""
    try:
        central_last = await central.last_ticket_number()
    except (CentralUnreachableError, CentralRefusedError) as exc:
        log.warning("boot without pos-api (%s): the numbers are checked by pos-api when the sales are sent", exc)
        return
    state.number_clash = number_clash(central_last, await store.last_number())
    if state.number_clash is not None:
        log.error("%s", state.number_clash)
