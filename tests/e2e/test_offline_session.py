"""A day of a till spent offline, synced an hour after its close on the real stack: the session opened, moved and
closed on the till syncs through pos-api (`POST /v1/sync/sessions`) to session-service with the till's own ids and
times, its tickets through `POST /v1/tickets`; the session closes once they are in, at the till's time, and a replay
of everything, twice, changes nothing anywhere (one session, one Z report, one event of each kind in Kafka).

Expected figures come from PRODUCT.md §2: expected cash = float + cash received − change given + additions −
withdrawals; variance = counted − expected. The till's times are those the books show ("What the treasurer reads":
the dates of the till, never the time of a push).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.topics import SESSIONS, TICKETS
from caisse_stack.demo_data import Demo
from harness import ServiceProcess, Stack, Till

PARIS = ZoneInfo("Europe/Paris")
FLOAT = [{"value": 1000, "count": 5}, {"value": 200, "count": 10}]
"""5 × 10 € + 10 × 2 € = 70.00 €."""


@pytest.fixture(scope="module")
def services(stack: Stack) -> tuple[ServiceProcess, ServiceProcess]:
    sessions = stack.service("session-service", tag="_off", close_wait_s="1")
    sessions.start()
    pos_api = stack.service("pos-api", tag="_off")
    pos_api.start()
    return pos_api, sessions


@pytest.fixture(scope="module")
def demo(stack: Stack, services: tuple[ServiceProcess, ServiceProcess]) -> Demo:
    return stack.demo(services[0])


class OfflineTill:
    """A demo till that worked offline: what it queued, with its ids and its own (Paris) times."""

    def __init__(self, pos_api: ServiceProcess, demo: Demo, index: int, closed_hours_ago: float = 1) -> None:
        self.till = Till.of(demo, index)
        self.cashier = demo.cashiers[self.till.till.shop_id]
        self.client = httpx.Client(base_url=pos_api.url, headers=self.till.headers, timeout=30)
        self.session_id = str(uuid.uuid4())
        closed = datetime.now(UTC).astimezone(PARIS).replace(microsecond=0) - timedelta(hours=closed_hours_ago)
        self.opened_at = closed - timedelta(hours=9)  # 09:00 → 18:00 of the till's day, synced an hour later

    def at(self, hours: float) -> datetime:
        return self.opened_at + timedelta(hours=hours)

    def open_op(self, **changes: Any) -> dict[str, Any]:
        return {
            "op": "open",
            "session_id": self.session_id,
            "operator_ids": [self.cashier],
            "float_counts": FLOAT,
            "opened_at": self.opened_at.isoformat(),
            **changes,
        }

    def movement_op(self, movement_id: str, kind: str, amount: int, hours: float, **changes: Any) -> dict[str, Any]:
        return {
            "op": "movement",
            "session_id": self.session_id,
            "movement_id": movement_id,
            "kind": kind,
            "amount": amount,
            "reason": "au coffre" if kind == "withdrawal" else "monnaie",
            "operator_id": self.cashier,
            "occurred_at": self.at(hours).isoformat(),
            **changes,
        }

    def close_op(self, counts: list[dict[str, int]], last: int | None, **changes: Any) -> dict[str, Any]:
        return {
            "op": "close",
            "session_id": self.session_id,
            "closed_by": self.cashier,
            "last_ticket_number": last,
            "counts": counts,
            "closed_at": self.at(9).isoformat(),
            **changes,
        }

    def ticket(self, number: int, hours: float) -> dict[str, Any]:
        """The committed example sale (10.00 €, 20 € cash tendered, 10 € change) made on this till at `hours`."""
        example = load_example(TicketFinalizedV1).data
        sold = self.at(hours)
        ticket = example.model_copy(
            update={
                "ticket_id": uuid.uuid4(),
                "number": number,
                "territory_id": uuid.UUID(self.till.territory_id),
                "company_id": uuid.UUID(self.till.company_id),
                "pos_id": uuid.UUID(self.till.till.pos_id),
                "shop_id": uuid.UUID(self.till.till.shop_id),
                "session_id": uuid.UUID(self.session_id),
                "operator_id": None,
                "finalized_at": sold.astimezone(UTC),
                "local_date": sold.date(),
                "payments": tuple(p.model_copy(update={"payment_id": uuid.uuid4()}) for p in example.payments),
            }
        )
        return ticket.model_dump(mode="json")

    def sync(self, *operations: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post("/v1/sync/sessions", json={"operations": list(operations)})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def session(self) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get(f"/v1/sessions/{self.session_id}").raise_for_status().json()
        return body


def outcomes(synced: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["op"], r["outcome"]) for r in synced["results"]]


def wait_until(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(stack: Stack, query: str, *args: Any) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("session-service", "_off")))
        try:
            found: int = await conn.fetchval(query, *args)
            return found
        finally:
            await conn.close()

    return asyncio.run(run())


async def events_of(bootstrap: str, topic: str, partitions: int, key: str, settle_s: float = 3.0) -> list[Any]:
    """Every envelope of `topic` about `key` (a session id or a POS id in its data), read to the end, then read
    on for `settle_s` more so that a late duplicate would be seen."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Any] = []
        ends = await consumer.end_offsets(tps)
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    envelope = json.loads(record.value or b"{}")
                    data = envelope.get("data") or {}  # other tests' records may be anything
                    if key in (data.get("session_id"), data.get("pos_id")):
                        found.append(envelope)
            if deadline is None and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                deadline = time.monotonic() + settle_s  # at the end: on a little more, for a late duplicate
        return found
    finally:
        await consumer.stop()


def test_a_day_opened_moved_and_closed_offline_syncs_an_hour_later_at_the_till_s_times_and_replays_change_nothing(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    pos_api, _ = services
    till = OfflineTill(pos_api, demo, 0)
    withdrawal, addition = str(uuid.uuid4()), str(uuid.uuid4())
    # expected = 70.00 float + 40.00 received − 20.00 change + 5.00 added − 30.00 withdrawn = 65.00
    counts = [{"value": 1000, "count": 5}, {"value": 200, "count": 7}, {"value": 100, "count": 1}]
    queue = [
        till.open_op(),
        till.movement_op(withdrawal, "withdrawal", 3000, hours=2),
        till.movement_op(addition, "addition", 500, hours=6),
        till.close_op(counts, last=2, card_terminal_total=None),
    ]
    tickets = [till.ticket(1, hours=1.5), till.ticket(2, hours=7)]

    synced = till.sync(*queue)
    assert outcomes(synced) == [
        ("open", "created"),
        ("movement", "created"),
        ("movement", "created"),
        ("close", "created"),
    ]
    waiting = synced["results"][3]["session"]
    assert (waiting["status"], waiting["waiting_for"]) == ("closing", [[1, 2]])
    for ticket in tickets:
        sent = till.client.post("/v1/tickets", json=ticket)
        assert sent.status_code == 201, sent.text
    wait_until(
        lambda: till.session()["status"] == "closed", what="the synced close to complete once its tickets are in"
    )

    for _ in range(2):  # the till did not hear the answers: it sends everything again, twice
        assert outcomes(till.sync(*queue)) == [
            ("open", "already_exists"),
            ("movement", "already_exists"),
            ("movement", "already_exists"),
            ("close", "already_exists"),
        ]
        for ticket in tickets:
            again = till.client.post("/v1/tickets", json=ticket)
            assert (again.status_code, again.headers["X-Ticket-Outcome"]) == (200, "already_exists")

    session = till.session()
    assert datetime.fromisoformat(session["opened_at"]) == till.opened_at
    assert datetime.fromisoformat(session["closed_at"]) == till.at(9)
    assert [datetime.fromisoformat(m["at"]) for m in session["movements"]] == [till.at(2), till.at(6)]
    closing = session["closing"]
    assert (closing["expected_cash"], closing["counted_cash"], closing["variance"]) == (6500, 6500, 0)

    report = till.client.get(f"/v1/sessions/{till.session_id}/report").raise_for_status().json()
    assert datetime.fromisoformat(report["opened_at"]) == till.opened_at
    assert datetime.fromisoformat(report["closed_at"]) == till.at(9)
    assert [datetime.fromisoformat(m["at"]) for m in report["movements"]] == [till.at(2), till.at(6)]
    assert (report["ticket_count"], report["first_ticket_number"], report["last_ticket_number"]) == (2, 1, 2)
    assert (report["cash_received"], report["change_given"], report["total_incl_tax"]) == (4000, 2000, 2000)
    assert (report["cash_added"], report["cash_withdrawn"], report["opening_float"]) == (500, 3000, 7000)

    sid = uuid.UUID(till.session_id)
    assert count(stack, "select count(*) from cash_sessions where session_id = $1", sid) == 1
    assert count(stack, "select count(*) from cash_movements where session_id = $1", sid) == 2
    assert count(stack, "select count(*) from session_tickets where session_id = $1", sid) == 2
    assert count(stack, "select count(*) from session_reports where session_id = $1", sid) == 1

    bootstrap = stack.infra.kafka_bootstrap
    told = asyncio.run(events_of(bootstrap, SESSIONS.name, SESSIONS.partitions, till.session_id))
    assert sorted(e["type"] for e in told) == ["session.closed", "session.opened"], "one event of each, no duplicate"
    by_type = {e["type"]: e for e in told}
    opened, closed = by_type["session.opened"], by_type["session.closed"]
    assert datetime.fromisoformat(opened["occurred_at"]) == till.opened_at
    assert datetime.fromisoformat(opened["data"]["opened_at"]) == till.opened_at
    assert datetime.fromisoformat(opened["data"]["received_at"]) > till.at(9), "heard of at the sync, after the close"
    assert datetime.fromisoformat(closed["occurred_at"]) == till.at(9)
    assert datetime.fromisoformat(closed["data"]["closed_at"]) == till.at(9)
    assert [(m["kind"], m["amount"]) for m in closed["data"]["movements"]] == [("withdrawal", 3000), ("addition", 500)]
    assert (closed["data"]["expected_cash"], closed["data"]["variance"], closed["data"]["ticket_count"]) == (6500, 0, 2)
    sold = asyncio.run(events_of(bootstrap, TICKETS.name, TICKETS.partitions, till.session_id, settle_s=1.0))
    assert sorted(e["data"]["number"] for e in sold if e["type"] == "ticket.finalized") == [1, 2]
    wait_until(
        lambda: till.client.get("/v1/pos-data").json()["status"] == "READY_OPEN", what="pos-api to hold it closed"
    )


def test_bad_operations_are_answered_each_naming_the_field_and_the_good_ones_go_through(
    services: tuple[ServiceProcess, ServiceProcess], demo: Demo, stack: Stack
) -> None:
    pos_api, _ = services
    till = OfflineTill(pos_api, demo, 1)
    movement = str(uuid.uuid4())
    synced = till.sync(
        till.open_op(opened_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()),  # a till with a wrong clock
        till.open_op(),
        till.movement_op(movement, "withdrawal", 1000, hours=1),
        till.movement_op(movement, "withdrawal", 1200, hours=1),  # the same id, another amount
        till.movement_op(str(uuid.uuid4()), "withdrawal", 100, hours=2, session_id=str(uuid.uuid4())),
        till.movement_op(str(uuid.uuid4()), "addition", 100, hours=-1),  # before the open
        till.close_op(FLOAT, last=None, closed_at=till.at(-2).isoformat()),  # before the open
    )
    assert outcomes(synced) == [
        ("open", "failed"),
        ("open", "created"),
        ("movement", "created"),
        ("movement", "conflict"),
        ("movement", "failed"),
        ("movement", "failed"),
        ("close", "failed"),
    ]
    results = synced["results"]
    named = [(r["status"], [p["name"] for p in r["problem"]["invalid_params"]]) for r in results if r["problem"]]
    assert named[0] == (422, ["opened_at"])
    assert named[1] == (409, ["amount"])
    assert named[2][0] == 404
    assert named[3:] == [(422, ["occurred_at"]), (422, ["closed_at"])]
    session = till.session()
    assert (session["status"], session["cash_withdrawn"], session["cash_added"]) == ("open", 1000, 0)
    assert datetime.fromisoformat(session["opened_at"]) == till.opened_at
    sid = uuid.UUID(till.session_id)
    assert count(stack, "select count(*) from cash_movements where session_id = $1", sid) == 1
