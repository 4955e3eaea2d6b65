"""Use case of a closed session's bank deposit: confirmed as the slip went to the bank, stored with its
`session.deposit_confirmed` in one transaction; the same confirmation sent again answers the first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from caisse_contracts.events import ChequeV1, SessionDepositConfirmedV1
from session_service.domain.access import Caller, check_deposit
from session_service.domain.deposits import Deposit, DepositRequest, confirm_deposit
from session_service.domain.errors import SessionNotFoundError
from session_service.domain.sessions import CashSession
from session_service.service_layer.sessions import SessionServices, announce, session_keys


@dataclass(frozen=True, slots=True)
class ConfirmDeposit:
    session_id: UUID
    cash: int
    cheque_ids: tuple[UUID, ...]
    reference: str
    deposited_on: date


@dataclass(frozen=True, slots=True)
class Confirmed:
    deposit: Deposit
    created: bool
    """False when the same confirmation was sent again."""


async def confirm_session_deposit(command: ConfirmDeposit, caller: Caller, services: SessionServices) -> Confirmed:
    """Confirm the deposit of a closed session, within the caller's scope (its till, a manager of its shop, ops)."""
    request = DepositRequest(command.cash, command.cheque_ids, command.reference, command.deposited_on)
    async with services.uow() as work:
        session = await work.sessions.get(command.session_id, for_update=True)
        if session is None or (caller.pos_scope is not None and session.place.pos_id != caller.pos_scope):
            raise SessionNotFoundError(session_id=command.session_id)
        place = session.place
        check_deposit(caller, session.session_id, place.pos_id, place.shop_id, place.company_id)
        earlier = await work.deposits.get(session.session_id)
        deposit = confirm_deposit(
            session,
            request,
            earlier,
            deposit_id=services.new_id(),
            confirmed_by=caller.operator_id,
            now=services.clock(),
        )
        if deposit is earlier:
            return Confirmed(deposit, created=False)
        await work.deposits.add(deposit)
        await announce(work, services, _confirmed_event(session, deposit))
        await work.commit()
    return Confirmed(deposit, created=True)


async def read_deposit(session_id: UUID, services: SessionServices) -> Deposit | None:
    async with services.uow() as work:
        return await work.deposits.get(session_id)


def _confirmed_event(session: CashSession, deposit: Deposit) -> SessionDepositConfirmedV1:
    place, closed_at = session.place, session.closed_at
    if closed_at is None:
        raise ValueError("only a closed session is deposited")
    return SessionDepositConfirmedV1(
        deposit_id=deposit.deposit_id,
        **session_keys(session),
        currency=place.currency,
        closed_at=closed_at,
        deposited_on=deposit.deposited_on,
        reference=deposit.reference,
        cash=deposit.cash,
        cheques=tuple(
            ChequeV1(ticket_id=c.ticket_id, number=c.number, bank=c.bank, amount=c.amount) for c in deposit.cheques
        ),
        total=deposit.total,
        confirmed_at=deposit.confirmed_at,
        confirmed_by=deposit.confirmed_by,
    )
