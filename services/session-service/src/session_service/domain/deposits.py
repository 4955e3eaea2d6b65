"""The bank deposit of a closed session: the slip as it went to the bank (the cash, which cheques, its number and
day), confirmed once; the same confirmation sent again is the first, another one is refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from session_service.domain.errors import DepositAlreadyConfirmedError, InvalidFieldError, SessionNotClosedError
from session_service.domain.sessions import CashSession, Cheque, SessionStatus

MAX_REFERENCE = 100


@dataclass(frozen=True, slots=True)
class DepositRequest:
    """What the shop manager (or the till) confirms: the slip as printed and handed to the bank."""

    cash: int
    cheque_ids: tuple[UUID, ...]
    """The payments of the cheques deposited."""
    reference: str
    deposited_on: date


@dataclass(frozen=True, slots=True)
class Deposit:
    deposit_id: UUID
    session_id: UUID
    cash: int
    cheques: tuple[Cheque, ...]
    reference: str
    deposited_on: date
    confirmed_at: datetime
    confirmed_by: UUID | None

    @property
    def total(self) -> int:
        return self.cash + sum(c.amount for c in self.cheques)

    def confirms(self, request: DepositRequest) -> bool:
        """Whether `request` is this very confirmation, sent again."""
        return (
            self.cash == request.cash
            and {c.payment_id for c in self.cheques} == set(request.cheque_ids)
            and self.reference == request.reference.strip()
            and self.deposited_on == request.deposited_on
        )


def confirm_deposit(
    session: CashSession,
    request: DepositRequest,
    earlier: Deposit | None,
    *,
    deposit_id: UUID,
    confirmed_by: UUID | None,
    now: datetime,
) -> Deposit:
    """The deposit of a closed session, checked against what its close left to deposit; `earlier` when one was
    confirmed already: the same request answers it, another is refused."""
    if earlier is not None:
        if earlier.confirms(request):
            return earlier
        raise DepositAlreadyConfirmedError(session.session_id, earlier.reference, earlier.deposited_on)
    figures = session.closing
    if session.status is not SessionStatus.CLOSED or figures is None:
        raise SessionNotClosedError(session.session_id, session.status.value)
    if request.cash < 0:
        raise InvalidFieldError("cash", "a deposit cannot be negative")
    if request.cash > figures.deposit_cash:
        raise InvalidFieldError(
            "cash", f"{request.cash} is more than the {figures.deposit_cash} the close left to deposit"
        )
    if session.closed_at is not None and request.deposited_on < (session.closed_at - timedelta(days=1)).date():
        # A day of slack: the close's day in the shop's time zone may be the day before or after its UTC day.
        raise InvalidFieldError(
            "deposited_on",
            f"{request.deposited_on.isoformat()} is before the session closed ({session.closed_at:%Y-%m-%d})",
        )
    reference = request.reference.strip()
    if not reference:
        raise InvalidFieldError("reference", "the deposit slip's number is required")
    if len(reference) > MAX_REFERENCE:
        raise InvalidFieldError("reference", f"at most {MAX_REFERENCE} characters")
    cheques = _cheques(figures.cheques, request.cheque_ids)
    if request.cash == 0 and not cheques:
        raise InvalidFieldError("cash", "a deposit carries cash or cheques")
    return Deposit(
        deposit_id=deposit_id,
        session_id=session.session_id,
        cash=request.cash,
        cheques=cheques,
        reference=reference,
        deposited_on=request.deposited_on,
        confirmed_at=now,
        confirmed_by=confirmed_by,
    )


def _cheques(of_session: Sequence[Cheque], chosen: Sequence[UUID]) -> tuple[Cheque, ...]:
    by_payment = {c.payment_id: c for c in of_session}
    seen: set[UUID] = set()
    for index, payment_id in enumerate(chosen):
        if payment_id not in by_payment:
            raise InvalidFieldError(f"cheques[{index}]", f"{payment_id} is not a cheque of this session")
        if payment_id in seen:
            raise InvalidFieldError(f"cheques[{index}]", f"{payment_id} is listed twice")
        seen.add(payment_id)
    return tuple(c for c in of_session if c.payment_id in seen)
