"""Use cases of the till's printer: print the oldest job waiting, ask the printer its state while idle, open the
drawer on demand, print the bank deposit slip, list the jobs and retry one.

A job is printed whole or not at all as far as the till can tell: the printer's state is read first (paper,
on line) and nothing is sent to a printer that cannot print; a job cut in the middle (the connection dropped, or
the till stopped while sending) is printed again whole, marked on the paper as a resumed print, because a receipt
half printed is worth less to the customer than one line printed twice. Nothing here ever holds a sale back.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from caisse_contracts.config import PrinterFields
from hw_proxy.domain.errors import FieldError, NotFoundError, PosApiUnreachableError, PrintJobPrintedError
from hw_proxy.domain.printing import NewPrintJob, PrinterState, PrinterStatus, PrintJob
from hw_proxy.domain.receipts import PrintDocument, ReceiptPrint, document_of, drawer_document
from hw_proxy.domain.till_status import TillStatus
from hw_proxy.service_layer.boot import ready_to
from hw_proxy.service_layer.ports import (
    CentralApi,
    CentralRefusedError,
    CentralUnreachableError,
    JobInterruptedError,
    PrinterUnavailableError,
    ReceiptPrinter,
    ReceiptRenderer,
    TillStore,
)
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)

Outcome = Literal["idle", "printed", "waiting"]


@dataclass(frozen=True, slots=True)
class PrinterSetup:
    """The POS's printer as configured now, and the shop's logo for the receipts."""

    printer: PrinterFields | None
    logo: bytes | None


async def printer_setup(store: TillStore, state: TillState) -> PrinterSetup:
    """The printer and the logo from the config cache (none while the till does not know its place)."""
    credentials = state.identity.credentials
    place = state.views.place(await store.items(), credentials.serial) if credentials is not None else None
    if place is None:
        return PrinterSetup(None, None)
    logo = place.shop.receipt_logo_png
    return PrinterSetup(place.pos.printer, base64.b64decode(logo) if logo else None)


def document_for(job: PrintJob, setup: PrinterSetup, printer: PrinterFields) -> PrintDocument | bytes:
    """What the job puts on the paper: a document laid out for this printer, or the bytes as given (a deposit
    slip rendered by session-service)."""
    if job.kind == "drawer":
        return drawer_document()
    if job.kind == "deposit_slip":
        return base64.b64decode(job.payload)
    resumed = job.state == "printing" or job.interrupted
    return document_of(
        ReceiptPrint.model_validate_json(job.payload),
        paper_width_mm=printer.paper_width_mm,
        logo=setup.logo,
        resumed=resumed,
    )


async def print_next(
    store: TillStore,
    state: TillState,
    printer: ReceiptPrinter,
    renderer: ReceiptRenderer,
    status: PrinterStatus,
    *,
    now: datetime,
) -> Outcome:
    """Print the oldest job waiting: `printed`; `waiting` when the printer cannot take it now (it stays first in
    line, with the reason); `idle` when nothing waits, or when no printer is configured (the jobs are then kept
    as `no_printer`)."""
    job = await store.next_print_job()
    if job is None:
        return "idle"
    setup = await printer_setup(store, state)
    if setup.printer is None:
        kept = await store.print_without_printer(now)
        status.seen(PrinterState.NOT_CONFIGURED, "no printer is configured for this POS", now)
        log.info("no printer configured: %d print job(s) kept as no_printer", kept)
        return "idle"
    document = document_for(job, setup, setup.printer)
    data = document if isinstance(document, bytes) else renderer.render(document, setup.printer)
    await store.print_started(job.id, now)
    try:
        await printer.send(setup.printer, data)
    except PrinterUnavailableError as unavailable:
        status.seen(PrinterState(unavailable.state), unavailable.reason, now)
        if job.kind == "drawer":  # a drawer opened late, unasked, is worse than not at all: the cashier retries
            await store.print_failed(job.id, unavailable.reason, now, interrupted=False, state="abandoned")
            return "printed"
        await store.print_failed(job.id, unavailable.reason, now, interrupted=job.state == "printing")
        return "waiting"
    except JobInterruptedError as cut:
        status.seen(PrinterState.OFFLINE, str(cut), now)
        await store.print_failed(job.id, str(cut), now, interrupted=True)
        log.warning("print job %d cut mid-way (%s): it is printed again whole", job.id, cut)
        return "waiting"
    status.seen(PrinterState.READY, None, now)
    await store.print_done(job.id, now)
    return "printed"


STATE_REASONS: dict[PrinterState, str | None] = {
    PrinterState.READY: None,
    PrinterState.PAPER_LOW: "the paper runs low",
    PrinterState.PAPER_OUT: "the printer is out of paper",
    PrinterState.OFFLINE: "the printer does not answer, or is off line (cover open, or an error)",
    PrinterState.UNKNOWN: None,
}


async def check_printer(
    store: TillStore, state: TillState, printer: ReceiptPrinter, status: PrinterStatus, *, now: datetime
) -> PrinterState:
    """Ask the printer its state while nothing waits to print (the same status requests as before a job), so the
    cashier sees paper out or off line before the next sale rather than after it."""
    setup = await printer_setup(store, state)
    if setup.printer is None:
        status.seen(PrinterState.NOT_CONFIGURED, "no printer is configured for this POS", now)
        return PrinterState.NOT_CONFIGURED
    seen = await printer.state(setup.printer)
    status.seen(seen, STATE_REASONS.get(seen), now)
    return seen


async def open_drawer(store: TillStore, state: TillState, *, now: datetime) -> PrintJob:
    """Open the cash drawer on demand (a cashier in a session): a job of its own, first in line once earlier
    jobs are done."""
    view = await ready_to(store, state, TillStatus.WORKING)
    assert view.session is not None  # noqa: S101 (WORKING is an open session)
    return await store.add_print_job(NewPrintJob("drawer", str(view.session.session_id), ""), now)


async def print_deposit_slip(store: TillStore, central: CentralApi, session_id: UUID, *, now: datetime) -> PrintJob:
    """The bank deposit slip of a closed session, as session-service renders it in ESC/POS (through pos-api),
    printed as a job. pos-api out of reach: `PosApiUnreachableError` (nothing queued: the slip comes from there)."""
    try:
        data = await central.deposit_slip(session_id)
    except CentralUnreachableError as away:
        raise PosApiUnreachableError(str(away)) from None
    except CentralRefusedError as refused:
        if refused.status == 404:
            raise NotFoundError("session", session_id) from None
        raise FieldError("session_id", refused.detail or f"refused by pos-api ({refused.status})") from None
    return await store.add_print_job(
        NewPrintJob("deposit_slip", str(session_id), base64.b64encode(data).decode("ascii")), now
    )


async def retry_print_job(store: TillStore, job_id: int, *, now: datetime) -> PrintJob:
    """A job that did not print made to wait for the printer again; a printed one is refused (a receipt is
    printed again only as a DUPLICATA, `POST /v1/sales/{id}/reprint`)."""
    job = await store.retry_print_job(job_id, now)
    if job is None:
        raise NotFoundError("print job", str(job_id))
    if job.state == "printed":
        raise PrintJobPrintedError(job_id)
    return job
