"""Use cases of the bridge: keep every ticket and close that arrives, forward them to the company's accounting
(Paheko, or the FEC file without one), close sessions once complete, and reconcile what Paheko wrote.

Arrival and forwarding are two steps. What Kafka delivers is stored first, in one transaction with the inbox
(a redelivery adds nothing), and only then acknowledged: a Paheko that is down loses nothing, and it does not
hold back the topic. Forwarding then takes the stored tickets in number order per POS, many POS at once: the
first ticket of a POS that Paheko cannot take now stops that POS's chain until its backoff expires, a ticket
Paheko refuses is dead-lettered with the reason and the chain goes on. A session is closed in Paheko only once
every number from its first to its last ticket is there, and a session's confirmed bank deposit is booked only
once its close is.

Each ticket's backoff is its own, but Paheko's coming back is everyone's news. While a company's Paheko takes
nothing (down, or its circuit open), a round tries only the first due ticket of each POS: the circuit's probe.
The first ticket or close it takes again (or the first since this process started) makes every other waiting
ticket and close of that company due at once, whatever delay each had grown, and the next round takes them all,
each POS in its number order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from caisse_contracts.envelope import Envelope, Payload, TenantKeys
from caisse_contracts.events import (
    PahekoReconciliationFailedV1,
    PahekoSessionSyncedV1,
    PahekoTicketPushedV1,
    ReconciledAmountV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    TicketFinalizedV1,
)
from caisse_contracts.topics import PAHEKO
from caisse_runtime.outbox import OutboxItem
from caisse_runtime.telemetry import current_traceparent
from paheko_bridge.domain.pushes import Backoff, CloseStatus, DepositStatus, close_settled, missing_numbers
from paheko_bridge.domain.reconciliation import (
    actual_ledger,
    differences,
    expected_deposit,
    expected_ledger,
    expected_vat,
    session_vat,
)
from paheko_bridge.service_layer.ports import (
    Clock,
    CloseRow,
    DepositRow,
    FecWriter,
    IdFactory,
    PahekoTarget,
    PendingPush,
    Pushed,
    TargetRejectedError,
    Targets,
    TargetUnavailableError,
    UnitOfWork,
    UnitOfWorkFactory,
)

SOURCE = "paheko-bridge"


@dataclass(frozen=True, slots=True)
class BridgeServices:
    uow: UnitOfWorkFactory
    targets: Targets
    fec: FecWriter
    clock: Clock
    new_id: IdFactory
    backoff: Backoff = field(default_factory=Backoff)
    concurrency: int = 8
    """How many POS are pushed at the same time (each one in its own number order)."""
    paheko_up: dict[Any, bool] = field(default_factory=dict)
    """Per company, whether its Paheko took a ticket or a close in its last round with it (in this process)."""


async def accept(envelopes: Sequence[Envelope[Any]], services: BridgeServices) -> int:
    """Store the tickets and closes that arrived, each once; the number new."""
    now = services.clock()
    async with services.uow() as work:
        fresh = await work.inbox.claim_many([(e.id, e.type) for e in envelopes])
        new = [e.data for e in envelopes if e.id in fresh]
        tickets = [data for data in new if isinstance(data, TicketFinalizedV1)]
        added = await work.pushes.add_many(tickets, now) if tickets else 0
        for data in new:
            if isinstance(data, SessionClosedV1):
                added += await work.closes.add(data, now)
            elif isinstance(data, SessionDepositConfirmedV1):
                added += await work.deposits.add(data, now)
        await work.commit()
    return added


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
    await _answered(company_id, any(answered for _, answered in results), services)
    return sum(pushed for pushed, _ in results)


async def _answered(company_id: Any, answered: bool, services: BridgeServices) -> None:
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
        await services.fec.book_tickets([p.ticket for p in due])
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
                await services.fec.book_tickets([pending.ticket])
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
                _item(
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


@dataclass(frozen=True, slots=True)
class CloseProgress:
    """Where a session's close stands: settled, or waiting for these ticket numbers (ops shows them)."""

    session_id: Any
    status: CloseStatus
    missing: tuple[int, ...] = ()


async def close_ready(services: BridgeServices) -> list[CloseProgress]:
    """Close, sync and reconcile every waiting session whose tickets are all in; what happened to each."""
    async with services.uow() as work:
        waiting = await work.closes.waiting(services.clock())
    return [await _close(row, services) for row in waiting]


async def _close(row: CloseRow, services: BridgeServices) -> CloseProgress:
    closed = row.closed
    async with services.uow() as work:
        pushed = await work.pushes.pushed_numbers(closed.session_id)
    missing = missing_numbers(closed.first_ticket_number, closed.last_ticket_number, pushed)
    if missing:
        return CloseProgress(closed.session_id, CloseStatus.WAITING, tuple(missing))
    attempts = row.attempts + 1
    try:
        target = await services.targets.paheko(closed.company_id)
        if target is None:
            await services.fec.book_close(closed)
            return await _settle_fec(closed, services)
        await target.close_session(closed)
        await _answered(closed.company_id, True, services)
        ledger = await target.ledger(closed)
    except TargetUnavailableError as exc:
        await _answered(closed.company_id, False, services)
        async with services.uow() as work:
            await work.closes.failed(
                closed.session_id,
                attempts=attempts,
                next_attempt_at=services.backoff.next_attempt(attempts, services.clock()),
                reason=exc.reason,
            )
            await work.commit()
        return CloseProgress(closed.session_id, CloseStatus.WAITING)
    except TargetRejectedError as exc:
        async with services.uow() as work:
            await work.closes.settle(closed.session_id, CloseStatus.REJECTED, at=services.clock(), reason=exc.reason)
            await work.commit()
        return CloseProgress(closed.session_id, CloseStatus.REJECTED)
    ours_tickets = _ticket_count(closed)
    vat = None
    if await services.targets.vat_subject(closed.company_id):
        async with services.uow() as work:
            vat = session_vat(await work.pushes.tickets_of_session(closed.session_id))
    expected = expected_ledger(
        closed,
        await services.targets.accounts(closed.company_id),
        await services.targets.category_accounts(closed.company_id),
        vat,
    )
    actual = actual_ledger(ledger.lines)
    vat_ours = expected_vat(closed, vat)
    found = differences(
        expected,
        actual,
        tickets_ours=ours_tickets,
        tickets_theirs=ledger.tickets,
        vat_ours=vat_ours,
        vat_theirs=ledger.vat_by_rate,
    )
    now = services.clock()
    checked = tuple(
        ReconciledAmountV1(what=f"account:{a}", ours=v, theirs=actual.get(a, 0)) for a, v in expected.items()
    ) + tuple(
        ReconciledAmountV1(what=f"vat:{r}", ours=v, theirs=ledger.vat_by_rate.get(r, 0)) for r, v in vat_ours.items()
    )
    event: Payload
    if found:
        status = CloseStatus.MISMATCH
        event = PahekoReconciliationFailedV1(
            session_id=closed.session_id,
            pos_id=closed.pos_id,
            paheko_session_id=ledger.paheko_session_id,
            transaction_reference=ledger.transaction_reference,
            differences=tuple(ReconciledAmountV1(what=d.what, ours=d.ours, theirs=d.theirs) for d in found),
            checked_at=now,
        )
    else:
        status = CloseStatus.SYNCED
        event = PahekoSessionSyncedV1(
            session_id=closed.session_id,
            pos_id=closed.pos_id,
            target="paheko",
            paheko_session_id=ledger.paheko_session_id,
            transaction_reference=ledger.transaction_reference,
            transaction_id=ledger.transaction_id,
            checked=(*checked, ReconciledAmountV1(what="ticket_count", ours=ours_tickets, theirs=ledger.tickets)),
            synced_at=now,
        )
    async with services.uow() as work:
        await work.closes.settle(closed.session_id, status, at=now, differences=[d.as_dict() for d in found])
        await _announce(work, event, services, closed.company_id, closed.shop_id, str(closed.session_id))
        await work.commit()
    return CloseProgress(closed.session_id, status)


async def _settle_fec(closed: SessionClosedV1, services: BridgeServices) -> CloseProgress:
    now = services.clock()
    async with services.uow() as work:
        await work.closes.settle(closed.session_id, CloseStatus.BOOKED, at=now)
        event = PahekoSessionSyncedV1(session_id=closed.session_id, pos_id=closed.pos_id, target="fec", synced_at=now)
        await _announce(work, event, services, closed.company_id, closed.shop_id, str(closed.session_id))
        await work.commit()
    return CloseProgress(closed.session_id, CloseStatus.BOOKED)


def _ticket_count(closed: SessionClosedV1) -> int:
    if closed.first_ticket_number is None or closed.last_ticket_number is None:
        return 0
    return closed.last_ticket_number - closed.first_ticket_number + 1


async def deposits_ready(services: BridgeServices) -> list[tuple[Any, DepositStatus]]:
    """Book every waiting bank deposit whose session's close is in the books (Paheko, or the FEC file): the entry
    of the deposit follows the session's in both; what became of each one that was tried."""
    async with services.uow() as work:
        waiting = await work.deposits.waiting(services.clock())
        ready = []
        for row in waiting:
            close = await work.closes.get(row.deposit.session_id)
            if close_settled(close.status if close else None):
                ready.append(row)
    return [(row.deposit.session_id, await _book_deposit(row, services)) for row in ready]


async def _book_deposit(row: DepositRow, services: BridgeServices) -> DepositStatus:
    deposit = row.deposit
    attempts = row.attempts + 1
    try:
        target = await services.targets.paheko(deposit.company_id)
        if target is None:
            await services.fec.book_deposit(deposit)
            booked = None
        else:
            booked = await target.book_deposit(deposit)
    except TargetUnavailableError as exc:
        async with services.uow() as work:
            await work.deposits.failed(
                deposit.session_id,
                attempts=attempts,
                next_attempt_at=services.backoff.next_attempt(attempts, services.clock()),
                reason=exc.reason,
            )
            await work.commit()
        return DepositStatus.WAITING
    except TargetRejectedError as exc:
        async with services.uow() as work:
            await work.deposits.settle(
                deposit.session_id, DepositStatus.REJECTED, at=services.clock(), reason=exc.reason
            )
            await work.commit()
        return DepositStatus.REJECTED
    found = []
    if booked is not None:  # Paheko answered the entry as it holds it: compared with the deposit, per account
        expected = expected_deposit(deposit, await services.targets.accounts(deposit.company_id))
        found = differences(expected, actual_ledger(booked.lines), tickets_ours=0, tickets_theirs=0)
    status = DepositStatus.MISMATCH if found else DepositStatus.BOOKED
    now = services.clock()
    async with services.uow() as work:
        reason = "; ".join(f"{d.what}: ours {d.ours}, Paheko's {d.theirs}" for d in found) or None
        await work.deposits.settle(deposit.session_id, status, at=now, reason=reason)
        if booked is not None and found:
            event = PahekoReconciliationFailedV1(
                session_id=deposit.session_id,
                pos_id=deposit.pos_id,
                paheko_session_id=booked.paheko_session_id,
                transaction_reference=booked.transaction_reference,
                differences=tuple(ReconciledAmountV1(what=d.what, ours=d.ours, theirs=d.theirs) for d in found),
                checked_at=now,
            )
            await _announce(work, event, services, deposit.company_id, deposit.shop_id, str(deposit.session_id))
        await work.commit()
    return status


async def replay(ticket_id: Any, services: BridgeServices) -> int:
    """Put a dead-lettered ticket (or all of them, with None) back in the queue."""
    async with services.uow() as work:
        count = await work.pushes.replay(ticket_id, services.clock())
        await work.commit()
    return count


async def _announce(
    work: UnitOfWork, event: Payload, services: BridgeServices, company_id: Any, shop_id: Any, aggregate_id: str
) -> None:
    await work.outbox.add_many([_item(event, services, company_id, shop_id, aggregate_id)])


def _item(event: Payload, services: BridgeServices, company_id: Any, shop_id: Any, aggregate_id: str) -> OutboxItem:
    traceparent, tracestate = current_traceparent()
    pos_id = getattr(event, "pos_id", None)
    envelope = Envelope[type(event)].wrap(  # type: ignore[misc]
        event,
        event_id=services.new_id(),
        occurred_at=services.clock(),
        source=SOURCE,
        tenant=TenantKeys(company_id=company_id, shop_id=shop_id, pos_id=pos_id),
        traceparent=traceparent,
        tracestate=tracestate,
    )
    return OutboxItem(envelope, PAHEKO.name, str(company_id), "paheko", aggregate_id)
