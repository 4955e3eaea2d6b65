"""Use cases of a till's cash session as pos-api sees them: what session-service needs to know from pos-api
(the POS's next ticket number) and what pos-api refuses before forwarding (a close with a basket still open)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pos_api.domain.errors import BasketConflictError
from pos_api.service_layer.config import ConfigServices
from pos_api.service_layer.till import Device


async def next_ticket_number(device: Device, services: ConfigServices) -> int:
    """The number the till's next ticket carries, as pos-api has received them: a new session starts there."""
    async with services.uow() as work:
        last = await work.tickets.last_number(device.pos_id)
    return (last or 0) + 1


async def note_session_opened(device: Device, session_id: UUID, opened_at: datetime, services: ConfigServices) -> None:
    """Record at once the session that session-service just opened for this till, so the till's first sale is not
    refused while `session.opened` is on its way; the event, when it comes, finds it there and changes nothing."""
    async with services.uow() as work:
        await work.sessions.opened(device.pos_id, session_id, opened_at)
        await work.commit()


async def refuse_close_with_open_basket(device: Device, services: ConfigServices) -> None:
    """A till closes only once its basket is finalized or emptied: a basket with lines is a sale in progress."""
    async with services.uow() as work:
        basket = await work.baskets.open_of_pos(device.pos_id)
    if basket is not None and (basket.content.lines or basket.content.payments):
        raise BasketConflictError(
            "basket",
            f"basket {basket.id} is still open with {len(basket.content.lines)} line(s): finalize or empty it first",
        )
