"""The till's agent under crash and network faults, on the real stack: hw-proxy as a real process beside real
session-service, pos-api and notifier processes on real Kafka and PostgreSQL (ISSUE 17).

- hw-proxy killed with SIGKILL (its fault-injection hook, at points drawn at random) again and again during 1,000
  sales, and started again each time: no number is reused or skipped, every sale answered to the cashier is in the
  till's store and in pos-api, and none is booked twice (pos-api's tickets and the `ticket.finalized` records);
- pos-api stopped for 2,000 sales and a whole session: once it is back everything is synced once, in order, the
  session before its sales and its close after them, and the session closes and reconciles as if online;
- a sale whose online answer is lost (pos-api slower than the forward timeout, after writing it) is synced again
  and answered `already_exists`: one ticket, one event;
- a till restored from an old backup (its store copied back after more sales were made) refuses to sell, saying
  why, because pos-api holds a number above its own; it reports the clash, ops see it and release the till to
  resume after pos-api's last number, and it sells on from there without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from till_support import (
    PIN,
    TillApp,
    central_tickets,
    counts_of,
    finalize,
    local_outcomes,
    local_sales,
    queue_empty,
    ready,
    sale_body,
    store_of,
    ticket_events,
    till_agent,
    wait_for,
)

from harness import ServiceProcess, Stack, Till, free_port

TAG = "_faults"
FLOAT = [{"value": 1000, "count": 5}]
"""5 × 10 € = 50.00 €."""


@pytest.fixture(scope="module")
def central(stack: Stack) -> tuple[ServiceProcess, ServiceProcess]:
    sessions = stack.service("session-service", tag=TAG, close_wait_s="1")
    sessions.start()
    pos_api = stack.service("pos-api", tag=TAG)
    pos_api.start()
    notifier = stack.service("notifier", tag=TAG)
    notifier.start()
    demo = stack.demo(pos_api)
    admin = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token(TAG)}"})
    for cashier in set(demo.cashiers.values()):
        assert admin.put(f"/v1/operators/{cashier}/pin", json={"pin": PIN}).status_code == 204
    return pos_api, sessions


def test_kill_9_at_random_points_during_1000_sales_reuses_skips_loses_and_doubles_nothing(
    stack: Stack, central: tuple[ServiceProcess, ServiceProcess]
) -> None:
    pos_api, _ = central
    till = Till.of(stack.demo(pos_api), 0)
    hw_proxy = till_agent(stack, till, TAG, "killed", pos_api_url=pos_api.url, forward_timeout_s="5")
    seed = int(os.environ.get("CAISSE_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    points = ["SALES", "COMMITTED_SALES", "ANSWERS"] * 2
    plan = [{f"HW_PROXY_FAULT_KILL_AFTER_{point}": str(rng.randint(10, 140))} for point in points]
    print(f"fault seed {seed}: {plan}")  # noqa: T201 (replayed with CAISSE_FAULT_SEED)
    hw_proxy.extra_env = plan[0]
    hw_proxy.start()
    app = TillApp(till, hw_proxy)
    ready(app, "READY_OPEN")
    app.log_in()
    app.open_session(FLOAT)
    due = app.price()
    answered: dict[str, int] = {}
    replayed = kills = 0
    http = httpx.Client(base_url=hw_proxy.url, timeout=30)
    started = time.monotonic()
    for _ in range(1000):
        basket, body = str(uuid.uuid4()), sale_body(app, due)
        while True:
            try:
                done = finalize(http, basket, body)
                break
            except httpx.TransportError:  # the agent died under the cashier: start it again, retry the same basket
                process = hw_proxy.process
                assert process is not None
                wait_for(lambda p=process: p.poll() is not None, "the killed agent's exit", timeout_s=10)  # type: ignore[misc]
                assert hw_proxy.stop() == -signal.SIGKILL, hw_proxy.tail()
                kills += 1
                hw_proxy.extra_env = plan[kills] if kills < len(plan) else {}
                hw_proxy.start()
                http.close()
                http = httpx.Client(base_url=hw_proxy.url, timeout=30)
                ready(app, "READY_CONTINUE")
                app.log_in()
                app.continue_session()
        assert done.status_code in (200, 201), done.text
        replayed += done.status_code == 200
        ticket = done.json()["ticket"]
        assert ticket["ticket_id"] == basket
        answered[basket] = ticket["number"]
    took = time.monotonic() - started
    print(f"1,000 sales with {kills} kills in {took:.1f} s")  # noqa: T201
    http.close()

    assert kills == len(plan), f"every planned kill happened ({kills} of {len(plan)})"
    assert replayed >= 1, "a sale committed before its answer was lost is answered again, the same"
    assert sorted(answered.values()) == list(range(1, 1001)), "no number reused, none skipped"
    local = local_sales(store_of(hw_proxy))
    assert local == sorted(answered.items(), key=lambda sale: sale[1]), "every answered sale is stored, no other"

    wait_for(lambda: queue_empty(app), "the till's queue drained", timeout_s=120)
    outcomes = local_outcomes(store_of(hw_proxy))
    assert sum(outcomes.values()) == 1000, outcomes
    assert {state for state, _ in outcomes} == {"sent"}, outcomes
    assert outcomes[("sent", "already_exists")] >= 1, "a sale whose answer was being recorded is resent, known"
    assert central_tickets(stack, pos_api, till.till.pos_id) == local, "pos-api holds each sale once, as the till"

    events = wait_for(
        lambda: (found := ticket_events(stack, till.till.pos_id)) and len(found) >= 1000 and found,
        "the till's 1,000 tickets on Kafka",
        timeout_s=120,
        every_s=1.0,
    )
    assert Counter(ticket_id for ticket_id, _ in events) == Counter(set(answered)), "each ticket on Kafka once"
    hw_proxy.stop()


def test_2000_sales_and_a_session_made_while_pos_api_is_stopped_sync_once_in_order_and_reconcile(
    stack: Stack, central: tuple[ServiceProcess, ServiceProcess]
) -> None:
    pos_api, _ = central
    till = Till.of(stack.demo(pos_api), 1)
    hw_proxy = till_agent(stack, till, TAG, "offline", pos_api_url=pos_api.url, forward_timeout_s="0.5")
    hw_proxy.start()
    app = TillApp(till, hw_proxy)
    ready(app, "READY_OPEN")
    app.log_in()  # online once: the till learns the PIN
    with app.http as http:
        territory = http.get(f"/v1/config/territory/{till.territory_id}").json()["item"]
    values = [d["value"] for d in territory["denominations"]]

    assert pos_api.stop(signal.SIGTERM) == 0
    try:
        app.log_in()  # offline, with the PIN it learned
        session = app.open_session(FLOAT)
        due = app.price()
        http = httpx.Client(base_url=hw_proxy.url, timeout=30)
        started = time.monotonic()
        numbers = []
        for n in range(2000):
            if n == 1000:
                moved = http.post(
                    "/v1/session/movements", json={"kind": "withdrawal", "amount": 5000, "reason": "bank"}
                )
                assert moved.status_code == 201, moved.text
            done = finalize(http, str(uuid.uuid4()), sale_body(app, due))
            assert done.status_code == 201, done.text
            numbers.append(done.json()["ticket"]["number"])
        took = time.monotonic() - started
        print(f"2,000 sales offline in {took:.1f} s")  # noqa: T201
        assert numbers == list(range(1, 2001))
        expected = 5000 + 2000 * due - 5000
        closed = http.post("/v1/session/close", json={"counts": counts_of(expected, values)})
        assert closed.status_code == 200, closed.text
        http.close()
        queue = app.status()["queue"]
        assert (queue["pending_sessions"], queue["pending_sales"]) == (3, 2000)
    finally:
        pos_api.start()

    wait_for(lambda: queue_empty(app), "the till's queue synced", timeout_s=240, every_s=0.5)
    assert local_outcomes(store_of(hw_proxy)) == Counter({("sent", "created"): 2000}), "each sale synced once"
    local = local_sales(store_of(hw_proxy))
    assert central_tickets(stack, pos_api, till.till.pos_id) == local
    events = wait_for(
        lambda: (found := ticket_events(stack, till.till.pos_id)) and len(found) >= 2000 and found,
        "the till's 2,000 tickets on Kafka",
        timeout_s=120,
        every_s=1.0,
    )
    assert events == local, "each ticket on Kafka once, in the order of the numbers"

    device = httpx.Client(base_url=pos_api.url, headers=till.headers, timeout=30)
    sid = session["session_id"]
    closing = wait_for(
        lambda: (body := device.get(f"/v1/sessions/{sid}").json())["status"] == "closed" and body["closing"],
        "the session closed at session-service",
        timeout_s=60,
    )
    assert (closing["expected_cash"], closing["counted_cash"], closing["variance"]) == (expected, expected, 0)
    report = device.get(f"/v1/sessions/{sid}/report").raise_for_status().json()
    assert (report["ticket_count"], report["first_ticket_number"], report["last_ticket_number"]) == (2000, 1, 2000)
    assert (report["total_incl_tax"], report["cash_received"], report["change_given"]) == (2000 * due, 2000 * due, 0)
    assert (report["opening_float"], report["cash_withdrawn"], report["cash_added"]) == (5000, 5000, 0)
    device.close()
    hw_proxy.stop()


class SlowRelay:
    """A TCP relay in front of pos-api on loopback whose answers can be held back `delay_s` (pos-api made slow,
    after it has done the work), in a thread of its own."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SlowRelay:
        self._thread.start()
        assert self._started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", self.port))
        self._started.set()
        self._loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, slow: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    if slow and self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(ConnectionError, RuntimeError):
                sink.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))


def test_a_sale_whose_answer_was_lost_is_synced_again_and_answered_already_exists(
    stack: Stack, central: tuple[ServiceProcess, ServiceProcess]
) -> None:
    pos_api, _ = central
    till = Till.of(stack.demo(pos_api), 2)
    with SlowRelay(pos_api.port) as relay:
        hw_proxy = till_agent(stack, till, TAG, "lost-answer", pos_api_url=relay.url, forward_timeout_s="0.5")
        hw_proxy.start()
        app = TillApp(till, hw_proxy)
        ready(app, "READY_OPEN")
        app.log_in()
        app.open_session(FLOAT)
        wait_for(lambda: queue_empty(app), "the session's open synced")
        due = app.price()
        relay.delay_s = 2.0  # pos-api answers after the till's forward timeout: the answer is lost
        basket = str(uuid.uuid4())
        with app.http as http:
            started = time.monotonic()
            done = finalize(http, basket, sale_body(app, due))
            took = time.monotonic() - started
            assert done.status_code == 201, done.text
            assert took < 2.0, took  # the cashier does not wait
            sent = wait_for(
                lambda: (sale := http.get(f"/v1/sales/{basket}").json())["sync_state"] == "sent" and sale,
                "the sale synced again",
                timeout_s=30,
            )
        assert sent["outcome"] == "already_exists"
        hw_proxy.stop()
    assert central_tickets(stack, pos_api, till.till.pos_id) == [(basket, 1)], "one ticket"
    events = wait_for(lambda: ticket_events(stack, till.till.pos_id), "the ticket on Kafka")
    assert events == [(basket, 1)], "one event"


def test_a_till_restored_from_an_old_backup_refuses_to_sell_saying_why_until_ops_release_it(
    stack: Stack, central: tuple[ServiceProcess, ServiceProcess]
) -> None:
    pos_api, _ = central
    till = Till.of(stack.demo(pos_api), 3)
    hw_proxy = till_agent(
        stack, till, TAG, "restored", pos_api_url=pos_api.url, forward_timeout_s="5", number_recheck_s="0.5"
    )
    hw_proxy.start()
    app = TillApp(till, hw_proxy)
    ready(app, "READY_OPEN")
    app.log_in()
    app.open_session(FLOAT)
    due = app.price()
    store = store_of(hw_proxy)
    backup = store.with_name("restored-backup.sqlite3")
    with app.http as http:
        for n in range(4):
            if n == 2:  # the night's backup, taken while the agent runs (SQLite's online backup)
                source, target = sqlite3.connect(store), sqlite3.connect(backup)
                source.backup(target)
                source.close()
                target.close()
            basket = str(uuid.uuid4())
            assert finalize(http, basket, sale_body(app, due)).status_code == 201
            wait_for(lambda b=basket: http.get(f"/v1/sales/{b}").json()["sync_state"] == "sent", "the sale sent")  # type: ignore[misc]
    assert hw_proxy.stop() == 0

    for leftover in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(backup, store)
    hw_proxy.start()
    status = wait_for(
        lambda: (body := app.status())["status"] == "BOOTING" and body["reason"] and body,
        "the till to see pos-api's numbers",
    )
    assert status["last_ticket_number"] == 2
    assert "ticket number 4" in status["reason"], status
    assert "above its own last number 2" in status["reason"], status
    with app.http as http:
        login = http.post("/v1/cashier/login", json={"operator_id": app.cashier, "pin": PIN})
        assert login.status_code == 409, login.text
        refused = http.post("/v1/session/continue")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["till_status"] == "BOOTING"
        assert "ticket number 4" in refused.json()["reason"]
        sale = finalize(http, str(uuid.uuid4()), sale_body(app, due))
        assert sale.status_code == 409, sale.text
        assert "ticket number 4" in sale.json()["reason"]
    assert app.status()["last_ticket_number"] == 2, "no number taken"

    pos_id = str(till.till.pos_id)
    with httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token(TAG)}"}) as ops:

        def seen_by_ops() -> dict[str, Any] | None:
            found = [t for t in ops.get("/v1/ops/tills", params={"needs_ops": "true"}).json() if t["pos_id"] == pos_id]
            return found[0] if found and found[0]["report"]["number_clash"] else None

        view = wait_for(seen_by_ops, "the clash reported to ops")
        assert (view["central_last_number"], view["report"]["local_last_number"]) == (4, 2)
        assert "ticket number 4" in view["report"]["number_clash"]
        url = f"/v1/ops/tills/{pos_id}/numbering-release"
        stale = ops.post(url, json={"resume_after": 3, "reason": "restauration"})
        assert stale.status_code == 409, stale.text
        assert stale.json()["invalid_params"][0]["name"] == "resume_after"
        given = ops.post(url, json={"resume_after": 4, "reason": "restauration de la sauvegarde de la nuit"})
        assert given.status_code == 201, given.text

        ready(app, "READY_CONTINUE")  # released without a restart; its session was open in the backup
        assert app.status()["last_ticket_number"] == 4
        app.log_in()
        with app.http as http:
            assert http.post("/v1/session/continue").is_success
            basket = str(uuid.uuid4())
            done = finalize(http, basket, sale_body(app, due))
            assert done.status_code == 201, done.text
            assert done.json()["ticket"]["number"] == 5
            wait_for(lambda: http.get(f"/v1/sales/{basket}").json()["sync_state"] == "sent", "the sale sent")
        wait_for(
            lambda: (
                not [t for t in ops.get("/v1/ops/tills", params={"needs_ops": "true"}).json() if t["pos_id"] == pos_id]
            ),
            "the till no longer needing ops",
        )
    numbers = [n for _, n in central_tickets(stack, pos_api, till.till.pos_id)]
    assert numbers == [1, 2, 3, 4, 5], "none reused, none skipped"
    hw_proxy.stop()
