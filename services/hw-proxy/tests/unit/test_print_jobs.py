"""Print jobs on the till over a real SQLite file and a fake pos-api, with no printer configured: a sale's receipt
job is stored in the sale's own transaction and kept as `no_printer` (visible, printable later), a cash movement
and the drawer route store a drawer opening, a job is retried, and the bank deposit slip comes from pos-api's
ESC/POS bytes (PRODUCT.md capability 6)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from test_till_routes import Till, till  # noqa: F401 (the till fixture)
from test_till_selling import cash, chairs, working
from till_examples import AT, example_sale

from hw_proxy.domain.printing import NewPrintJob
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.entrypoints.printer_worker import PrinterWorker


async def jobs(till: Till) -> list[dict[str, Any]]:  # noqa: F811
    worker: PrinterWorker = till.app.state.printing
    await worker.idle.wait()
    return list((await till.http.get("/v1/print-jobs")).json())


async def test_without_a_printer_a_sale_s_receipt_job_is_kept_as_no_printer(till: Till) -> None:  # noqa: F811
    await working(till)
    basket = uuid.uuid4()
    sold = await till.http.post(
        f"/v1/baskets/{basket}/finalize", json={"version": 0, "content": chairs(payments=cash(2400))}
    )
    assert sold.status_code == 201
    [job] = await jobs(till)
    assert (job["kind"], job["ref"], job["state"]) == ("receipt", str(basket), "no_printer")
    assert job["last_reason"] == "no printer is configured for this POS"
    printer = (await till.http.get("/v1/status")).json()["printer"]
    assert (printer["state"], printer["jobs_no_printer"], printer["jobs_waiting"]) == ("not_configured", 1, 0)


async def test_the_receipt_job_is_written_in_the_sale_s_transaction(till: Till) -> None:  # noqa: F811
    await working(till)

    def broken(_: FinalizedSale) -> NewPrintJob:
        raise RuntimeError("the disk is full")

    sale, ticket = example_sale()
    with pytest.raises(RuntimeError):
        await till.store.finalize(lambda _: FinalizedSale(sale, ticket), basket=None, at=AT, print_job=broken)
    assert await till.store.last_number() == 0  # no job, no sale: both or neither
    assert await till.store.sale(sale.ticket_id) is None


async def test_a_cash_movement_and_the_drawer_route_store_a_drawer_opening(till: Till) -> None:  # noqa: F811
    refused = await till.http.post("/v1/drawer/open")
    assert refused.status_code == 409  # outside a session
    await working(till)
    moved = await till.http.post("/v1/session/movements", json={"kind": "addition", "amount": 500, "reason": "fond"})
    opened = await till.http.post("/v1/drawer/open")
    assert opened.status_code == 202
    listed = await jobs(till)
    assert [(j["kind"], j["ref"]) for j in listed] == [
        ("drawer", opened.json()["ref"]),
        ("drawer", moved.json()["movement_id"]),
    ]


async def test_a_job_not_printed_is_retried_a_printed_one_is_a_409_an_unknown_one_a_404(till: Till) -> None:  # noqa: F811
    await working(till)
    await till.http.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize", json={"version": 0, "content": chairs(payments=cash(2400))}
    )
    [job] = await jobs(till)
    retried = await till.http.post(f"/v1/print-jobs/{job['id']}/retry")
    assert (retried.status_code, retried.json()["state"]) == (200, "pending")
    await till.store.print_done(job["id"], AT)
    printed = await till.http.post(f"/v1/print-jobs/{job['id']}/retry")
    assert printed.status_code == 409
    assert printed.headers["content-type"] == "application/problem+json"
    assert (await till.http.post("/v1/print-jobs/999/retry")).status_code == 404


async def test_the_deposit_slip_prints_pos_api_s_escpos_bytes(till: Till) -> None:  # noqa: F811
    session, slip = uuid.uuid4(), b"\x1b@BORDEREAU DE REMISE\n\x1dV\x00"
    till.central.deposit_slips[session] = slip
    queued = await till.http.post(f"/v1/sessions/{session}/deposit-slip/print")
    assert (queued.status_code, queued.json()["kind"]) == (202, "deposit_slip")
    stored = await till.store.print_job(queued.json()["id"])
    assert stored is not None
    assert base64.b64decode(stored.payload) == slip
    assert (await till.http.post(f"/v1/sessions/{uuid.uuid4()}/deposit-slip/print")).status_code == 404
    till.central.reachable = False
    away = await till.http.post(f"/v1/sessions/{session}/deposit-slip/print")
    assert away.status_code == 503
    assert away.headers["content-type"] == "application/problem+json"
