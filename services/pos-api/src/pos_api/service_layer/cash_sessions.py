"""Use cases of a till's cash session as pos-api sees them: what session-service needs to know from pos-api
(the POS's next ticket number, the last ticket of the session it closes), what pos-api refuses before forwarding
(a close with a basket still open), what pos-api records at once of session-service's answers, and the same
record kept from session-service's events (`session.opened`, `session.closed`), which change nothing when the
answer was recorded first.

A close is marked in pos-api's own database before it is forwarded: from then on no sale enters the session, on
any process (finalize's guarded write refuses a session that is not open). session-service's answer then
settles it: closed, or still closing (waiting for tickets, or not reached), or refused (open again)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from caisse_contracts.events import SessionClosedV1, SessionOpenedV1
from pos_api.domain.errors import BasketConflictError
from pos_api.domain.till import Device
from pos_api.service_layer.ports import ClosingMark, UnitOfWorkFactory
from pos_api.service_layer.services import Services


async def next_ticket_number(device: Device, services: Services) -> int:
    """The number the till's next ticket carries, as pos-api has received them: a new session starts there."""
    async with services.uow() as work:
        last = await work.tickets.last_number(device.pos_id)
    return (last or 0) + 1


async def note_session_opened(
    device: Device, session_id: UUID, opened_at: datetime, services: Services, *, status: str = "open"
) -> None:
    """Record at once the session that session-service just opened (or continued) for this till, so the till's
    first sale is not refused while `session.opened` is on its way; the event, when it comes, finds it there and
    changes nothing. A session pos-api holds as closing is open again only if session-service says it is open
    (a close that never reached it)."""
    async with services.uow() as work:
        await work.sessions.opened(device.pos_id, session_id, opened_at)
        if status == "open":
            await work.sessions.reopen(device.pos_id, session_id)
        await work.commit()


async def begin_close(device: Device, session_id: UUID, declared: object, services: Services) -> ClosingMark | None:
    """Mark the till's session closing before its close is forwarded: from now on it takes only the tickets the
    close waits for (up to the till's `declared` last number, sold before the close and still on their way), on
    any process. The mark's number includes a sale being written meanwhile."""
    number = declared if isinstance(declared, int) and not isinstance(declared, bool) else None
    async with services.uow() as work:
        mark = await work.sessions.mark_closing(device.pos_id, session_id, number)
        await work.commit()
    services.sales.forget(device.pos_id)
    return mark


def last_ticket_to_close(declared: object, mark: ClosingMark | None) -> object:
    """The last ticket number the close waits for: the till's, or a higher one pos-api holds in the session (a sale
    the till sent as it closed), so that the Z report counts every ticket of the session. A number that is not
    one goes as it is, for session-service to refuse."""
    if mark is None or mark.last_number is None:
        return declared
    if declared is None or (isinstance(declared, int) and not isinstance(declared, bool)):
        return mark.last_number
    return declared


async def close_refused(device: Device, session_id: UUID, mark: ClosingMark | None, services: Services) -> None:
    """session-service refused the close and left the session open: the till sells in it again."""
    if mark is None or not mark.was_open:
        return
    async with services.uow() as work:
        await work.sessions.reopen(device.pos_id, session_id)
        await work.commit()


async def note_session_closed(
    device: Device, session_id: UUID, closed_at: datetime, last_ticket_number: int | None, services: Services
) -> None:
    """Record at once the close session-service just acknowledged; `session.closed`, when it comes, changes nothing."""
    async with services.uow() as work:
        await work.sessions.closed(device.pos_id, session_id, closed_at, last_ticket_number)
        await work.commit()


async def refuse_close_with_open_basket(device: Device, services: Services) -> None:
    """A till closes only once its basket is finalized or emptied: a basket with lines is a sale in progress."""
    async with services.uow() as work:
        basket = await work.baskets.open_of_pos(device.pos_id)
    if basket is not None and (basket.content.lines or basket.content.payments):
        raise BasketConflictError(
            "basket",
            f"basket {basket.id} is still open with {len(basket.content.lines)} line(s): finalize or empty it first",
        )


async def session_opened(event: SessionOpenedV1, *, event_id: UUID, uow: UnitOfWorkFactory) -> bool:
    """`session.opened`, once: the till's session is open in pos-api's read model. False: a duplicate."""
    async with uow() as work:
        if not await work.inbox.claim(event_id, event.EVENT_TYPE):
            return False
        await work.sessions.opened(event.pos_id, event.session_id, event.opened_at)
        await work.commit()
    return True


async def session_closed(event: SessionClosedV1, *, event_id: UUID, uow: UnitOfWorkFactory) -> bool:
    """`session.closed`, once: the till's session is closed in pos-api's read model. False: a duplicate."""
    async with uow() as work:
        if not await work.inbox.claim(event_id, event.EVENT_TYPE):
            return False
        await work.sessions.closed(event.pos_id, event.session_id, event.closed_at, event.last_ticket_number)
        await work.commit()
    return True
