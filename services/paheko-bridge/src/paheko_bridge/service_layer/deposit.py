"""Book a session's confirmed bank deposit once its close is in the books: into Paheko (and compare the entry Paheko
answers with the deposit, per account), or into the FEC journal for a company without Paheko."""

from __future__ import annotations

from typing import Any

from caisse_contracts.events import PahekoReconciliationFailedV1, ReconciledAmountV1
from paheko_bridge.domain.pushes import DepositStatus, close_settled
from paheko_bridge.domain.reconciliation import actual_ledger, differences, expected_deposit
from paheko_bridge.service_layer.fec import book_deposit_for
from paheko_bridge.service_layer.ports import DepositRow, TargetRejectedError, TargetUnavailableError
from paheko_bridge.service_layer.services import BridgeServices, announce, back_off


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
            await book_deposit_for(deposit, services)
            booked = None
        else:
            booked = await target.book_deposit(deposit)
    except TargetUnavailableError as exc:
        await back_off(lambda work: work.deposits, deposit.session_id, attempts, exc.reason, services)
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
            await announce(work, event, services, deposit.company_id, deposit.shop_id, str(deposit.session_id))
        await work.commit()
    return status
