"""A till's day over HTTP on the real stack: boot, baskets that survive a reboot, finalize once, bad input refused.

Sessions are opened as a till opens them: through pos-api, which forwards to session-service, whose
`session.opened` reaches pos-api's read model over Kafka.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from caisse_contracts.envelope import Envelope
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_contracts.stream import STREAM_AUDIENCE, STREAM_ISSUER
from caisse_contracts.tills import BasketContent
from caisse_stack import simulator
from caisse_stack.demo_data import Demo, DemoTill
from harness import ServiceProcess, Stack
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.adapters.sql import SqlPool
from pos_api.domain.errors import TicketConflict
from pos_api.service_layer.ports import StoredBasket, StoredTicket


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    stack.service("session-service", tag="_till").start()
    service = stack.service("pos-api", tag="_till")
    service.start()
    return service


@pytest.fixture(scope="module")
def demo(stack: Stack, pos_api: ServiceProcess) -> Demo:
    return stack.demo(pos_api)


@pytest.fixture(scope="module")
def open_tills(stack: Stack, pos_api: ServiceProcess, demo: Demo) -> dict[str, simulator.TillRun]:
    """Tills 0, 1 and 4 (New Caledonia, pickup number required) with an open session; till 2 without."""
    chosen = [demo.tills[0], demo.tills[1], demo.tills[4]]
    runs = asyncio.run(simulator.prepare(pos_api.url, stack.infra.kafka_bootstrap, chosen, demo.cashiers))
    return {r.till.serial: r for r in runs}


def headers(till: DemoTill) -> dict[str, str]:
    return {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}


def catalogue_of(pos_api: ServiceProcess, till: DemoTill) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{pos_api.url}/v1/pos-data", headers=headers(till)).json()
    return body


def category(boot: dict[str, Any], name: str) -> str:
    return next(str(c["id"]) for c in boot["catalogue"]["categories"] if c["name"] == name)


def product(boot: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in boot["catalogue"]["products"] if p["name"] == name)


def coat_and_bag(boot: dict[str, Any], payments: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A coat (Textile, 8.00, 1250 g) and a shopping bag (1.00 from the catalogue)."""
    lines = [
        {"line_id": str(uuid.uuid4()), "category_id": category(boot, "Textile"), "price": 800, "weight_grams": 1250},
        {"line_id": str(uuid.uuid4()), "product_id": product(boot, "Sac cabas")["id"]},
    ]
    return {"lines": lines, "payments": payments, **extra}


def cash(amount: int, tendered: int | None = None) -> dict[str, Any]:
    return {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": amount, "tendered": tendered}


def put(
    pos_api: ServiceProcess, till: DemoTill, basket_id: str, version: int, content: dict[str, Any]
) -> httpx.Response:
    return httpx.put(
        f"{pos_api.url}/v1/baskets/{basket_id}", json={"version": version, "content": content}, headers=headers(till)
    )


def finalize(pos_api: ServiceProcess, till: DemoTill, basket_id: str, number: int, version: int) -> httpx.Response:
    return httpx.post(
        f"{pos_api.url}/v1/baskets/{basket_id}/finalize",
        json={"number": number, "version": version},
        headers=headers(till),
    )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def count(stack: Stack, sql: str, *args: Any) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", "_till")))
        try:
            value: int = await conn.fetchval(sql, *args)
            return value
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_till_boots_with_its_shop_catalogue_and_continues_its_open_session(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    boot = catalogue_of(pos_api, demo.tills[0])
    assert boot["status"] == "READY_CONTINUE"
    assert boot["session"]["session_id"]
    assert boot["territory"]["currency"] == "EUR"
    assert {c["name"] for c in boot["catalogue"]["categories"]} >= {"Textile", "Livres", "Ateliers"}
    assert "secret" not in str(boot["pos"])
    assert catalogue_of(pos_api, demo.tills[2])["status"] == "READY_OPEN"


def test_a_till_gets_stream_tokens_that_the_published_keys_alone_verify_and_the_key_stays_out_of_the_log(
    pos_api: ServiceProcess, demo: Demo
) -> None:
    till = demo.tills[2]
    boot = catalogue_of(pos_api, till)
    refreshed = httpx.post(f"{pos_api.url}/v1/till/stream-token", headers=headers(till))
    assert refreshed.status_code == 200, refreshed.text
    keys = httpx.get(f"{pos_api.url}/v1/stream-keys")
    assert keys.headers["cache-control"] == "public, max-age=300"
    key_set = jwt.PyJWKSet.from_dict(keys.json())
    for token in (boot["stream"]["token"], refreshed.json()["token"]):
        key = key_set[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=STREAM_AUDIENCE, issuer=STREAM_ISSUER)
        assert (claims["sub"], claims["pos"]) == (f"pos:{boot['pos']['id']}", boot["pos"]["id"])
        assert (claims["shop"], claims["company"], claims["territory"]) == (
            boot["shop"]["id"],
            boot["company"]["id"],
            boot["territory"]["id"],
        )
        assert claims["exp"] - claims["iat"] == 600  # POS_API_STREAM_TOKEN_TTL_S's default
    refused = problem(
        httpx.post(f"{pos_api.url}/v1/till/stream-token", headers={**headers(till), "X-Device-Secret": "wrong"}), 401
    )
    assert "token" not in refused
    signing_key = "".join(pos_api.env["POS_API_STREAM_SIGNING_KEY"].splitlines()[1:-1])
    assert signing_key
    assert signing_key not in pos_api.log_path.read_text()


def test_a_basket_is_computed_saved_with_versions_and_found_again_after_a_reboot(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[0]
    boot = catalogue_of(pos_api, till)
    basket_id = str(uuid.uuid4())
    saved = put(pos_api, till, basket_id, 0, coat_and_bag(boot, []))
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1
    computed = saved.json()["computed"]
    assert (computed["total_incl_tax"], computed["remaining"]) == (900, 900)
    stale = problem(put(pos_api, till, basket_id, 0, coat_and_bag(boot, [cash(900)])), 409)
    assert stale["current_version"] == 1
    assert put(pos_api, till, basket_id, 1, coat_and_bag(boot, [cash(900, 1000)])).json()["version"] == 2
    again = httpx.get(f"{pos_api.url}/v1/baskets/{basket_id}", headers=headers(till)).json()
    assert (again["version"], again["computed"]["change"], again["computed"]["fully_paid"]) == (2, 100, True)


def test_finalize_stores_one_ticket_and_its_event_and_answers_the_receipt(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    run = open_tills[demo.tills[0].serial]
    till = run.till
    boot = catalogue_of(pos_api, till)
    basket_id = str(uuid.uuid4())
    put(pos_api, till, basket_id, 0, coat_and_bag(boot, [cash(900, 2000)]))
    number = (boot["last_ticket_number"] or 0) + 1
    done = finalize(pos_api, till, basket_id, number, 1)
    assert done.status_code == 201, done.text
    receipt = done.json()
    assert (receipt["number"], receipt["total_incl_tax"], receipt["change_given"]) == (number, 900, 1100)
    assert receipt["header"].startswith("Bocage")
    assert [line["label"] for line in receipt["lines"]] == ["Textile", "Sac cabas"]
    assert sum(t["total_incl_tax"] for t in receipt["taxes"]) == 900
    assert count(stack, "select count(*) from tickets where id = $1", uuid.UUID(basket_id)) == 1
    assert (
        count(stack, "select count(*) from outbox where aggregate_id = $1 and type = 'ticket.finalized'", basket_id)
        == 1
    )

    replay = finalize(pos_api, till, basket_id, number, 1)
    assert replay.status_code == 200
    assert replay.json() == receipt
    other = str(uuid.uuid4())
    put(pos_api, till, other, 0, coat_and_bag(boot, [cash(900)]))
    conflict = problem(finalize(pos_api, till, other, number, 1), 409)
    assert conflict["existing_ticket_id"] == basket_id
    assert count(stack, "select count(*) from outbox where aggregate_id = $1", basket_id) == 1
    refused = problem(put(pos_api, till, basket_id, 1, coat_and_bag(boot, [])), 409)
    assert refused["invalid_params"][0]["name"] == "basket"


def test_a_basket_handed_over_at_payment_is_saved_and_finalized_in_one_call(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    number = (boot["last_ticket_number"] or 0) + 1
    url = f"{pos_api.url}/v1/baskets/{{}}/finalize"
    basket_id = str(uuid.uuid4())
    content = coat_and_bag(boot, [cash(900, 1000)])
    body = {"number": number, "version": 0, "content": content}
    done = httpx.post(url.format(basket_id), json=body, headers=headers(till))
    assert done.status_code == 201, done.text
    assert (done.json()["number"], done.json()["change_given"]) == (number, 100)
    saved = httpx.get(f"{pos_api.url}/v1/baskets/{basket_id}", headers=headers(till)).json()
    assert (saved["status"], saved["version"], saved["ticket_id"]) == ("finalized", 1, basket_id)
    assert count(stack, "select count(*) from outbox where aggregate_id = $1", basket_id) == 1

    replay = httpx.post(url.format(basket_id), json=body, headers=headers(till))
    assert (replay.status_code, replay.json()) == (200, done.json())
    assert count(stack, "select count(*) from tickets where id = $1", uuid.UUID(basket_id)) == 1

    # A basket saved at version 1 and handed over as if never saved: stale, and nothing is written.
    edited = str(uuid.uuid4())
    put(pos_api, till, edited, 0, coat_and_bag(boot, []))
    stale = problem(
        httpx.post(
            url.format(edited), json={"number": number + 1, "version": 0, "content": content}, headers=headers(till)
        ),
        409,
    )
    assert stale["current_version"] == 1
    assert (
        count(
            stack, "select count(*) from tickets where pos_id = $1 and number = $2", uuid.UUID(till.pos_id), number + 1
        )
        == 0
    )
    handed = httpx.post(
        url.format(edited), json={"number": number + 1, "version": 1, "content": content}, headers=headers(till)
    )
    assert handed.status_code == 201, handed.text
    after = httpx.get(f"{pos_api.url}/v1/baskets/{edited}", headers=headers(till)).json()
    assert (after["version"], after["computed"]["change"]) == (2, 100)


def test_a_finalize_that_skips_numbers_shows_the_gap_until_the_missing_ticket_is_finalized(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    first = (boot["last_ticket_number"] or 0) + 1
    admin = {"Authorization": f"Bearer {stack.admin_token('_till')}"}

    def sell(number: int) -> None:
        body = {"number": number, "version": 0, "content": coat_and_bag(boot, [cash(900)])}
        done = httpx.post(f"{pos_api.url}/v1/baskets/{uuid.uuid4()}/finalize", json=body, headers=headers(till))
        assert done.status_code == 201, done.text

    def gaps() -> list[int]:
        found = httpx.get(f"{pos_api.url}/v1/ops/ticket-gaps", headers=admin).json()
        return [g["number"] for g in found if g["pos_id"] == till.pos_id]

    sell(first)
    sell(first + 3)
    assert gaps() == [first + 1, first + 2]
    sell(first + 2)
    assert gaps() == [first + 1]
    assert count(stack, "select count(*) from outbox where key = $1 and type = 'ticket.finalized'", till.pos_id) >= 3


def test_version_zero_without_the_basket_is_refused_naming_the_field(
    pos_api: ServiceProcess, demo: Demo, stack: Stack
) -> None:
    basket_id = str(uuid.uuid4())
    refused = problem(finalize(pos_api, demo.tills[1], basket_id, 1, 0), 422)
    assert refused["invalid_params"][0]["name"] == "version"
    assert count(stack, "select count(*) from baskets where id = $1", uuid.UUID(basket_id)) == 0
    missing = problem(finalize(pos_api, demo.tills[1], basket_id, 1, 1), 404)
    assert missing["status"] == 404


def test_finalize_is_refused_without_an_open_session(pos_api: ServiceProcess, demo: Demo) -> None:
    till = demo.tills[2]
    boot = catalogue_of(pos_api, till)
    basket_id = str(uuid.uuid4())
    put(pos_api, till, basket_id, 0, coat_and_bag(boot, [cash(900)]))
    refused = problem(finalize(pos_api, till, basket_id, 1, 1), 409)
    assert refused["invalid_params"][0]["name"] == "session"


def test_an_underpaid_basket_cannot_be_finalized(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[1]
    boot = catalogue_of(pos_api, till)
    basket_id = str(uuid.uuid4())
    put(pos_api, till, basket_id, 0, coat_and_bag(boot, [cash(500)]))
    refused = problem(finalize(pos_api, till, basket_id, (boot["last_ticket_number"] or 0) + 1, 1), 422)
    assert refused["invalid_params"][0]["name"] == "payments"
    assert count(stack, "select count(*) from tickets where id = $1", uuid.UUID(basket_id)) == 0


def test_xpf_cash_rounding_leaves_nothing_due_and_a_pickup_number_is_required_where_the_till_asks(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[4]
    boot = catalogue_of(pos_api, till)
    assert boot["pos"]["pickup_number_required"] is True
    lines = [
        {"line_id": str(uuid.uuid4()), "category_id": category(boot, "Livres"), "price": 1233, "weight_grams": 400}
    ]
    basket_id = str(uuid.uuid4())
    saved = put(pos_api, till, basket_id, 0, {"lines": lines, "payments": [cash(1235, 2000)]}).json()
    assert (saved["computed"]["cash_rounding"], saved["computed"]["remaining"]) == (2, 0)
    number = (boot["last_ticket_number"] or 0) + 1
    refused = problem(finalize(pos_api, till, basket_id, number, 1), 422)
    assert refused["invalid_params"][0]["name"] == "pickup_number"
    put(pos_api, till, basket_id, 1, {"lines": lines, "payments": [cash(1235, 2000)], "pickup_number": "42"})
    receipt = finalize(pos_api, till, basket_id, number, 2).json()
    assert (receipt["total_incl_tax"], receipt["cash_rounding"], receipt["total_due"]) == (1233, 2, 1235)
    assert receipt["pickup_number"] == "42"


def test_after_a_card_of_1231_on_1233_xpf_the_2_left_paid_in_cash_close_a_balanced_ticket(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    """PRODUCT.md §4: the 2 left for cash end in 2, rounded by −2 to no coin; the rounding line books them."""
    till = demo.tills[4]
    boot = catalogue_of(pos_api, till)
    lines = [
        {"line_id": str(uuid.uuid4()), "category_id": category(boot, "Livres"), "price": 1233, "weight_grams": 400}
    ]
    card = {"payment_id": str(uuid.uuid4()), "method": "card", "amount": 1231, "reference": "A42"}
    basket_id = str(uuid.uuid4())
    shown = put(pos_api, till, basket_id, 0, {"lines": lines, "payments": [card], "pickup_number": "9"}).json()
    assert (shown["computed"]["remaining"], shown["computed"]["cash_due"]) == (2, 0)
    paid = put(pos_api, till, basket_id, 1, {"lines": lines, "payments": [card, cash(2)], "pickup_number": "9"})
    assert paid.status_code == 200, paid.text
    computed = paid.json()["computed"]
    assert (computed["cash_rounding"], computed["remaining"], computed["fully_paid"]) == (-2, 0, True)
    done = finalize(pos_api, till, basket_id, (boot["last_ticket_number"] or 0) + 1, 2)
    assert done.status_code == 201, done.text
    receipt = done.json()
    assert (receipt["total_incl_tax"], receipt["cash_rounding"], receipt["total_due"]) == (1233, -2, 1231)
    assert [(p["method"], p["amount"]) for p in receipt["payments"]] == [("card", 1231)]
    body = count(stack, "select (body->>'cash_rounding')::int from tickets where id = $1", uuid.UUID(basket_id))
    assert body == -2


def test_a_basket_finalized_again_with_two_units_instead_of_one_is_a_409_kept_aside_for_ops(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    number = (boot["last_ticket_number"] or 0) + 1
    bag = product(boot, "Sac cabas")
    line = {"line_id": str(uuid.uuid4()), "product_id": bag["id"]}
    paid = cash(bag["price"])
    basket_id = str(uuid.uuid4())
    url = f"{pos_api.url}/v1/baskets/{basket_id}/finalize"
    one = {"number": number, "version": 0, "content": {"lines": [line], "payments": [paid]}}
    first = httpx.post(url, json=one, headers=headers(till))
    assert (first.status_code, first.headers["X-Ticket-Outcome"]) == (201, "created"), first.text
    two = {
        "number": number,
        "version": 0,
        "content": {"lines": [{**line, "quantity": 2}], "payments": [cash(2 * bag["price"])]},
    }
    conflict = problem(httpx.post(url, json=two, headers=headers(till)), 409)
    assert conflict["existing_ticket_id"] == basket_id
    admin = {"Authorization": f"Bearer {stack.admin_token('_till')}"}
    kept = [
        c
        for c in httpx.get(f"{pos_api.url}/v1/ops/ticket-conflicts", headers=admin).json()
        if c["pos_id"] == till.pos_id and c["number"] == number
    ]
    assert [(c["source"], c["attempted_ticket_id"], c["attempt"]["lines"][0]["quantity"]) for c in kept] == [
        ("finalize", basket_id, 2)
    ]
    replay = httpx.post(url, json=one, headers=headers(till))
    assert (replay.status_code, replay.headers["X-Ticket-Outcome"], replay.json()) == (
        200,
        "already_exists",
        first.json(),
    )
    assert count(stack, "select count(*) from outbox where aggregate_id = $1", basket_id) == 1
    assert (
        count(stack, "select (body->'lines'->0->>'quantity')::int from tickets where id = $1", uuid.UUID(basket_id))
        == 1
    )


def test_a_sale_naming_a_cashier_of_another_shop_is_refused_naming_operator_id(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    other = next(cashier for shop, cashier in demo.cashiers.items() if shop != till.shop_id)
    basket_id = str(uuid.uuid4())
    content = coat_and_bag(boot, [cash(900)], operator_id=other)
    body = {"number": (boot["last_ticket_number"] or 0) + 1, "version": 0, "content": content}
    refused = problem(
        httpx.post(f"{pos_api.url}/v1/baskets/{basket_id}/finalize", json=body, headers=headers(till)), 422
    )
    assert refused["invalid_params"] == [{"name": "operator_id", "reason": f"operator {other} works in another shop"}]
    assert count(stack, "select count(*) from tickets where id = $1", uuid.UUID(basket_id)) == 0
    content = coat_and_bag(boot, [cash(900)], operator_id=demo.cashiers[till.shop_id])
    done = httpx.post(
        f"{pos_api.url}/v1/baskets/{basket_id}/finalize", json={**body, "content": content}, headers=headers(till)
    )
    assert done.status_code == 201, done.text


@pytest.mark.parametrize("adapter", ["fakes", "asyncpg"])
def test_each_adapter_keeps_a_conflict_once_lists_a_tills_own_and_counts_the_seats_left(
    pos_api: ServiceProcess, stack: Stack, adapter: str
) -> None:
    """One behaviour for the fakes and the PostgreSQL adapter of the ports finalize writes conflicts and seats to."""
    pos, other = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)

    def conflict(number: int, pos_id: uuid.UUID, quantity: int) -> TicketConflict:
        attempt = {"lines": [{"line_id": "a", "quantity": quantity}]}
        return TicketConflict(pos_id, number, uuid.uuid4(), uuid.uuid4(), "finalize", attempt, now)

    async def run() -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[int]]:
        first, same, second = conflict(1, pos, 2), conflict(1, pos, 2), conflict(1, pos, 3)
        workshop = uuid.uuid4()
        pool = SqlPool(stack.infra.dsn(stack.database("pos-api", "_till")))
        state = MemoryState()
        work: Any = {"fakes": lambda: InMemoryUnitOfWork(state), "asyncpg": pool.work}[adapter]
        await pool.start()
        try:
            async with work() as w:
                for kept in (first, same, second, conflict(1, other, 2)):
                    await w.tickets.keep_conflict(kept)
                left = [await w.seats.left(workshop, 8)]
                await w.seats.take(workshop, 8, 6)
                left.append(await w.seats.left(workshop, 8))
                await w.commit()
            async with work() as w:
                mine = await w.tickets.conflicts([pos])
                theirs = await w.tickets.conflicts([other])
        finally:
            await pool.stop()
        return (
            [(c.number, c.attempt["lines"][0]["quantity"]) for c in mine],
            [(c.number, c.attempt["lines"][0]["quantity"]) for c in theirs],
            left,
        )

    mine, theirs, left = asyncio.run(run())
    assert sorted(mine) == [(1, 2), (1, 3)]
    assert theirs == [(1, 2)]
    assert left == [8, 2]


def test_a_workshop_seat_is_refused_once_the_event_is_full(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[1]
    boot = catalogue_of(pos_api, till)
    seat = product(boot, "Atelier réparation vélo")
    number = (boot["last_ticket_number"] or 0) + 1

    def seats(quantity: int) -> str:
        basket_id = str(uuid.uuid4())
        total = seat["price"] * quantity
        lines = [{"line_id": str(uuid.uuid4()), "product_id": seat["id"], "quantity": quantity}]
        put(pos_api, till, basket_id, 0, {"lines": lines, "payments": [cash(total)]})
        return basket_id

    assert finalize(pos_api, till, seats(6), number, 1).status_code == 201
    full = problem(finalize(pos_api, till, seats(3), number + 1, 1), 409)
    assert full["invalid_params"] == [{"name": "lines[0].quantity", "reason": "only 2 seat(s) left, 3 asked"}]
    assert full["seats_left"] == 2
    assert finalize(pos_api, till, seats(2), number + 1, 1).status_code == 201


def test_a_product_of_another_company_is_refused_naming_the_line(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[0]
    foreign = demo.products["NC"]["Sac cabas"]
    lines = [{"line_id": str(uuid.uuid4()), "product_id": foreign}]
    refused = problem(put(pos_api, till, str(uuid.uuid4()), 0, {"lines": lines}), 422)
    assert refused["invalid_params"][0]["name"] == "lines[0].product_id"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": -1}, "content.lines.0.quantity"),
        ({"quantity": 1.5}, "content.lines.0.quantity"),
        ({"price": 12.5}, "content.lines.0.price"),
        ({"weight_grams": -3}, "content.lines.0.weight_grams"),
    ],
)
def test_absurd_quantities_prices_and_weights_are_refused_naming_the_field(
    pos_api: ServiceProcess, demo: Demo, line: dict[str, Any], field: str
) -> None:
    till = demo.tills[0]
    boot = catalogue_of(pos_api, till)
    base = {"line_id": str(uuid.uuid4()), "category_id": category(boot, "Textile"), "price": 800, "weight_grams": 100}
    refused = problem(put(pos_api, till, str(uuid.uuid4()), 0, {"lines": [{**base, **line}]}), 422)
    assert field in {p["name"] for p in refused["invalid_params"]}


def test_another_tills_basket_is_not_found(pos_api: ServiceProcess, demo: Demo) -> None:
    owner, other = demo.tills[0], demo.tills[1]
    boot = catalogue_of(pos_api, owner)
    basket_id = str(uuid.uuid4())
    put(pos_api, owner, basket_id, 0, coat_and_bag(boot, []))
    assert problem(httpx.get(f"{pos_api.url}/v1/baskets/{basket_id}", headers=headers(other)), 404)["status"] == 404


def test_a_till_that_reboots_finds_its_open_basket_again(
    pos_api: ServiceProcess, demo: Demo, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[4]
    boot = catalogue_of(pos_api, till)
    lines = [{"line_id": str(uuid.uuid4()), "category_id": category(boot, "Jouets"), "price": 500, "weight_grams": 900}]
    basket_id = str(uuid.uuid4())
    put(pos_api, till, basket_id, 0, {"lines": lines, "pickup_number": "7"})
    current = httpx.get(f"{pos_api.url}/v1/baskets/current", headers=headers(till))
    assert current.status_code == 200
    assert (current.json()["id"], current.json()["version"]) == (basket_id, 1)
    assert current.json()["content"]["pickup_number"] == "7"


def test_a_sale_is_credited_in_parts_never_beyond_what_was_sold_and_the_original_stays(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = demo.tills[1]
    boot = catalogue_of(pos_api, till)
    bulb = product(boot, "Ampoule LED")
    lines = [{"line_id": str(uuid.uuid4()), "product_id": bulb["id"], "quantity": 3}]
    sale_id = str(uuid.uuid4())
    put(pos_api, till, sale_id, 0, {"lines": lines, "payments": [cash(1050, 2000)]})
    number = (boot["last_ticket_number"] or 0) + 1
    assert finalize(pos_api, till, sale_id, number, 1).status_code == 201

    def credit(quantity: int, refund: int, credit_id: str | None = None, n: int = 0) -> httpx.Response:
        credit_id = credit_id or str(uuid.uuid4())
        body = {
            "credit_note_id": credit_id,
            "number": n,
            "lines": [{"line_id": lines[0]["line_id"], "quantity": quantity}],
            # a credit note sent again is the same request: its refund keeps its id
            "payments": [{"payment_id": str(uuid.uuid5(refunds, credit_id)), "method": "cash", "amount": refund}],
        }
        return httpx.post(f"{pos_api.url}/v1/tickets/{sale_id}/credit-notes", json=body, headers=headers(till))

    refunds = uuid.uuid4()
    first_id = str(uuid.uuid4())
    first = credit(1, 350, first_id, number + 1)
    assert first.status_code == 201, first.text
    note = first.json()
    assert (note["kind"], note["original_number"], note["total_incl_tax"]) == ("credit_note", number, -350)
    assert note["payments"][0]["amount"] == -350
    replay = credit(1, 350, first_id, number + 1)
    assert (replay.status_code, replay.json()) == (200, note)
    more = problem(credit(2, 700, first_id, number + 1), 409)
    assert more["existing_ticket_id"] == first_id
    wrong = problem(credit(1, 300, n=number + 2), 422)
    assert wrong["invalid_params"][0]["name"] == "payments"
    beyond = problem(credit(3, 1050, n=number + 2), 422)
    assert beyond["invalid_params"][0]["name"] == "lines[0].quantity"
    assert credit(2, 700, n=number + 2).status_code == 201
    assert count(stack, "select count(*) from tickets where body->>'original_ticket_id' = $1", sale_id) == 2
    assert count(stack, "select (body->>'total_incl_tax')::int from tickets where id = $1", uuid.UUID(sale_id)) == 1050


def test_concurrent_replays_of_one_sale_store_it_once_and_all_answer_its_receipt(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    """A till that retries a finalize while the first call is still in flight: no lock is held while finalize
    computes, so the retries race the original to the write, and the losers read again and answer a replay."""
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    number = (boot["last_ticket_number"] or 0) + 1
    basket_id = str(uuid.uuid4())
    body = {"number": number, "version": 0, "content": coat_and_bag(boot, [cash(900, 1000)])}

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=pos_api.url, headers=headers(till), timeout=30) as client:
            url = f"/v1/baskets/{basket_id}/finalize"
            return list(await asyncio.gather(*(client.post(url, json=body) for _ in range(8))))

    answers = asyncio.run(send_all())
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert len({a.text for a in answers}) == 1, "every call answers the same receipt"
    assert count(stack, "select count(*) from tickets where id = $1", uuid.UUID(basket_id)) == 1
    assert count(stack, "select count(*) from outbox where aggregate_id = $1", basket_id) == 1


def test_concurrent_sales_on_one_number_store_one_and_refuse_the_others(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    till = open_tills[demo.tills[1].serial].till
    boot = catalogue_of(pos_api, till)
    number = (boot["last_ticket_number"] or 0) + 1
    baskets = [str(uuid.uuid4()) for _ in range(6)]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=pos_api.url, headers=headers(till), timeout=30) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            f"/v1/baskets/{b}/finalize",
                            json={"number": number, "version": 0, "content": coat_and_bag(boot, [cash(900)])},
                        )
                        for b in baskets
                    )
                )
            )

    answers = asyncio.run(send_all())
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5, [a.text for a in answers]
    winner = baskets[[a.status_code for a in answers].index(201)]
    for answer in answers:
        if answer.status_code == 409:
            assert problem(answer, 409)["existing_ticket_id"] == winner
    pos = uuid.UUID(till.pos_id)
    assert count(stack, "select count(*) from tickets where pos_id = $1 and number = $2", pos, number) == 1
    assert count(stack, "select count(*) from outbox where aggregate_id = any($1::text[])", baskets) == 1
    assert count(stack, "select count(*) from baskets where id = any($1::uuid[])", baskets) == 1


def test_finalize_write_lands_only_while_basket_session_and_number_are_as_read(
    pos_api: ServiceProcess, demo: Demo, stack: Stack, open_tills: dict[str, simulator.TillRun]
) -> None:
    """The guarded write itself, on the real database: each guard that fails leaves nothing behind."""
    run = open_tills[demo.tills[0].serial]
    boot = catalogue_of(pos_api, run.till)
    session_id = uuid.UUID(boot["session"]["session_id"])
    number = (boot["last_ticket_number"] or 0) + 1
    outcomes = asyncio.run(_record_under_guards(stack, run.till, boot, session_id, number))
    assert outcomes == {
        "basket named at a version it never had": False,
        "basket saved meanwhile (read as new, now at version 1)": False,
        "session no longer the till's open one": False,
        "as read": True,
        "number taken meanwhile": False,
    }
    pos = uuid.UUID(run.till.pos_id)
    assert count(stack, "select count(*) from tickets where pos_id = $1 and number = $2", pos, number) == 1
    landed = "select count(*) from baskets as b join tickets as t on t.id = b.id"
    assert count(stack, landed + " where t.pos_id = $1 and t.number = $2 and b.status = 'finalized'", pos, number) == 1


async def _record_under_guards(
    stack: Stack, till: DemoTill, boot: dict[str, Any], session_id: uuid.UUID, number: int
) -> dict[str, bool]:
    pool = SqlPool(stack.infra.dsn(stack.database("pos-api", "_till")))
    await pool.start()
    now = datetime.now(UTC)
    content = BasketContent.model_validate(coat_and_bag(boot, [cash(900)]))

    def sale(basket_id: uuid.UUID, session: uuid.UUID) -> tuple[StoredTicket, StoredBasket, Envelope[Any]]:
        ticket = load_example(TicketFinalizedV1).data.model_copy(
            update={"ticket_id": basket_id, "pos_id": uuid.UUID(till.pos_id), "session_id": session, "number": number}
        )
        stored = StoredTicket(ticket, "hash", now)
        ended = StoredBasket(basket_id, ticket.pos_id, 1, content, True, basket_id, now)
        event = Envelope[TicketFinalizedV1].wrap(ticket, event_id=uuid.uuid4(), occurred_at=now, source="test")
        return stored, ended, event

    outcomes: dict[str, bool] = {}
    try:
        async with pool.steps() as work:
            seen = await work.checkout.read(uuid.uuid4(), uuid.UUID(till.pos_id), number)  # a basket never saved
            stored, ended, event = sale(never_saved := uuid.uuid4(), session_id)
            at_two = dataclasses.replace(
                seen, basket=StoredBasket(never_saved, ended.pos_id, 2, content, False, None, now)
            )
            outcomes["basket named at a version it never had"] = await work.checkout.record(
                stored, ended, event, topic="caisse.ticket.v1", seen=at_two
            )
            assert await work.baskets.get(never_saved) is None
            saved = uuid.uuid4()
            await work.baskets.put(StoredBasket(saved, uuid.UUID(till.pos_id), 1, content, False, None, now))
            stored, ended, event = sale(saved, session_id)
            outcomes["basket saved meanwhile (read as new, now at version 1)"] = await work.checkout.record(
                stored, ended, event, topic="caisse.ticket.v1", seen=seen
            )
            stored, ended, event = sale(uuid.uuid4(), uuid.uuid4())
            outcomes["session no longer the till's open one"] = await work.checkout.record(
                stored, ended, event, topic="caisse.ticket.v1", seen=seen
            )
            stored, ended, event = sale(uuid.uuid4(), session_id)
            outcomes["as read"] = await work.checkout.record(stored, ended, event, topic="caisse.ticket.v1", seen=seen)
            stored, ended, event = sale(uuid.uuid4(), session_id)
            outcomes["number taken meanwhile"] = await work.checkout.record(
                stored, ended, event, topic="caisse.ticket.v1", seen=seen
            )
            left_open = await work.baskets.get(saved)
            assert left_open is not None
            assert (left_open.finalized, left_open.version) == (False, 1)
    finally:
        await pool.stop()
    return outcomes
