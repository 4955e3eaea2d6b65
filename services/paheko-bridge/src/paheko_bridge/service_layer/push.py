"""Push a ticket to its company's accounting: Paheko through the plugin, or the FEC journal without one; and put a
dead-lettered ticket back in the queue.

The forwarder takes the stored tickets in number order per POS, many POS at once: the first ticket of a POS that
Paheko cannot take now stops that POS's chain until its backoff expires, a ticket Paheko refuses is dead-lettered
with the reason and the chain goes on. While a company's Paheko takes nothing, a round only probes it with each
POS's first ticket (`services.paheko_answered`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from caisse_contracts.events import PahekoTicketPushedV1
from paheko_bridge.service_layer.fec import book_tickets_for
from paheko_bridge.service_layer.ports import (
    PahekoTarget,
    PendingPush,
    Pushed,
    TargetRejectedError,
    TargetUnavailableError,
)
from paheko_bridge.service_layer.services import BridgeServices, announcement, paheko_answered


async def push_due(services: BridgeServices, *, limit: int = 500) -> int:
    """Forward the tickets whose time has come; the number that reached their target.

    A company without Paheko books all its due tickets in one go; a company's Paheko takes each POS's tickets
    in number order, several POS at a time.
    """
    async with services.uow() as work:
        due = await work.pushes.due(services.clock(), limit)
    by_company: dict[Any, list[PendingPush]] = {}
    for pending in due:
        by_company.setdefault(pending.ticket.company_id, []).append(pending)
    gate = asyncio.Semaphore(services.concurrency)

    async def run(company_id: Any, pending: list[PendingPush]) -> int:
        async with gate:
            return await _push_company(company_id, pending, services)

    return sum(await asyncio.gather(*(run(c, p) for c, p in by_company.items())))


async def _push_company(company_id: Any, due: list[PendingPush], services: BridgeServices) -> int:
    chains: dict[Any, list[PendingPush]] = {}
    for pending in due:
        chains.setdefault(pending.ticket.pos_id, []).append(pending)
    try:
        target = await services.targets.paheko(company_id)
    except TargetUnavailableError as exc:  # each POS's first ticket waits, the others after it
        outcome = _ChainOutcome()
        for chain in chains.values():
            outcome.delayed.append((chain[0], exc.reason))
        await _record(outcome, services)
        services.paheko_up[company_id] = False
        return 0
    if target is None:
        outcome = _ChainOutcome()
        await _book_to_fec(due, services, outcome)
        await _record(outcome, services)
        return len(outcome.pushed)

    if services.paheko_up.get(company_id) is False:  # probing: the rest comes once Paheko answers
        chains = {pos_id: chain[:1] for pos_id, chain in chains.items()}

    async def chain_to_paheko(chain: list[PendingPush]) -> tuple[int, bool]:
        outcome = _ChainOutcome()
        await _push_to_paheko(chain, target, outcome)
        await _record(outcome, services)
        return len(outcome.pushed), bool(outcome.pushed or outcome.rejected)

    results = await asyncio.gather(*(chain_to_paheko(chain) for chain in chains.values()))
    await paheko_answered(company_id, any(answered for _, answered in results), services)
    return sum(pushed for pushed, _ in results)


@dataclass
class _ChainOutcome:
    """What became of a POS's chain, written in one transaction once the chain stops."""

    pushed: list[tuple[PendingPush, Pushed, str]] = field(default_factory=list)
    rejected: list[tuple[PendingPush, str]] = field(default_factory=list)
    delayed: list[tuple[PendingPush, str]] = field(default_factory=list)
    """The first ticket of a POS that could not go now: it backs off, and its POS's later tickets wait."""


async def _push_to_paheko(chain: list[PendingPush], target: PahekoTarget, outcome: _ChainOutcome) -> None:
    for pending in chain:
        try:
            outcome.pushed.append((pending, await target.push_ticket(pending.ticket), "paheko"))
        except TargetUnavailableError as exc:
            outcome.delayed.append((pending, exc.reason))
            return  # the rest of this POS waits: its tickets go in number order
        except TargetRejectedError as exc:
            outcome.rejected.append((pending, exc.reason))


async def _book_to_fec(due: list[PendingPush], services: BridgeServices, outcome: _ChainOutcome) -> None:
    try:
        await book_tickets_for([p.ticket for p in due], services)
    except TargetUnavailableError as exc:
        firsts: dict[Any, PendingPush] = {}
        for pending in due:
            firsts.setdefault(pending.ticket.pos_id, pending)
        outcome.delayed.extend((pending, exc.reason) for pending in firsts.values())
        return
    except TargetRejectedError:
        blocked: set[Any] = set()
        for pending in due:  # one of them is refused: book them one by one to set it apart
            if pending.ticket.pos_id in blocked:
                continue
            try:
                await book_tickets_for([pending.ticket], services)
            except TargetUnavailableError as exc:
                outcome.delayed.append((pending, exc.reason))
                blocked.add(pending.ticket.pos_id)
            except TargetRejectedError as exc:
                outcome.rejected.append((pending, exc.reason))
            else:
                outcome.pushed.append((pending, Pushed(None, None), "fec"))
        return
    outcome.pushed.extend((pending, Pushed(None, None), "fec") for pending in due)


async def _record(outcome: _ChainOutcome, services: BridgeServices) -> None:
    if not (outcome.pushed or outcome.rejected or outcome.delayed):
        return
    now = services.clock()
    async with services.uow() as work:
        await work.pushes.pushed_many([pending.ticket.ticket_id for pending, _, _ in outcome.pushed], now)
        await work.outbox.add_many(
            [
                announcement(
                    PahekoTicketPushedV1(
                        ticket_id=pending.ticket.ticket_id,
                        pos_id=pending.ticket.pos_id,
                        session_id=pending.ticket.session_id,
                        number=pending.ticket.number,
                        target=where,
                        paheko_session_id=pushed.paheko_session_id,
                        paheko_tab_id=pushed.paheko_tab_id,
                        attempts=pending.attempts + 1,
                        replayed=pushed.replayed,
                        pushed_at=now,
                    ),
                    services,
                    pending.ticket.company_id,
                    pending.ticket.shop_id,
                    str(pending.ticket.ticket_id),
                )
                for pending, pushed, where in outcome.pushed
            ]
        )
        for pending, reason in outcome.rejected:
            await work.pushes.rejected(pending.ticket.ticket_id, attempts=pending.attempts + 1, reason=reason)
        for pending, reason in outcome.delayed:
            attempts = pending.attempts + 1
            await work.pushes.failed(
                pending.ticket.ticket_id,
                attempts=attempts,
                next_attempt_at=services.backoff.next_attempt(attempts, now),
                reason=reason,
            )
        await work.commit()


async def replay(ticket_id: Any, services: BridgeServices) -> int:
    """Put a dead-lettered ticket (or all of them, with None) back in the queue."""
    async with services.uow() as work:
        count = await work.pushes.replay(ticket_id, services.clock())
        await work.commit()
    return count
