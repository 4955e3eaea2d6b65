"""Close a session in its company's accounting once every ticket of it is there, and reconcile what Paheko wrote
with what the session says (or book its variance to the FEC journal, for a company without Paheko).

A session is closed in Paheko only once every number from its first to its last ticket is there; Paheko's ledger
for it is then compared per account, per VAT rate and in ticket count: a difference is announced
(`paheko.reconciliation_failed`), a match too (`paheko.session_synced`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caisse_contracts.envelope import Payload
from caisse_contracts.events import (
    PahekoReconciliationFailedV1,
    PahekoSessionSyncedV1,
    ReconciledAmountV1,
    SessionClosedV1,
)
from paheko_bridge.domain.pushes import CloseStatus, missing_numbers
from paheko_bridge.domain.reconciliation import actual_ledger, differences, expected_ledger, expected_vat, session_vat
from paheko_bridge.service_layer.fec import book_close_for
from paheko_bridge.service_layer.ports import CloseRow, CloseSettled, TargetRejectedError, TargetUnavailableError
from paheko_bridge.service_layer.services import BridgeServices, announce, back_off, paheko_answered


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
            await book_close_for(closed, services)
            return await _settle_fec(closed, services)
        await target.close_session(closed)
        await paheko_answered(closed.company_id, True, services)
        ledger = await target.ledger(closed)
    except TargetUnavailableError as exc:
        await paheko_answered(closed.company_id, False, services)
        await back_off(lambda work: work.closes, closed.session_id, attempts, exc.reason, services)
        return CloseProgress(closed.session_id, CloseStatus.WAITING)
    except TargetRejectedError as exc:
        async with services.uow() as work:
            await work.closes.settle(
                closed.session_id, CloseSettled(CloseStatus.REJECTED, services.clock(), reason=exc.reason)
            )
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
        await work.closes.settle(closed.session_id, CloseSettled(status, now, tuple(d.as_dict() for d in found)))
        await announce(work, event, services, closed.company_id, closed.shop_id, str(closed.session_id))
        await work.commit()
    return CloseProgress(closed.session_id, status)


async def _settle_fec(closed: SessionClosedV1, services: BridgeServices) -> CloseProgress:
    now = services.clock()
    async with services.uow() as work:
        await work.closes.settle(closed.session_id, CloseSettled(CloseStatus.BOOKED, now))
        event = PahekoSessionSyncedV1(session_id=closed.session_id, pos_id=closed.pos_id, target="fec", synced_at=now)
        await announce(work, event, services, closed.company_id, closed.shop_id, str(closed.session_id))
        await work.commit()
    return CloseProgress(closed.session_id, CloseStatus.BOOKED)


def _ticket_count(closed: SessionClosedV1) -> int:
    if closed.first_ticket_number is None or closed.last_ticket_number is None:
        return 0
    return closed.last_ticket_number - closed.first_ticket_number + 1
