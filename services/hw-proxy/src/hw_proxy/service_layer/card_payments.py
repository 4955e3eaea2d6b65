"""Use cases of paying and refunding by card on the POS's terminal, and of settling what a crash left pending.

A payment (of an open basket) or a refund (of a sale of this till) is written PENDING in the till's store before the
terminal is called; its id is the web app's idempotency id, so a retry never calls the terminal twice: it answers
the operation as it stands. The terminal's final answer settles it in one transaction: approved, a payment goes
into its basket (the payment's id the operation's, its reference the authorisation) and the finalize then accepts
it; declined, abandoned or timed out on the terminal, the basket stays unpaid and the cashier reads why. With no
final answer (the client timeout, the connection cut, an unreadable answer) or a till that died meanwhile, the
operation stays pending: the cashier reads the terminal's slip and confirms or voids it, and until then the basket
cannot be finalized nor another card operation begun.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.caisse_ap import Action, AnswerMode, PaymentRequest
from caisse_contracts.config import CardAnswerMode, CardTerminalFields
from caisse_contracts.events.tickets import PaymentMethod
from caisse_contracts.money import CURRENCIES, Currency
from caisse_contracts.pricing import PricingRefusedError
from hw_proxy.domain.card_payments import CardCode, CardKind, CardOperation, CardResult, result_of
from hw_proxy.domain.errors import BasketRefusedError, CardOperationConflictError, FieldError, NotFoundError
from hw_proxy.domain.selling import compute
from hw_proxy.domain.till_status import Place, TillStatus
from hw_proxy.service_layer.boot import ready_to
from hw_proxy.service_layer.ports import (
    CardTerminal,
    Clock,
    TerminalUnansweredError,
    TerminalUnreachableError,
    TillStore,
)
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CardView:
    """A card operation as the cashier sees it: its code says why it stands where it does (a pending one that is
    not with the terminal now was cut short: `interrupted`), `basket_version` the basket's version once an approved
    payment went into it, `replayed` that it was asked before (the terminal was not called again)."""

    operation: CardOperation
    code: CardCode
    with_terminal: bool
    basket_version: int | None = None
    replayed: bool = False


def card_view(
    operation: CardOperation, state: TillState, *, basket_version: int | None = None, replayed: bool = False
) -> CardView:
    with_terminal = operation.operation_id in state.card_in_flight
    code = operation.code
    if operation.status == "pending" and code is CardCode.IN_PROGRESS and not with_terminal:
        code = CardCode.INTERRUPTED
    return CardView(operation, code, with_terminal, basket_version, replayed)


def _terminal_of(place: Place) -> tuple[CardTerminalFields, Currency]:
    setup = place.pos.card_terminal
    if setup is None:
        raise CardOperationConflictError("this POS has no card terminal in its config")
    currency = CURRENCIES.get(place.territory.currency)
    if currency is None:
        raise CardOperationConflictError(f"no ISO 4217 numeric code is known for {place.territory.currency}")
    return setup, currency


async def _same_again(
    store: TillStore, state: TillState, operation_id: UUID, kind: CardKind, ref: UUID, amount: int
) -> CardView | None:
    """The operation of this id made before (a retry), if any; an id reused for another operation is refused."""
    made = await store.card_operation(operation_id)
    if made is None:
        return None
    if made.kind != kind or (made.basket_id if kind == "payment" else made.ticket_id) != ref or made.amount != amount:
        raise FieldError("operation_id", "names another card operation")
    return card_view(made, state, replayed=True)


async def _call_terminal(
    terminal: CardTerminal, setup: CardTerminalFields, request: PaymentRequest, currency: Currency
) -> CardResult:
    try:
        answer = await terminal.transact(setup, request)
    except TerminalUnreachableError as away:
        log.warning("card terminal unreachable, nothing sent: %s", away)
        return CardResult("declined", CardCode.UNREACHABLE)
    except TerminalUnansweredError as silent:
        log.warning("card terminal: no final answer (%s), the operation stays pending", silent)
        return CardResult("pending", CardCode(silent.code))
    return result_of(answer, request, currency)


async def _run(
    store: TillStore,
    terminal: CardTerminal,
    state: TillState,
    operation: CardOperation,
    setup: CardTerminalFields,
    currency: Currency,
    clock: Clock,
) -> CardView:
    began, written = await store.begin_card_operation(operation)
    if not written:  # the same id came in meanwhile: it is that operation
        return card_view(began, state, replayed=True)
    request = PaymentRequest(
        amount=operation.amount,
        currency_numeric=currency.numeric,
        action=Action.DEBIT if operation.kind == "payment" else Action.REFUND,
        till_number=setup.till_number,
        answer_mode=AnswerMode.IMMEDIATE if setup.answer_mode is CardAnswerMode.IMMEDIATE else AnswerMode.AT_END,
    )
    state.card_in_flight.add(operation.operation_id)
    try:
        result = await _call_terminal(terminal, setup, request, currency)
        done, version = await store.settle_card_operation(operation.operation_id, result, clock())
    finally:
        state.card_in_flight.discard(operation.operation_id)
    log.info("card %s %s of %s: %s", operation.kind, operation.operation_id, operation.amount, done.code.value)
    return card_view(done, state, basket_version=version)


async def pay_by_card(
    store: TillStore,
    terminal: CardTerminal,
    state: TillState,
    basket_id: UUID,
    operation_id: UUID,
    amount: int,
    *,
    clock: Clock,
) -> CardView:
    """Take `amount` (at most what is left to pay) from a card on the terminal for an open basket."""
    view = await ready_to(store, state, TillStatus.WORKING)
    assert view.place is not None  # noqa: S101 (WORKING knows its place)
    setup, currency = _terminal_of(view.place)
    again = await _same_again(store, state, operation_id, "payment", basket_id, amount)
    if again is not None:
        return again
    basket = await store.basket(basket_id)
    if basket is None:
        raise NotFoundError("basket", basket_id)
    if basket.status != "open":
        raise CardOperationConflictError("the basket is finalized: a card payment goes to an open basket")
    try:
        computed = compute(basket.content, state.views.selling(await store.items(), view.place))
    except PricingRefusedError as refused:
        raise BasketRefusedError([(f"content.{p.field}", p.reason) for p in refused.problems]) from None
    if amount > computed.remaining:
        raise FieldError("amount", f"is more than the {computed.remaining} left to pay")
    operation = CardOperation(
        operation_id, "payment", amount, currency.code, "pending", CardCode.IN_PROGRESS, clock(), basket_id=basket_id
    )
    return await _run(store, terminal, state, operation, setup, currency, clock)


async def refund_by_card(
    store: TillStore,
    terminal: CardTerminal,
    state: TillState,
    ticket_id: UUID,
    operation_id: UUID,
    amount: int,
    *,
    clock: Clock,
) -> CardView:
    """Give `amount` back to a card on the terminal for a sale of this till (at most what was paid by card on it,
    less the card refunds already made): a credit note then references this refund as its card payment back."""
    view = await ready_to(store, state, TillStatus.WORKING)
    assert view.place is not None  # noqa: S101 (WORKING knows its place)
    setup, currency = _terminal_of(view.place)
    again = await _same_again(store, state, operation_id, "refund", ticket_id, amount)
    if again is not None:
        return again
    found = await store.sale(ticket_id)
    if found is None:
        raise NotFoundError("sale", ticket_id)
    paid = sum(p.amount for p in found[0].ticket.payments if p.method is PaymentMethod.CARD)
    refunded = sum(
        op.amount for op in await store.card_operations(ticket_id=ticket_id) if op.status in ("approved", "pending")
    )
    if amount > paid - refunded:
        raise FieldError("amount", f"is more than the {paid - refunded} paid by card and not refunded yet")
    operation = CardOperation(
        operation_id, "refund", amount, currency.code, "pending", CardCode.IN_PROGRESS, clock(), ticket_id=ticket_id
    )
    return await _run(store, terminal, state, operation, setup, currency, clock)


async def _pending_here(store: TillStore, state: TillState, operation_id: UUID) -> CardOperation:
    operation = await store.card_operation(operation_id)
    if operation is None:
        raise NotFoundError("card operation", operation_id)
    if operation.status != "pending":
        raise CardOperationConflictError(f"this card operation is {operation.status} already", operation_id)
    if operation_id in state.card_in_flight:
        raise CardOperationConflictError("the terminal is still being asked: wait for its answer", operation_id)
    return operation


async def confirm_card_operation(
    store: TillStore, state: TillState, operation_id: UUID, authorisation: str | None, *, clock: Clock
) -> CardView:
    """The cashier read on the terminal's slip that a pending operation went through: it is approved (marked as
    confirmed by the cashier, with the slip's authorisation), a payment goes into its basket."""
    await _pending_here(store, state, operation_id)
    result = CardResult("approved", CardCode.CONFIRMED, authorisation=authorisation)
    done, version = await store.settle_card_operation(operation_id, result, clock())
    log.info("card %s %s confirmed by the cashier", done.kind, operation_id)
    return card_view(done, state, basket_version=version)


async def void_card_operation(store: TillStore, state: TillState, operation_id: UUID, *, clock: Clock) -> CardView:
    """The cashier read on the terminal's slip (or its absence) that a pending operation did not go through: it is
    voided, the basket stays unpaid by it."""
    await _pending_here(store, state, operation_id)
    done, _ = await store.settle_card_operation(operation_id, CardResult("voided", CardCode.VOIDED), clock())
    log.info("card %s %s voided by the cashier", done.kind, operation_id)
    return card_view(done, state)


async def read_card_operation(store: TillStore, state: TillState, operation_id: UUID) -> CardView:
    operation = await store.card_operation(operation_id)
    if operation is None:
        raise NotFoundError("card operation", operation_id)
    return card_view(operation, state)
