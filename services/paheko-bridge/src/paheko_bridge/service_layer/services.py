"""What every use case of the bridge is given (its ports, clock, ids and backoff), what the forwarder remembers of
each company's Paheko between rounds, and how a use case announces what it did.

Each ticket's backoff is its own, but Paheko's coming back is everyone's news. While a company's Paheko takes
nothing (down, or its circuit open), a round tries only the first due ticket of each POS: the circuit's probe.
The first ticket or close it takes again (or the first since this process started) makes every other waiting
ticket and close of that company due at once, whatever delay each had grown, and the next round takes them all,
each POS in its number order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from caisse_contracts.envelope import Envelope, Payload, TenantKeys
from caisse_contracts.topics import PAHEKO
from caisse_runtime.outbox import OutboxItem
from paheko_bridge.domain.pushes import Backoff
from paheko_bridge.service_layer.ports import (
    Clock,
    Closes,
    Deposits,
    FecJournal,
    IdFactory,
    Targets,
    UnitOfWork,
    UnitOfWorkFactory,
)

SOURCE = "paheko-bridge"


@dataclass(frozen=True, slots=True)
class BridgeServices:
    """The bridge's ports and settings, built once by the composition root and given to every use case."""

    uow: UnitOfWorkFactory
    targets: Targets
    fec: FecJournal
    """The FEC journals of the companies without Paheko."""
    clock: Clock
    new_id: IdFactory
    backoff: Backoff = field(default_factory=Backoff)
    concurrency: int = 8
    """How many POS are pushed at the same time (each one in its own number order)."""
    paheko_up: dict[Any, bool] = field(default_factory=dict)
    """Per company, whether its Paheko took a ticket or a close in its last round with it (in this process)."""


async def back_off(
    table: Callable[[UnitOfWork], Closes | Deposits],
    session_id: UUID,
    attempts: int,
    reason: str,
    services: BridgeServices,
) -> None:
    """Record a try of a session's close or deposit that the target could not take now: it waits for its backoff."""
    async with services.uow() as work:
        await table(work).failed(
            session_id,
            attempts=attempts,
            next_attempt_at=services.backoff.next_attempt(attempts, services.clock()),
            reason=reason,
        )
        await work.commit()


async def paheko_answered(company_id: Any, answered: bool, services: BridgeServices) -> None:
    """Note whether the company's Paheko took something (a refusal is an answer too); the first time it does after
    it took nothing, every waiting ticket and close of the company is due now."""
    was_up = services.paheko_up.get(company_id)
    services.paheko_up[company_id] = answered
    if not answered or was_up:
        return
    now = services.clock()
    async with services.uow() as work:
        await work.pushes.resume(company_id, now)
        await work.closes.resume(company_id, now)
        await work.commit()


def announcement(
    event: Payload, services: BridgeServices, company_id: Any, shop_id: Any, aggregate_id: str
) -> OutboxItem:
    """`event` as the outbox's item on the bridge's topic, keyed by company (the adapter adds the trace context)."""
    envelope = Envelope[type(event)].wrap(  # type: ignore[misc]
        event,
        event_id=services.new_id(),
        occurred_at=services.clock(),
        source=SOURCE,
        tenant=TenantKeys(company_id=company_id, shop_id=shop_id, pos_id=getattr(event, "pos_id", None)),
    )
    return OutboxItem(envelope, PAHEKO.name, str(company_id), "paheko", aggregate_id)


async def announce(
    work: UnitOfWork, event: Payload, services: BridgeServices, company_id: Any, shop_id: Any, aggregate_id: str
) -> None:
    """Write `event` to the outbox in `work`'s transaction."""
    await work.outbox.add_many([announcement(event, services, company_id, shop_id, aggregate_id)])
