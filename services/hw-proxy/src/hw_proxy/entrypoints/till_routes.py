"""The till's local HTTP API for its web app: the boot status, the cashier's login, the cash session, baskets and
their finalize, the print jobs and the cash drawer.

Everything answers from the till's own store, at once, whether pos-api answers or not; what the central side must
know is queued and sent by the background sender.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.session_api import CountIn
from caisse_contracts.till_views import BasketOut, BasketTotals
from caisse_contracts.tills import INT4_MAX, BasketContent, BasketPut, CreditLineIn, Receipt, RefundIn
from caisse_runtime.http import PROBLEM_JSON
from hw_proxy.domain.cash_session import LocalSession
from hw_proxy.domain.printing import JobKind, JobState, PrinterState, PrinterStatus, PrintJob
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.domain.till_status import TillStatus
from hw_proxy.service_layer.boot import till_view
from hw_proxy.service_layer.cash_session import close_session, continue_session, move_cash, open_session
from hw_proxy.service_layer.login import log_in
from hw_proxy.service_layer.ports import CentralApi, Clock, TillStore
from hw_proxy.service_layer.printing import open_drawer, print_deposit_slip, retry_print_job
from hw_proxy.service_layer.selling import (
    BasketView,
    credit_sale,
    finalize_basket,
    read_basket,
    read_sale,
    reprint_sale,
    save_basket,
)
from hw_proxy.service_layer.till_state import TillState

Pin = Annotated[str, Field(min_length=4, max_length=8, pattern=r"^[0-9]+$")]
PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    operator_id: UUID
    pin: Pin


class CashierOut(BaseModel):
    operator_id: UUID
    name: str
    role: str


class SessionView(BaseModel):
    """The till's cash session as it keeps it."""

    session_id: UUID
    status: Literal["open", "closed"]
    opened_at: AwareDatetime
    operator_ids: list[UUID]
    float_counts: list[CountIn]
    opening_float: StrictInt
    first_ticket_number: StrictInt
    closed_at: AwareDatetime | None


class QueueView(BaseModel):
    """What the till still owes pos-api: pending session operations and sales, and those kept aside for ops."""

    pending_sessions: int
    pending_sales: int
    aside: int
    oldest_pending_at: datetime | None


class PrinterView(BaseModel):
    """The receipt printer as the till last saw it, and the jobs that wait for it."""

    state: PrinterState = Field(
        description="ready, paper_low, paper_out, offline, not_configured, or unknown (not asked yet on this run)."
    )
    reason: str | None
    checked_at: AwareDatetime | None
    jobs_waiting: int = Field(description="Jobs waiting for the printer (pending or being printed).")
    jobs_no_printer: int = Field(description="Jobs kept while no printer was configured (print them by a retry).")


class PrintJobOut(BaseModel):
    """One print job and where it stands."""

    id: int
    kind: JobKind
    ref: str = Field(
        description="The ticket id (receipt, credit note, duplicate), the session id (deposit slip, drawer)"
        " or the cash movement id (drawer)."
    )
    state: JobState
    attempts: int
    last_reason: str | None = Field(description="Why the last attempt did not print.")
    interrupted: bool = Field(description="An attempt was cut mid-way: printed again whole, marked as resumed.")
    created_at: AwareDatetime
    printed_at: AwareDatetime | None


def job_out(job: PrintJob) -> PrintJobOut:
    return PrintJobOut(
        id=job.id,
        kind=job.kind,
        ref=job.ref,
        state=job.state,
        attempts=job.attempts,
        last_reason=job.last_reason,
        interrupted=job.interrupted,
        created_at=job.created_at,
        printed_at=job.printed_at,
    )


class StatusOut(BaseModel):
    """The till's status (PRODUCT.md §1) and what it rests on."""

    status: TillStatus = Field(description="BOOTING, READY_OPEN, READY_CONTINUE or WORKING.")
    reason: str | None = Field(description="Why a BOOTING till cannot sell yet.")
    serial: str | None
    pos_id: UUID | None
    shop_id: UUID | None
    cashier: CashierOut | None
    session: SessionView | None
    last_ticket_number: StrictInt = Field(description="The last number the till gave a sale (0: none yet).")
    queue: QueueView
    printer: PrinterView
    card_operations_pending: StrictInt = Field(
        default=0,
        description="Card operations the cashier must settle (`GET /v1/card-operations?status=pending`): confirm"
        " or void each from the terminal's slip.",
    )


class AsideOut(BaseModel):
    """One entry of the till's queue that pos-api refused: kept, never sent again on its own, for ops to settle."""

    seq: int
    kind: Literal["session", "sale", "credit_note"]
    ref: str = Field(description="The ticket id of a sale; the session or movement id of a session operation.")
    outcome: str | None = Field(description="conflict or failed")
    reason: str | None
    enqueued_at: datetime


class OpenIn(_In):
    float_counts: list[CountIn] = Field(max_length=50, description="The opening float, per denomination.")


class MovementIn(_In):
    kind: Literal["withdrawal", "addition"]
    amount: StrictInt = Field(gt=0, le=100_000_000, description="Minor units.")
    reason: str = Field(min_length=1, max_length=500)


class MovementOut(BaseModel):
    movement_id: UUID
    session_id: UUID
    kind: Literal["withdrawal", "addition"]
    amount: StrictInt
    occurred_at: AwareDatetime


class CloseIn(_In):
    counts: list[CountIn] = Field(max_length=50, description="Every note and coin counted in the drawer.")
    float_kept: list[CountIn] = Field(default_factory=list, max_length=50)
    card_terminal_total: StrictInt | None = Field(default=None, ge=0, le=100_000_000_000)
    comment: str | None = Field(default=None, max_length=2000)


class CloseOut(BaseModel):
    session_id: UUID
    closed_at: AwareDatetime
    last_ticket_number: StrictInt | None
    counted_cash: StrictInt


class FinalizeIn(_In):
    """Finalize a basket: the till gives it its next number itself.

    Without `content`, the basket as last saved is sold and `version` is its version; with `content`, the basket
    as it stands at payment is sold at once, `version` being the version the till last read (0: never saved)."""

    version: StrictInt = Field(ge=0, le=INT4_MAX)
    content: BasketContent | None = None

    @model_validator(mode="after")
    def _new_basket_brings_content(self) -> FinalizeIn:
        if self.version == 0 and self.content is None:
            raise ValueError("version 0 (a basket never saved) needs the basket's content")
        return self


class FinalizedOut(BaseModel):
    """A sale finalized on the till: its ticket (as pos-api books it), its receipt, and whether it was finalized
    before (a retry answered again). It is sent to pos-api in the background (`GET /v1/sales/{ticket_id}`)."""

    ticket: TicketFinalizedV1
    receipt: Receipt
    replayed: bool


class TillCreditNoteIn(BaseModel):
    """A credit note on a sale of this till: which lines (and how many units) are given back, and how the money
    goes back. The till numbers it itself (`CreditNoteIn` without `number`)."""

    model_config = ConfigDict(extra="forbid")

    credit_note_id: UUID = Field(description="Chosen by the web app: a retry with the same id is the same credit note.")
    lines: tuple[CreditLineIn, ...] = Field(min_length=1, max_length=500)
    payments: tuple[RefundIn, ...] = Field(min_length=1, max_length=10)
    operator_id: UUID | None = Field(default=None, description="None: the cashier logged in.")


class CreditedOut(BaseModel):
    """A credit note made on the till: its ticket (kind `credit_note`), its receipt (`original_number` the sale's),
    and whether it was made before (a retry answered again). It is sent to pos-api in the background."""

    ticket: TicketFinalizedV1
    receipt: Receipt
    replayed: bool


class ReprintOut(BaseModel):
    """A receipt printed again, a sale's or a credit note's: marked as a duplicate (*duplicata*) with its counter
    (1: the first reprint), kept per ticket."""

    receipt: Receipt
    duplicate: Literal[True] = True
    duplicate_number: StrictInt = Field(ge=1, description="This reprint's number among the ticket's reprints.")


class SaleOut(BaseModel):
    """A sale of the till and where its sending to pos-api stands."""

    ticket: TicketFinalizedV1
    sync_state: Literal["pending", "sent", "aside"] | None = Field(description="None: not queued (never).")
    outcome: str | None = Field(description="pos-api's answer: created, already_exists, conflict, failed.")
    reason: str | None


def basket_out(view: BasketView) -> BasketOut:
    basket = view.basket
    return BasketOut(
        id=basket.basket_id,
        version=basket.version,
        status=basket.status,
        ticket_id=basket.ticket_id,
        content=basket.content,
        computed=BasketTotals.model_validate(view.computed.as_dict()),
    )


def session_view(session: LocalSession) -> SessionView:
    return SessionView(
        session_id=session.session_id,
        status=session.status,
        opened_at=session.opened_at,
        operator_ids=list(session.operator_ids),
        float_counts=list(session.float_counts),
        opening_float=session.opening_float,
        first_ticket_number=session.first_ticket_number,
        closed_at=session.closed_at,
    )


def till_routes(
    store: TillStore,
    central: CentralApi,
    state: TillState,
    *,
    clock: Clock,
    new_id: Callable[[], UUID],
    queued: Callable[[], None],
    forward: Callable[[FinalizedSale], None],
    forward_credit_note: Callable[[TicketFinalizedV1], None],
    to_print: Callable[[], None],
    printer: PrinterStatus,
) -> APIRouter:
    """`/v1/status`, `/v1/cashier/login`, `/v1/session/…`, `/v1/baskets/…`, `/v1/sales/…`, `/v1/queue`,
    `/v1/print-jobs`, `/v1/drawer` over the till's store and state; `queued` wakes the sender after something was
    queued, `forward` hands a sale just finalized to pos-api in the background, `forward_credit_note` a credit note
    just made, `to_print` wakes the printer worker after a print job was stored; `printer` is its last view."""
    router = APIRouter(prefix="/v1", tags=["till"])

    @router.get("/status", summary="The till's status (BOOTING → READY_OPEN / READY_CONTINUE → WORKING)")
    async def get_status() -> StatusOut:
        view = await till_view(store, state)
        counts = await store.queue_counts()
        jobs = await store.print_jobs(1_000)
        cashier = state.cashier
        credentials = state.identity.credentials
        return StatusOut(
            status=view.status.status,
            reason=view.status.reason,
            serial=credentials.serial if credentials else None,
            pos_id=view.place.pos.id if view.place else None,
            shop_id=view.place.shop.id if view.place else None,
            cashier=CashierOut(operator_id=cashier.operator_id, name=cashier.name, role=cashier.role.value)
            if cashier
            else None,
            session=session_view(view.session) if view.session else None,
            last_ticket_number=view.last_number,
            queue=QueueView(
                pending_sessions=counts.pending_sessions,
                pending_sales=counts.pending_sales,
                aside=counts.aside,
                oldest_pending_at=counts.oldest_pending_at,
            ),
            printer=PrinterView(
                state=printer.state,
                reason=printer.reason,
                checked_at=printer.checked_at,
                jobs_waiting=sum(j.state in ("pending", "printing") for j in jobs),
                jobs_no_printer=sum(j.state == "no_printer" for j in jobs),
            ),
            card_operations_pending=len(await store.card_operations(status="pending")),
        )

    @router.post(
        "/cashier/login",
        summary="A cashier of this shop logs in with their PIN (checked by pos-api, or offline by the till)",
        responses={401: PROBLEM, 409: PROBLEM, 429: PROBLEM},
    )
    async def post_login(body: LoginIn) -> CashierOut:
        cashier = await log_in(store, central, state, body.operator_id, body.pin, clock())
        return CashierOut(operator_id=cashier.operator_id, name=cashier.name, role=cashier.role.value)

    @router.post(
        "/session/open",
        status_code=201,
        summary="Open a cash session with its counted float (READY_OPEN → WORKING)",
        responses={409: PROBLEM, 422: PROBLEM},
    )
    async def post_open(body: OpenIn) -> SessionView:
        opened = await open_session(store, state, body.float_counts, now=clock(), new_id=new_id)
        queued()
        return session_view(opened)

    @router.post(
        "/session/continue",
        summary="Take up the session left open (READY_CONTINUE → WORKING)",
        responses={409: PROBLEM},
    )
    async def post_continue() -> SessionView:
        return session_view(await continue_session(store, state))

    @router.post(
        "/session/movements",
        status_code=201,
        summary="Cash taken out of or put into the drawer",
        responses={409: PROBLEM, 422: PROBLEM},
    )
    async def post_movement(body: MovementIn) -> MovementOut:
        moved = await move_cash(store, state, body.kind, body.amount, body.reason, now=clock(), new_id=new_id)
        queued()
        to_print()
        return MovementOut(
            movement_id=moved.movement_id,
            session_id=moved.session_id,
            kind=moved.kind,
            amount=moved.amount,
            occurred_at=moved.occurred_at,
        )

    @router.post(
        "/session/close",
        summary="Close the session by counting every denomination (WORKING → READY_OPEN)",
        responses={409: PROBLEM, 422: PROBLEM},
    )
    async def post_close(body: CloseIn) -> CloseOut:
        closed = await close_session(
            store,
            state,
            body.counts,
            float_kept=body.float_kept,
            comment=body.comment,
            card_terminal_total=body.card_terminal_total,
            now=clock(),
        )
        queued()
        return CloseOut(
            session_id=closed.session_id,
            closed_at=closed.closed_at,
            last_ticket_number=closed.last_ticket_number,
            counted_cash=sum(c.value * c.count for c in closed.counts),
        )

    @router.put(
        "/baskets/{basket_id}",
        summary="Save the basket (the version read, 0 for a new one); priced locally, as pos-api prices it",
        responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    async def put_basket(basket_id: UUID, body: BasketPut, response: Response) -> BasketOut:
        view = await save_basket(store, state, basket_id, body.version, body.content, now=clock())
        response.headers["ETag"] = f'"{view.basket.version}"'
        return basket_out(view)

    @router.get(
        "/baskets/{basket_id}",
        summary="The basket with its totals, computed from the till's config",
        responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    async def get_basket(basket_id: UUID, response: Response) -> BasketOut:
        view = await read_basket(store, state, basket_id)
        response.headers["ETag"] = f'"{view.basket.version}"'
        return basket_out(view)

    @router.post(
        "/baskets/{basket_id}/finalize",
        status_code=201,
        summary="Finalize with the till's next number (stored with it in one transaction); the receipt at once",
        responses={
            200: {"model": FinalizedOut, "description": "Finalized before: the same sale"},
            404: PROBLEM,
            409: PROBLEM,
            422: PROBLEM,
        },
    )
    async def post_finalize(basket_id: UUID, body: FinalizeIn, response: Response) -> FinalizedOut:
        done = await finalize_basket(store, state, basket_id, body.version, body.content, now=clock())
        if done.replayed:
            response.status_code = 200
        else:
            to_print()
            forward(done.sale)
        return FinalizedOut(ticket=done.sale.ticket, receipt=done.receipt, replayed=done.replayed)

    @router.get("/sales/{ticket_id}", summary="A sale of the till and its sending", responses={404: PROBLEM})
    async def get_sale(ticket_id: UUID) -> SaleOut:
        view = await read_sale(store, ticket_id)
        entry = view.entry
        return SaleOut(
            ticket=view.sale.ticket,
            sync_state=entry.state if entry else None,
            outcome=entry.outcome if entry else None,
            reason=entry.reason if entry else None,
        )

    @router.post(
        "/sales/{ticket_id}/credit-notes",
        status_code=201,
        summary="A credit note on a sale of this till, numbered and stored in one transaction; its receipt at once",
        responses={
            200: {"model": CreditedOut, "description": "Made before: the same credit note"},
            404: PROBLEM,
            409: {
                **PROBLEM,
                "description": "No open session, or `credit_note_id` already names a credit note that gives back "
                "other lines, other refunds or is on another sale: each differing field named, nothing written",
            },
            422: PROBLEM,
        },
    )
    async def post_credit_note(ticket_id: UUID, body: TillCreditNoteIn, response: Response) -> CreditedOut:
        """The same `credit_note_id` sent again with the same body answers the credit note made (200, `replayed`);
        with another body it is a 409 naming the fields that differ (`lines[0].quantity`, `payments[0].method`…)."""
        done = await credit_sale(
            store,
            state,
            ticket_id,
            body.credit_note_id,
            body.lines,
            body.payments,
            body.operator_id,
            now=clock(),
        )
        if done.replayed:
            response.status_code = 200
        else:
            to_print()
            forward_credit_note(done.ticket)
        return CreditedOut(ticket=done.ticket, receipt=done.receipt, replayed=done.replayed)

    @router.post(
        "/sales/{ticket_id}/reprint",
        summary="The receipt of a sale or a credit note of this till again, marked as a duplicate with its counter",
        responses={404: PROBLEM, 409: PROBLEM},
    )
    async def post_reprint(ticket_id: UUID) -> ReprintOut:
        """`ticket_id` is a sale's id or a credit note's (`credit_note_id`): each ticket counts its own reprints, and
        a credit note's receipt names its sale's number again."""
        again = await reprint_sale(store, state, ticket_id, now=clock())
        to_print()
        return ReprintOut(receipt=again.receipt, duplicate_number=again.duplicate)

    @router.get("/queue/aside", summary="What pos-api refused (conflict, failed), kept aside with the reason")
    async def get_aside() -> list[AsideOut]:
        return [
            AsideOut(seq=e.seq, kind=e.kind, ref=e.ref, outcome=e.outcome, reason=e.reason, enqueued_at=e.enqueued_at)
            for e in await store.aside()
        ]

    @router.get("/print-jobs", summary="The latest print jobs, newest first, and where each stands")
    async def get_print_jobs(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[PrintJobOut]:
        return [job_out(j) for j in await store.print_jobs(limit)]

    @router.post(
        "/print-jobs/{job_id}/retry",
        summary="Print a job again that did not print (no printer then, a drawer the printer could not open)",
        responses={404: PROBLEM, 409: PROBLEM},
    )
    async def post_print_job_retry(job_id: int) -> PrintJobOut:
        job = await retry_print_job(store, job_id, now=clock())
        to_print()
        return job_out(job)

    @router.post(
        "/drawer/open", status_code=202, summary="Open the cash drawer (in a session)", responses={409: PROBLEM}
    )
    async def post_open_drawer() -> PrintJobOut:
        job = await open_drawer(store, state, now=clock())
        to_print()
        return job_out(job)

    @router.post(
        "/sessions/{session_id}/deposit-slip/print",
        status_code=202,
        summary="Print the session's bank deposit slip (session-service's ESC/POS, through pos-api)",
        responses={404: PROBLEM, 422: PROBLEM, 503: PROBLEM},
    )
    async def post_print_deposit_slip(session_id: UUID) -> PrintJobOut:
        job = await print_deposit_slip(store, central, session_id, now=clock())
        to_print()
        return job_out(job)

    return router
