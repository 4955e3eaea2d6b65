"""The till's queue sent to pos-api: oldest first, a run of one kind per request (a session's open before its
sales), `created` / `already_exists` marking an entry sent, `conflict` / `failed` keeping it aside with the
reason, nothing lost while pos-api is out of reach, and waits that grow with jitter between failed attempts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from till_examples import CASHIER, FakeCentral, example_sale

from caisse_contracts.session_api import CountIn, OpenOperationIn
from caisse_contracts.sync import OfflineSale, SaleProblem, SyncAnswer
from hw_proxy.adapters.store import TillRecords
from hw_proxy.domain.sales import FinalizedSale
from hw_proxy.entrypoints.outbox_sender import OutboxSender
from hw_proxy.service_layer.send_outbox import send_next

AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TillRecords]:
    records = TillRecords(str(tmp_path / "till.sqlite3"))
    await records.open()
    yield records
    await records.close()


async def queue_open_and_sales(store: TillRecords, sales: int) -> list[FinalizedSale]:
    await store.record_open(
        OpenOperationIn(
            op="open",
            session_id=uuid.uuid4(),
            operator_ids=[CASHIER],
            float_counts=[CountIn(value=1000, count=1)],
            opened_at=AT,
        ),
        AT,
    )
    sale, ticket = example_sale()
    done = []
    for _ in range(sales):
        ticket_id = uuid.uuid4()
        done.append(
            await store.finalize(
                lambda n, t=ticket_id: FinalizedSale(  # type: ignore[misc]
                    sale.model_copy(update={"number": n, "ticket_id": t}),
                    ticket.model_copy(update={"number": n, "ticket_id": t}),
                ),
                basket=None,
                at=AT,
            )
        )
    return done


async def test_the_sessions_open_goes_first_then_the_sales_in_their_order(store: TillRecords) -> None:
    sales = await queue_open_and_sales(store, 3)
    central = FakeCentral()
    first = await send_next(store, central, batch_max=500, now=AT)
    assert (first.sent, central.sales) == (1, [])
    assert [o["op"] for o in central.operations] == ["open"]
    assert central.operations[0]["first_ticket_number"] == 1
    second = await send_next(store, central, batch_max=500, now=AT)
    assert second.sent == 3
    assert [s.number for s in central.sales] == [1, 2, 3]
    assert [s.ticket_id for s in central.sales] == [s.sale.ticket_id for s in sales]
    assert (await send_next(store, central, batch_max=500, now=AT)).empty


async def test_while_pos_api_is_out_of_reach_nothing_is_lost_and_the_attempt_is_counted(store: TillRecords) -> None:
    await queue_open_and_sales(store, 2)
    central = FakeCentral(reachable=False)
    done = await send_next(store, central, batch_max=500, now=AT)
    assert not done.reached
    (entry, *rest) = await store.pending(10)
    assert (entry.attempts, len(rest)) == (1, 2)
    assert entry.reason is not None
    assert "does not answer" in entry.reason
    central.reachable = True
    await send_next(store, central, batch_max=500, now=AT)
    await send_next(store, central, batch_max=500, now=AT)
    assert await store.pending(10) == []
    assert len(central.sales) == 2


async def test_a_sale_sent_twice_is_answered_already_exists_and_marked_sent(store: TillRecords) -> None:
    (sale,) = await queue_open_and_sales(store, 1)
    central = FakeCentral()
    central.sales.append(sale.sale)  # pos-api wrote it, and its answer was lost
    await send_next(store, central, batch_max=500, now=AT)
    await send_next(store, central, batch_max=500, now=AT)
    found = await store.sale(sale.sale.ticket_id)
    assert found is not None
    assert found[1] is not None
    assert (found[1].state, found[1].outcome) == ("sent", "already_exists")


class ConflictingCentral(FakeCentral):
    """pos-api that holds another sale under the till's number 2."""

    async def sync_sales(self, sales: list[OfflineSale]) -> SyncAnswer:
        answer = await super().sync_sales(sales)
        results = tuple(
            r.model_copy(
                update={
                    "outcome": "conflict",
                    "problem": SaleProblem(
                        type="about:blank", title="Ticket number already used", status=409, detail="number 2 is used"
                    ),
                }
            )
            if r.number == 2
            else r
            for r in answer.results
        )
        return answer.model_copy(update={"results": results})


async def test_a_conflict_is_kept_aside_with_its_reason_and_the_others_go_on(store: TillRecords) -> None:
    await queue_open_and_sales(store, 3)
    central = ConflictingCentral()
    await send_next(store, central, batch_max=500, now=AT)
    done = await send_next(store, central, batch_max=500, now=AT)
    assert (done.sent, done.aside) == (2, 1)
    (aside,) = await store.aside()
    assert (aside.kind, aside.outcome, aside.reason) == ("sale", "conflict", "number 2 is used")
    assert await store.pending(10) == []


async def test_a_batch_holds_at_most_batch_max_entries(store: TillRecords) -> None:
    await queue_open_and_sales(store, 5)
    central = FakeCentral()
    await send_next(store, central, batch_max=2, now=AT)
    done = await send_next(store, central, batch_max=2, now=AT)
    assert done.sent == 2
    assert [s.number for s in central.sales] == [1, 2]


async def test_the_sender_backs_off_with_growing_jittered_waits_then_drains_when_pos_api_is_back(
    store: TillRecords,
) -> None:
    await queue_open_and_sales(store, 2)
    central = FakeCentral(reachable=False)
    ceilings: list[float] = []
    tried = asyncio.Event()

    def draw(low: float, high: float) -> float:
        ceilings.append(high)
        if len(ceilings) >= 3:
            central.reachable = True
            tried.set()
        return 0.001

    sender = OutboxSender(
        store, central, clock=lambda: AT, batch_max=500, retry_first_s=0.5, retry_max_s=1.5, draw=draw
    )
    await sender.start()
    try:
        await asyncio.wait_for(tried.wait(), timeout=5)
        await asyncio.wait_for(sender.idle.wait(), timeout=5)
    finally:
        await sender.stop()
    assert ceilings[:3] == [0.5, 1.0, 1.5]  # doubled each time, capped
    assert [o["op"] for o in central.operations] == ["open"]
    assert len(central.sales) == 2
    assert await store.aside() == []


async def test_a_sale_being_forwarded_online_is_left_to_the_forward_and_the_queue_keeps_its_order(
    store: TillRecords,
) -> None:
    first, second, third = await queue_open_and_sales(store, 3)
    central = FakeCentral()
    await send_next(store, central, batch_max=500, now=AT)  # the session's open
    forwarding = {str(second.sale.ticket_id)}
    cut = await send_next(store, central, batch_max=500, now=AT, in_flight=forwarding)
    assert cut.sent == 1, "the sales before it only"
    assert [s.ticket_id for s in central.sales] == [first.sale.ticket_id]
    held = await send_next(store, central, batch_max=500, now=AT, in_flight=forwarding)
    assert (held.held, held.sent) == (True, 0), "nothing past it while it is in flight"
    done = await send_next(store, central, batch_max=500, now=AT)  # its forward ended without sending it
    assert done.sent == 2
    assert [s.ticket_id for s in central.sales] == [s.sale.ticket_id for s in (first, second, third)]
