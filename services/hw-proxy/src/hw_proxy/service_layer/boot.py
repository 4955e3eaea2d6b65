"""The till's boot: its status from what it holds (enrolment, its place in the config cache, its open session), and
the check against pos-api that no number the till would use is already used centrally."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hw_proxy.domain.cash_session import LocalSession
from hw_proxy.domain.errors import NotReadyError
from hw_proxy.domain.till_status import (
    Place,
    StatusView,
    TillStatus,
    number_clash,
    released_after,
    till_status,
)
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
    place = state.views.place(await store.items(), credentials.serial) if credentials is not None else None
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


async def check_numbers(store: TillStore, central: CentralApi, state: TillState) -> bool:
    """Ask pos-api the till's highest number it holds; a number above the till's own stops the selling (a till
    restored from an old backup would reuse numbers) until ops release the till to resume after pos-api's last
    number, which the till then takes as its own. Out of reach: the till goes on as it was (at boot: offline, as it
    was). Returns whether pos-api answered."""
    try:
        numbering = await central.numbering()
    except (CentralUnreachableError, CentralRefusedError) as exc:
        log.warning("pos-api out of reach (%s): the numbers are checked by pos-api when the sales are sent", exc)
        return False
    central_last = numbering.last_ticket_number
    local_last = await store.last_number()
    clash = number_clash(central_last, local_last)
    release = numbering.release
    resume_after = released_after(central_last, release.resume_after if release else None)
    if clash is not None and release is not None and resume_after is not None:
        local_last = await store.resume_numbering(resume_after)
        log.warning(
            "ops released the till's numbering on %s (%s): it resumes after number %d",
            release.released_at.isoformat(),
            release.reason,
            local_last,
        )
        clash = number_clash(central_last, local_last)
    if clash is not None and clash != state.number_clash:
        log.error("%s", clash)
    state.number_clash = clash
    return True
