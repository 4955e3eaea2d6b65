"""A till whose numbers pos-api already holds (restored from an old backup) refuses to sell and reports why; ops'
release lets it resume after pos-api's last number without a restart, and only while that is still the last
number. The till reports itself to pos-api for ops: its last number, a clash, and what it keeps aside."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from test_till_routes import PIN, Till, seed
from test_till_selling import chairs, working
from till_examples import AT, CASHIER, SERIAL, FakeCentral

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.sync import OfflineSale, SaleProblem, SaleResult, SyncAnswer
from caisse_contracts.till_reports import NumberingRelease, TillReport
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.service_layer.ports import CentralRefusedError

OPS = uuid.uuid4()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)


def release(after: int) -> NumberingRelease:
    return NumberingRelease(
        pos_id=uuid.uuid4(), resume_after=after, reason="restored from backup", released_by=OPS, released_at=AT
    )


async def started(tmp_path: Path, central: FakeCentral) -> AsyncIterator[Till]:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    settings = Settings(
        store_path=path,
        device_serial=SERIAL,
        device_secret="s3cret",
        notifier_url="ws://127.0.0.1:9",
        number_recheck_s=0.05,
    )
    app: FastAPI = build_app(settings, central=central)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        await app.state.boot_checked.wait()
        yield Till(http, central, app)


@pytest.fixture
async def restored(tmp_path: Path) -> AsyncIterator[Till]:
    """A till with no sale of its own, while pos-api holds its numbers up to 41."""
    central = FakeCentral(pins={CASHIER: PIN}, last_number=41)
    async for till in started(tmp_path, central):
        yield till


async def status(till: Till) -> dict[str, object]:
    body: dict[str, object] = (await till.http.get("/v1/status")).json()
    return body


async def test_a_restored_till_refuses_to_sell_and_reports_the_clash_for_ops(restored: Till) -> None:
    body = await status(restored)
    assert body["status"] == "BOOTING"
    assert "41" in str(body["reason"])
    refused = await restored.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})
    assert refused.status_code == 409

    async def clash_reported() -> bool:
        return any(r.number_clash is not None for r in restored.central.reports)

    await eventually(clash_reported, "the clash reported to pos-api")
    report = restored.central.reports[-1]
    assert (report.local_last_number, report.aside_count) == (0, 0)
    assert "41" in str(report.number_clash)


async def test_released_by_ops_the_till_resumes_after_the_central_last_number_without_a_restart(
    restored: Till,
) -> None:
    restored.central.release = release(41)

    async def ready() -> bool:
        return (await status(restored))["status"] == "READY_OPEN"

    await eventually(ready, "the till released")
    assert (await status(restored))["last_ticket_number"] == 41
    await working(restored)
    basket = uuid.uuid4()
    paid = chairs(payments=[{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 2400}])
    done = await restored.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 0, "content": paid})
    assert done.status_code == 201, done.text
    assert done.json()["ticket"]["number"] == 42, "the next number after pos-api's last, none reused"

    async def cleared() -> bool:
        return bool(restored.central.reports) and restored.central.reports[-1].number_clash is None

    await eventually(cleared, "a report without the clash")
    assert restored.central.reports[-1].local_last_number >= 41


async def test_a_release_for_an_older_central_number_does_not_free_the_till(restored: Till) -> None:
    """Given for 40, while pos-api now holds 41: another device sold on under the serial since."""
    restored.central.release = release(40)
    before = len(restored.central.reports)

    async def rechecked() -> bool:
        return len(restored.central.reports) >= before + 2

    await eventually(rechecked, "two more checks and reports")
    body = await status(restored)
    assert (body["status"], body["last_ticket_number"]) == ("BOOTING", 0)


async def test_a_till_out_of_reach_at_boot_sells_as_it_was_and_reports_once_pos_api_answers(tmp_path: Path) -> None:
    central = FakeCentral(pins={CASHIER: PIN}, reachable=False)
    async for till in started(tmp_path, central):
        assert (await status(till))["status"] == "READY_OPEN"
        assert central.reports == []
        central.reachable = True
        till.app.state.watch.nudge()

        async def reported() -> bool:
            return bool(central.reports)

        await eventually(reported, "a report once pos-api answers")


class RefusingCentral(FakeCentral):
    """pos-api that already holds another sale under each number the till sends, online or synced."""

    async def post_ticket(self, ticket: TicketFinalizedV1) -> str:
        self._reach()
        raise CentralRefusedError(409, f"number {ticket.number} is already used by another ticket")

    async def sync_sales(self, sales: list[OfflineSale]) -> SyncAnswer:
        self._reach()
        problem = SaleProblem(type="about:blank", title="Ticket number already used", status=409, detail="")
        results = tuple(
            SaleResult(
                index=i,
                outcome="conflict",
                ticket_id=s.ticket_id,
                number=s.number,
                problem=problem.model_copy(update={"detail": f"number {s.number} is already used by another ticket"}),
            )
            for i, s in enumerate(sales)
        )
        return SyncAnswer(results=results, created=0, already_exists=0, conflicts=len(sales), failed=0)


async def test_a_sale_kept_aside_is_reported_to_ops_at_once_with_its_number_and_reason(tmp_path: Path) -> None:
    central = RefusingCentral(pins={CASHIER: PIN})
    async for till in started(tmp_path, central):
        await working(till)
        basket = uuid.uuid4()
        paid = chairs(payments=[{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 2400}])
        done = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 0, "content": paid})
        assert done.status_code == 201, done.text

        def last() -> TillReport | None:
            return central.reports[-1] if central.reports else None

        async def aside_reported() -> bool:
            report = last()
            return report is not None and report.aside_count == 1

        await eventually(aside_reported, "the entry kept aside reported", timeout_s=2.0)
        report = last()
        assert report is not None
        [entry] = report.aside
        assert (entry.kind, entry.ref, entry.number, entry.outcome) == ("sale", str(basket), 1, "conflict")
        assert entry.reason == "number 1 is already used by another ticket"
        assert report.reported_at - AT > timedelta(0)
