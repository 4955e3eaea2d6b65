"""Use cases of selling on the till: a basket saved and priced locally at every keystroke, and its finalize.

A basket is priced from the config cache with the contracts' pricing (`domain.selling`), so the till answers at
once and exactly as pos-api would. Finalize numbers and stores the sale in ONE SQLite transaction (the till's next
gap-free number, the sale, the basket's end and the sale queued), answers the receipt at once, and is then
forwarded (`forward_sale`): online through `POST /v1/tickets` within the short forward timeout, which marks it
sent; pos-api out of reach, slow or refusing anything but a number conflict, the sale stays queued for the
background sender (`POST /v1/sync/sales`, as the offline sale naming the versions it was priced with). Both routes
book the same ticket: a sale sent twice is answered `already_exists`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from caisse_contracts.basket import ComputedBasket
from caisse_contracts.credit_notes import CreditNoteRefusedError, credit_note_ticket
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.pricing import PricingRefusedError, receipt_of
from caisse_contracts.tills import BasketContent, CreditLineIn, CreditNoteIn, Receipt, RefundIn
from hw_proxy.domain.errors import (
    BasketRefusedError,
    CardOperationConflictError,
    CreditNoteConflictError,
    NotFoundError,
    StaleBasketError,
)
from hw_proxy.domain.outbox import OutboxEntry, Settled
from hw_proxy.domain.printing import NewPrintJob
from hw_proxy.domain.receipts import receipt_job
from hw_proxy.domain.sales import FinalizedSale, Reprint, StoredBasket
from hw_proxy.domain.selling import Selling, compute, credit_note_differences, make_sale, numbered
from hw_proxy.domain.till_status import TillStatus
from hw_proxy.service_layer.boot import TillView, ready_to
from hw_proxy.service_layer.ports import CentralApi, CentralRefusedError, CentralUnreachableError, TillStore
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)

SELLING = (TillStatus.READY_OPEN, TillStatus.READY_CONTINUE, TillStatus.WORKING)
"""A basket may be rung up once the till knows its place; it is finalized only in a session (WORKING)."""


@dataclass(frozen=True, slots=True)
class BasketView:
    """A basket as the till keeps it, with its totals computed now."""

    basket: StoredBasket
    computed: ComputedBasket


@dataclass(frozen=True, slots=True)
class Finalized:
    """A sale the till numbered and stored: its ticket, its receipt, and whether it was finalized before (a retry)."""

    sale: FinalizedSale
    receipt: Receipt
    replayed: bool = False


def _refused(refused: PricingRefusedError) -> BasketRefusedError:
    return BasketRefusedError([(f"content.{p.field}", p.reason) for p in refused.problems])


async def _selling(store: TillStore, state: TillState, *allowed: TillStatus) -> tuple[TillView, Selling]:
    view = await ready_to(store, state, *allowed)
    assert view.place is not None  # noqa: S101 (a till past BOOTING knows its place)
    return view, state.views.selling(await store.items(), view.place)


def _computed(content: BasketContent, selling: Selling) -> ComputedBasket:
    try:
        return compute(content, selling)
    except PricingRefusedError as refused:
        raise _refused(refused) from None


async def save_basket(
    store: TillStore, state: TillState, basket_id: UUID, version: int, content: BasketContent, *, now: datetime
) -> BasketView:
    """Price the basket, then store it over `version` (0: a new one); a stale version is `StaleBasketError`."""
    _, selling = await _selling(store, state, *SELLING)
    computed = _computed(content, selling)
    new_version = await store.save_basket(basket_id, version, content, now)
    return BasketView(StoredBasket(basket_id, new_version, "open", content, None, now), computed)


async def read_basket(store: TillStore, state: TillState, basket_id: UUID) -> BasketView:
    """The basket as last saved, priced with what the till holds now."""
    _, selling = await _selling(store, state, *SELLING)
    basket = await store.basket(basket_id)
    if basket is None:
        raise NotFoundError("basket", basket_id)
    return BasketView(basket, _computed(basket.content, selling))


async def finalize_basket(
    store: TillStore,
    state: TillState,
    basket_id: UUID,
    version: int,
    content: BasketContent | None,
    *,
    now: datetime,
) -> Finalized:
    """Number and store the sale of a paid basket in one transaction; its receipt. The basket's id is the ticket's.

    Without `content` the basket as saved at `version` is sold; with it, the basket as it stands at payment (its
    `version` the one the till last read, 0 for a basket never saved). A basket finalized already answers its
    sale again (`replayed`): a finalize retried after a lost answer is safe."""
    view, selling = await _selling(store, state, TillStatus.WORKING)
    assert view.session is not None  # noqa: S101 (WORKING is an open session)
    basket = await store.basket(basket_id)
    if basket is not None and basket.status == "finalized" and basket.ticket_id is not None:
        found = await store.sale(basket.ticket_id)
        if found is not None:
            return Finalized(found[0], _receipt(found[0], selling), replayed=True)
    if content is None:
        if basket is None:
            raise NotFoundError("basket", basket_id)
        if basket.version != version:
            raise StaleBasketError(basket_id, version, basket.version)
        content = basket.content
    pending = await store.card_operations(status="pending", basket_id=basket_id)
    if pending:  # checked again in the finalize's transaction; said first, since it is what the cashier must do
        raise CardOperationConflictError(
            "a card payment of this basket is pending on the terminal: confirm or void it first",
            pending[0].operation_id,
        )
    if content.operator_id is None and state.cashier is not None:
        content = content.model_copy(update={"operator_id": state.cashier.operator_id})
    try:
        draft = make_sale(
            content,
            selling,
            ticket_id=basket_id,
            session_id=view.session.session_id,
            finalized_at=now,
            basket_id=basket_id,
        )
    except PricingRefusedError as refused:
        raise _refused(refused) from None
    # the approved payments' slips, read before: an approved operation never changes, and the finalize's own
    # transaction checks that its card payments are exactly those
    slips = await store.card_slips(basket_id)

    def job(sold: FinalizedSale) -> NewPrintJob:
        return receipt_job("receipt", sold.ticket, _receipt(sold, selling), address=_address(selling), slips=slips)

    done = await store.finalize(
        lambda number: numbered(draft, number),
        basket=(basket_id, version),
        at=now,
        print_job=job,
        card_terminal=selling.place.pos.card_terminal is not None,
    )
    return Finalized(done, _receipt(done, selling))


def _address(selling: Selling) -> str:
    return selling.place.shop.address


def _receipt(done: FinalizedSale, selling: Selling) -> Receipt:
    place = selling.place
    return receipt_of(done.ticket, place.shop, place.pos, place.territory)


@dataclass(frozen=True, slots=True)
class SaleView:
    """A sale the till made and where its sending stands (`pending`, `sent`, `aside` with the reason)."""

    sale: FinalizedSale
    entry: OutboxEntry | None


async def read_sale(store: TillStore, ticket_id: UUID) -> SaleView:
    found = await store.sale(ticket_id)
    if found is None:
        raise NotFoundError("sale", ticket_id)
    return SaleView(*found)


@dataclass(frozen=True, slots=True)
class Reprinted:
    """A receipt printed again, a sale's or a credit note's: a duplicate (*duplicata*, PRODUCT.md §11) with its
    counter, 1 for the first."""

    ticket: TicketFinalizedV1
    receipt: Receipt
    duplicate: int


async def reprint_sale(store: TillStore, state: TillState, ticket_id: UUID, *, now: datetime) -> Reprinted:
    """The receipt of a sale or a credit note made on this till, again, marked as its next duplicate: the counter is
    kept per ticket and moved in one transaction, so two reprints never carry the same number and a reprint is never
    uncounted. A credit note's receipt names its sale's number, as when it was made."""
    _, selling = await _selling(store, state, *SELLING)
    place = selling.place

    def receipt_again(again: Reprint) -> Receipt:
        receipt = receipt_of(again.ticket, place.shop, place.pos, place.territory)
        if again.original_number is not None:
            receipt = receipt.model_copy(update={"original_number": again.original_number})
        return receipt

    def job(again: Reprint) -> NewPrintJob:
        receipt = receipt_again(again)
        return receipt_job(
            "duplicate", again.ticket, receipt, address=_address(selling), duplicate=again.copies, slips=slips
        )

    slips = await store.card_slips(ticket_id)
    found = await store.reprint(ticket_id, now, job)
    if found is None:
        raise NotFoundError("sale or credit note", ticket_id)
    return Reprinted(found.ticket, receipt_again(found), found.copies)


@dataclass(frozen=True, slots=True)
class Credited:
    """A credit note the till numbered and stored: its ticket, its receipt, and whether it was made before."""

    ticket: TicketFinalizedV1
    receipt: Receipt
    replayed: bool = False


async def credit_sale(
    store: TillStore,
    state: TillState,
    original_id: UUID,
    credit_note_id: UUID,
    lines: Sequence[CreditLineIn],
    payments: Sequence[RefundIn],
    operator_id: UUID | None,
    *,
    now: datetime,
) -> Credited:
    """A credit note on a sale of this till (partial or full, with the money given back), made by the contracts'
    builder as pos-api makes it, numbered with the till's next number and stored in ONE transaction; its receipt.

    The same `credit_note_id` again with the same lines, refunds (and operator, when named) answers the credit note
    made (`replayed`); with anything else, or on another sale, it is `CreditNoteConflictError` (409) naming each
    field that differs, and nothing is written. A sale the till does not hold (never made here: another till's) is
    a 404; more given back than sold, a line not of the sale, refunds that do not match, or the id of a sale as
    `credit_note_id` are a 422 naming the field, with no number taken."""
    view, selling = await _selling(store, state, TillStatus.WORKING)
    assert view.session is not None  # noqa: S101 (WORKING is an open session)
    session_id = view.session.session_id
    place = selling.place
    asked_operator = operator_id
    if operator_id is None and state.cashier is not None:
        operator_id = state.cashier.operator_id

    def make(number: int, sale: TicketFinalizedV1, earlier: list[TicketFinalizedV1]) -> TicketFinalizedV1:
        request = CreditNoteIn(
            credit_note_id=credit_note_id,
            number=number,
            lines=tuple(lines),
            payments=tuple(payments),
            operator_id=operator_id,
        )
        return credit_note_ticket(
            sale,
            earlier,
            request,
            pos_id=place.pos.id,
            session_id=session_id,
            now=now,
            territory=place.territory,
            company=place.company,
        )

    def job(ticket: TicketFinalizedV1, original_number: int, slips: tuple[str, ...]) -> NewPrintJob:
        receipt = receipt_of(ticket, place.shop, place.pos, place.territory)
        receipt = receipt.model_copy(update={"original_number": original_number})
        return receipt_job("credit_note", ticket, receipt, address=place.shop.address, slips=slips)

    try:
        ticket, original_number, replayed = await store.credit(
            original_id,
            credit_note_id,
            make,
            now,
            job,
            refunds=payments,
            card_terminal=place.pos.card_terminal is not None,
        )
    except CreditNoteRefusedError as refused:
        raise BasketRefusedError([(p.field, p.reason) for p in refused.problems]) from None
    if replayed and (differing := credit_note_differences(ticket, lines, payments, asked_operator)):
        raise CreditNoteConflictError(differing)
    receipt = receipt_of(ticket, place.shop, place.pos, place.territory)
    return Credited(ticket, receipt.model_copy(update={"original_number": original_number}), replayed)


async def forward_credit_note(
    store: TillStore, central: CentralApi, ticket: TicketFinalizedV1, *, now: datetime
) -> str:
    """Hand a credit note just made to pos-api (`POST /v1/tickets`, short timeout) once the sale it corrects is
    there (sent); otherwise it waits in the queue behind that sale. `sent`, `aside` (refused) or `queued`."""
    assert ticket.original_ticket_id is not None  # noqa: S101 (a credit note names its sale)
    original = await store.entry_of("sale", ticket.original_ticket_id)
    if original is None or original.state != "sent":
        return "queued"
    try:
        outcome = await central.post_ticket(ticket)
    except CentralUnreachableError as away:
        log.info("credit note %s queued for the sync: %s", ticket.number, away)
        return "queued"
    except CentralRefusedError as refused:
        conflict = refused.status == 409
        await store.settle_sale(
            ticket.ticket_id, Settled(0, "aside", "conflict" if conflict else "failed", refused.detail), now
        )
        log.error("credit note %s refused by pos-api, kept aside: %s", ticket.number, refused)
        return "aside"
    await store.settle_sale(ticket.ticket_id, Settled(0, "sent", outcome), now)
    return "sent"


async def forward_sale(store: TillStore, central: CentralApi, done: FinalizedSale, *, now: datetime) -> str:
    """Hand a sale just finalized to pos-api (`POST /v1/tickets`, short timeout): `created` / `already_exists`
    mark it sent; a number conflict keeps it aside for ops; out of reach, slow, or any other refusal leaves it
    queued for the sync, which books a sale made on the till as the sale it was (never refused for its stock).
    Returns what became of it: `sent`, `aside` or `queued`."""
    try:
        outcome = await central.post_ticket(done.ticket)
    except CentralUnreachableError as away:
        log.info("sale %s queued for the sync: %s", done.number, away)
        return "queued"
    except CentralRefusedError as refused:
        if refused.status == 409 and str(refused.body.get("type", "")).endswith("ticket-number-conflict"):
            await store.settle_sale(done.sale.ticket_id, Settled(0, "aside", "conflict", refused.detail), now)
            log.error("sale %s: its number holds another sale in pos-api, kept aside", done.number)
            return "aside"
        log.warning("pos-api refuses sale %s online (%s): the sync will send it", done.number, refused)
        return "queued"
    await store.settle_sale(done.sale.ticket_id, Settled(0, "sent", outcome), now)
    return "sent"
