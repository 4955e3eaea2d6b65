"""Card payments and refunds through the POS's terminal (Caisse-AP, HARDWARE.md §4), as the till keeps them.

Each operation is written PENDING before the terminal is called, so that a till that dies during a payment finds it
again and the cashier settles it from the terminal's slip (confirm or void): money taken is never lost, and no card
is charged twice silently. The terminal's answer makes it `approved` (AE=10, only then is the payment put in the
basket) or `declined` with the reason in the cashier's words; an answer that never came (timeout, connection cut,
unreadable answer) leaves it pending, because the terminal may have charged the card.

The rules of a finalize and of a credit note are here too: every card payment of a sale is an approved terminal
payment of its basket, and every card refund of a credit note an approved refund of its sale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final, Literal
from uuid import UUID

from caisse_contracts.basket import PaymentIn
from caisse_contracts.caisse_ap import Failure, PaymentRequest, Status, TerminalAnswer, slip_text
from caisse_contracts.events.tickets import PaymentMethod
from caisse_contracts.money import Currency
from caisse_contracts.tills import RefundIn

CardKind = Literal["payment", "refund"]
CardStatus = Literal["pending", "approved", "declined", "voided"]


class CardCode(StrEnum):
    """Why an operation stands where it does: a stable code for the web app, with a message for the cashier."""

    APPROVED = "approved"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    FORBIDDEN = "forbidden"
    ABANDONED = "abandoned"
    CARD_TIMEOUT = "card_timeout"
    NOT_DONE = "not_done"
    UNREACHABLE = "unreachable"
    IN_PROGRESS = "in_progress"
    INTERRUPTED = "interrupted"
    NO_ANSWER = "no_answer"
    CONNECTION_LOST = "connection_lost"
    INVALID_ANSWER = "invalid_answer"
    VOIDED = "voided"


CHECK_THE_SLIP: Final = "regardez le ticket du terminal, puis confirmez ou annulez"
MESSAGES: Final[dict[CardCode, str]] = {
    CardCode.APPROVED: "Paiement accepté",
    CardCode.CONFIRMED: "Paiement confirmé d'après le ticket du terminal",
    CardCode.REFUSED: "Carte refusée",
    CardCode.FORBIDDEN: "Carte interdite",
    CardCode.ABANDONED: "Paiement abandonné sur le terminal",
    CardCode.CARD_TIMEOUT: "Délai dépassé sur le terminal : la carte n'a pas été présentée",
    CardCode.NOT_DONE: "Le terminal n'a pas fait l'opération",
    CardCode.UNREACHABLE: "Terminal injoignable : vérifiez qu'il est allumé et relié",
    CardCode.IN_PROGRESS: "Paiement en cours sur le terminal",
    CardCode.INTERRUPTED: f"Paiement interrompu : {CHECK_THE_SLIP}",
    CardCode.NO_ANSWER: f"Le terminal n'a pas répondu : {CHECK_THE_SLIP}",
    CardCode.CONNECTION_LOST: f"Liaison coupée avec le terminal : {CHECK_THE_SLIP}",
    CardCode.INVALID_ANSWER: f"Réponse du terminal illisible : {CHECK_THE_SLIP}",
    CardCode.VOIDED: "Paiement annulé",
}
DECLINED: Final[dict[str, CardCode]] = {
    Failure.REFUSED.value: CardCode.REFUSED,
    Failure.FORBIDDEN.value: CardCode.FORBIDDEN,
    Failure.ABANDONED.value: CardCode.ABANDONED,
    Failure.OPERATOR_ABANDON.value: CardCode.ABANDONED,
    Failure.TIMED_OUT.value: CardCode.CARD_TIMEOUT,
}


@dataclass(frozen=True, slots=True)
class CardResult:
    """Where an operation stands after a call to the terminal (or the cashier's word): its status and code, and for
    an approved one what the terminal said of it."""

    status: CardStatus
    code: CardCode
    authorisation: str | None = None
    masked_pan: str | None = None
    contactless: bool | None = None
    slip_text: str | None = None
    failure: str | None = None
    """The terminal's `AF`, as it sent it."""


def result_of(answer: TerminalAnswer, request: PaymentRequest, currency: Currency) -> CardResult:
    """What the terminal's final answer means: approved only on `AE=10` answering this very request; `AE=01`
    declined with its reason; anything else is not an answer the till can trust (the operation stays pending)."""
    if answer.mismatch(request) is not None or answer.status is Status.ACCEPTED:
        return CardResult("pending", CardCode.INVALID_ANSWER)
    if answer.status is Status.DONE:
        return CardResult(
            "approved",
            CardCode.APPROVED,
            authorisation=answer.authorisation,
            masked_pan=answer.masked_pan,
            contactless=answer.contactless,
            slip_text=slip_text(answer, request, currency),
        )
    code = DECLINED.get(answer.failure or "", CardCode.NOT_DONE)
    return CardResult("declined", code, failure=answer.failure)


@dataclass(frozen=True, slots=True)
class CardOperation:
    """A card payment (of a basket) or refund (of a sale) through the terminal, as the till keeps it."""

    operation_id: UUID
    kind: CardKind
    amount: int
    currency: str
    status: CardStatus
    code: CardCode
    created_at: datetime
    basket_id: UUID | None = None
    ticket_id: UUID | None = None
    authorisation: str | None = None
    masked_pan: str | None = None
    contactless: bool | None = None
    slip_text: str | None = None
    failure: str | None = None
    confirmed_by_cashier: bool = False
    done_at: datetime | None = None
    claimed_by: UUID | None = None
    """The credit note that gave this refund's money back (a refund serves one credit note)."""

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    def settled(self, result: CardResult, at: datetime) -> CardOperation:
        """This operation once the terminal (or the cashier) settled it."""
        return replace(
            self,
            status=result.status,
            code=result.code,
            authorisation=result.authorisation,
            masked_pan=result.masked_pan,
            contactless=result.contactless,
            slip_text=result.slip_text,
            failure=result.failure,
            confirmed_by_cashier=result.code is CardCode.CONFIRMED,
            done_at=at if result.status != "pending" else None,
        )

    def as_payment(self) -> PaymentIn:
        """The basket's payment this approved card payment is: its id the operation's, its reference the
        authorisation (what the finalize checks)."""
        return PaymentIn(
            payment_id=self.operation_id, method=PaymentMethod.CARD, amount=self.amount, reference=self.authorisation
        )


def _approved_problems(
    money: Sequence[PaymentIn | RefundIn],
    approved: dict[UUID, CardOperation],
    *,
    prefix: str,
    what: str,
    of: str,
    done: str,
    credit_note_id: UUID | None = None,
) -> list[tuple[str, str]]:
    """Why each card amount of `money` is not one of the `approved` operations (same id and amount, and for a
    refund not claimed by another credit note), named `<prefix>[i].payment_id` or `.amount`."""
    problems: list[tuple[str, str]] = []
    for index, paid in enumerate(money):
        if paid.method is not PaymentMethod.CARD:
            continue
        op = approved.get(paid.payment_id)
        if op is None:
            problems.append((f"{prefix}[{index}].payment_id", f"is not a {what} the terminal approved for this {of}"))
        elif op.amount != paid.amount:
            problems.append((f"{prefix}[{index}].amount", f"the terminal {done} {op.amount}"))
        elif credit_note_id is not None and op.claimed_by not in (None, credit_note_id):
            problems.append((f"{prefix}[{index}].payment_id", f"is the refund of credit note {op.claimed_by}"))
    return problems


def card_payment_problems(payments: Sequence[PaymentIn], operations: Sequence[CardOperation]) -> list[tuple[str, str]]:
    """Why a basket with these payments cannot be finalized, given the card operations of that basket: each card
    payment must be one the terminal approved for it (same id and amount), and every approved one must be there
    (money taken is never left out of the sale). Empty: it may be finalized."""
    approved = {op.operation_id: op for op in operations if op.kind == "payment" and op.status == "approved"}
    problems = _approved_problems(
        payments, approved, prefix="content.payments", what="card payment", of="basket", done="approved"
    )
    paid = {payment.payment_id for payment in payments if payment.method is PaymentMethod.CARD}
    problems.extend(
        ("content.payments", f"the card payment {op.operation_id} the terminal approved ({op.amount}) is missing")
        for op in approved.values()
        if op.operation_id not in paid
    )
    return problems


def card_refund_problems(
    refunds: Sequence[RefundIn], operations: Sequence[CardOperation], credit_note_id: UUID
) -> list[tuple[str, str]]:
    """Why a credit note cannot give this money back by card, given the card refunds made on its sale: each card
    refund must be one the terminal approved for that sale (same id and amount), not already given to another
    credit note. Empty: the credit note may reference them."""
    approved = {op.operation_id: op for op in operations if op.kind == "refund" and op.status == "approved"}
    return _approved_problems(
        refunds,
        approved,
        prefix="payments",
        what="card refund",
        of="sale",
        done="refunded",
        credit_note_id=credit_note_id,
    )
