"""A day of a company without Paheko through the real stack: the till opens, sells, closes, the shop manager confirms
the bank deposit; paheko-bridge books each ticket, the cash variance and the deposit into the company's FEC file,
which the validator accepts; ops see the session settled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from test_session_day import EUR_FLOAT, TillDriver

from caisse_stack.demo_data import Demo
from harness import ServiceProcess, Stack
from paheko_bridge.domain.fec_validator import validate_fec

BRIDGE_TOKEN = "bridge-token-e2e"
OPS_TOKEN = "ops-token-e2e"


@pytest.fixture(scope="module")
def stack_of_three(stack: Stack) -> tuple[ServiceProcess, ServiceProcess, ServiceProcess]:
    sessions = stack.service("session-service", tag="_br", close_wait_s="5")
    sessions.start()
    pos_api = stack.service("pos-api", tag="_br", bridge_token=BRIDGE_TOKEN)
    pos_api.start()
    bridge = stack.service(
        "paheko-bridge",
        tag="_br",
        fec_directory=str(stack.workdir / "fec"),
        pos_api_url=pos_api.url,
        pos_api_token=BRIDGE_TOKEN,
        ops_token=OPS_TOKEN,
    )
    bridge.start()
    return pos_api, sessions, bridge


@pytest.fixture(scope="module")
def demo(stack: Stack, stack_of_three: tuple[ServiceProcess, ServiceProcess, ServiceProcess]) -> Demo:
    return stack.demo(stack_of_three[0])


def wait_for(fetch: Any, ready: Any, timeout_s: float = 45.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = fetch()
        if ready(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last}")


def test_a_day_without_paheko_lands_once_in_a_valid_fec_file(
    stack: Stack, stack_of_three: tuple[ServiceProcess, ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    pos_api, _, bridge = stack_of_three
    till = TillDriver(pos_api, demo, 0)  # Ressourcerie du Bocage: no Paheko configured
    session_id = str(uuid.uuid4())
    assert till.open(EUR_FLOAT, session_id).status_code == 201
    till.sell({"method": "cash", "amount": 900, "tendered": 1000})
    cheque = str(uuid.uuid4())
    till.sell({"payment_id": cheque, "method": "cheque", "amount": 900, "reference": "0004567", "bank": "La Poste"})
    # 70.00 of float + 9.00 in cash; 78.00 counted: 1.00 short.
    counts = [{"value": 1000, "count": 7}, {"value": 200, "count": 4}]
    closed = till.close(session_id, counts, comment="un euro manquant", cheques_ticked=[cheque])
    assert closed.status_code in (200, 201), closed.text

    ops = httpx.Client(base_url=bridge.url, headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10)
    state = wait_for(
        lambda: ops.get(f"/v1/ops/sessions/{session_id}"),
        lambda r: r.status_code == 200 and r.json()["close"] == "booked",
        what="the bridge to book the session",
    ).json()
    assert [(t["number"], t["status"]) for t in state["tickets"]] == [(1, "pushed"), (2, "pushed")]
    assert state["waiting_for"] == []

    company = demo.companies["FR"]
    [fec] = list((Path(stack.workdir) / "fec" / company).glob("*FEC*.txt"))
    text = fec.read_bytes().decode("iso8859_15")
    assert validate_fec(text) == []
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    assert sorted({r[2] for r in rows}) == ["1", "2", "3"]  # two tickets and the variance: no deposit yet
    cash = [r for r in rows if r[4] == "530"]
    assert ("9,00", "0,00") in [(r[11], r[12]) for r in cash]  # the cash sale, net of change
    assert ("0,00", "1,00") in [(r[11], r[12]) for r in cash]  # the shortage leaves the drawer
    assert any(r[4] == "5112" and r[11] == "9,00" for r in rows)

    # Two days later the deposit slip goes to the bank: 70.00 in cash (8.00 stay as the float) and the cheque.
    slip = {"cash": 7000, "cheques": [cheque], "reference": "BR-0457", "deposited_on": "2026-12-07"}
    manager = {"Authorization": f"Bearer {demo.admin_token}"}
    too_much = till.client.post(f"/v1/cash-sessions/{session_id}/deposit", json={**slip, "cash": 7801}, headers=manager)
    assert too_much.status_code == 422
    assert [p["name"] for p in too_much.json()["invalid_params"]] == ["cash"]
    confirmed = till.client.post(f"/v1/cash-sessions/{session_id}/deposit", json=slip, headers=manager)
    assert confirmed.status_code == 201, confirmed.text
    assert (confirmed.json()["total"], confirmed.json()["reference"]) == (7900, "BR-0457")
    again = till.client.post(f"/v1/sessions/{session_id}/deposit", json=slip)  # the till sends it again
    assert (again.status_code, again.json()) == (200, confirmed.json())
    other = till.client.post(f"/v1/sessions/{session_id}/deposit", json={**slip, "cash": 6000})
    assert other.status_code == 409
    wait_for(
        lambda: ops.get(f"/v1/ops/sessions/{session_id}").json(),
        lambda s: s["deposit"] == "booked",
        what="the bridge to book the deposit",
    )
    text = fec.read_bytes().decode("iso8859_15")
    assert validate_fec(text) == []
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    deposit = [(r[3], r[4], r[11], r[12]) for r in rows if r[2] == "4"]
    assert deposit == [
        ("20261207", "512", "79,00", "0,00"),
        ("20261207", "530", "0,00", "70,00"),
        ("20261207", "5112", "0,00", "9,00"),
    ]
    assert {r[8] for r in rows if r[2] == "4"} == {f"REMISE-{session_id}"}
    # Each ticket's piece names its till whole; each label the shop, the till and the day, as the back office
    # names them ("Bocage — Bressuire" in plain ISO 8859-15), and a cheque its number and bank.
    pieces = {(r[2], r[8]) for r in rows if r[2] in ("1", "2")}
    assert pieces == {("1", f"T1-{till.till.pos_id}"), ("2", f"T2-{till.till.pos_id}")}
    day = rows[0][3]
    where = f"Bocage - Bressuire, Caisse 1, {day[6:]}/{day[4:6]}/{day[:4]} - "
    assert all(r[10].startswith(where) for r in rows), [r[10] for r in rows]
    assert f"{where}Ticket n°2 - Chèque n°0004567 (La Poste)" in [r[10] for r in rows]
    assert f"{where}Remise BR-0457 - Chèque n°0004567 (La Poste)" in [r[10] for r in rows]

    refused = ops.get(f"/v1/ops/sessions/{session_id}", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert ops.get("/v1/ops/dead-letters").json() == []


def test_the_events_and_items_the_services_make_have_time_ordered_ids(
    stack: Stack, stack_of_three: tuple[ServiceProcess, ServiceProcess, ServiceProcess], demo: Demo
) -> None:
    """Every id a service makes itself (events, back-office items) is a UUIDv7, so that a day's keys sit side by
    side in the indexes (`caisse_contracts.ids`)."""
    pos_api, _, _ = stack_of_three
    till = TillDriver(pos_api, demo, 1)
    assert till.open(EUR_FLOAT, str(uuid.uuid4())).status_code == 201
    till.sell({"method": "cash", "amount": 900, "tendered": 1000})
    bridge_db = stack.infra.dsn(stack.database("paheko-bridge", "_br"))
    wait_for(lambda: asyncio.run(_ids(bridge_db)), bool, what="the bridge to book the sale")
    made = {
        service: asyncio.run(_ids(stack.infra.dsn(stack.database(service, "_br"))))
        for service in ("pos-api", "session-service", "paheko-bridge")
    }
    for service, ids in made.items():
        assert ids, f"{service} wrote no event"
        assert {i.version for i in ids} == {7}, service
    items = asyncio.run(
        _ids(
            stack.infra.dsn(stack.database("pos-api", "_br")), "select id from config_items where entity_type = 'shop'"
        )
    )
    assert items
    assert {i.version for i in items} == {7}


async def _ids(dsn: str, query: str = "select id from outbox") -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["id"] for r in await conn.fetch(query)]
    finally:
        await conn.close()
