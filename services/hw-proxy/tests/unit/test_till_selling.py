"""Selling on the till over a real SQLite file and a fake pos-api: baskets priced locally at every change
(versioned, a stale version a 409 naming `version`, a product the shop does not sell a 422 naming the line), and
finalize: the till's next gap-free number, the receipt at once, then the sale handed to pos-api online and marked
sent, or left queued while pos-api is away and sent by the sync when it is back; a finalize retried answers the same
sale."""

from __future__ import annotations

import uuid
from typing import Any

from test_till_routes import PIN, Till, till  # noqa: F401 (the till fixture)
from till_examples import AT, CASHIER, CATEGORY, PRODUCT

from hw_proxy.entrypoints.sale_forwarder import SaleForwarder
from hw_proxy.service_layer.send_outbox import send_next


async def working(till: Till) -> None:  # noqa: F811
    """A cashier logged in and a session opened with a 50.00 € float."""
    assert (await till.http.post("/v1/cashier/login", json={"operator_id": str(CASHIER), "pin": PIN})).is_success
    opened = await till.http.post("/v1/session/open", json={"float_counts": [{"value": 1000, "count": 5}]})
    assert opened.status_code == 201, opened.text


def chairs(quantity: int = 2, **more: Any) -> dict[str, Any]:
    """Chairs at 12.00 € each (20 % VAT included)."""
    return {"lines": [{"line_id": str(uuid.uuid4()), "product_id": str(PRODUCT), "quantity": quantity}], **more}


def cash(amount: int, tendered: int | None = None) -> list[dict[str, Any]]:
    return [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": amount, "tendered": tendered}]


async def forwarded(till: Till) -> SaleForwarder:  # noqa: F811
    forwarder: SaleForwarder = till.app.state.forwarder
    await forwarder.idle()
    return forwarder


async def test_a_basket_is_priced_locally_and_versioned(till: Till) -> None:  # noqa: F811
    basket = uuid.uuid4()
    saved = await till.http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": chairs()})
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] == '"1"'
    computed = saved.json()["computed"]
    assert (computed["total_incl_tax"], computed["total_excl_tax"], computed["total_tax"]) == (2400, 2000, 400)
    assert computed["remaining"] == 2400
    again = await till.http.put(f"/v1/baskets/{basket}", json={"version": 1, "content": chairs(3)})
    assert again.json()["version"] == 2
    read = await till.http.get(f"/v1/baskets/{basket}")
    assert read.json()["computed"]["total_incl_tax"] == 3600
    stale = await till.http.put(f"/v1/baskets/{basket}", json={"version": 1, "content": chairs()})
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert [p["name"] for p in stale.json()["invalid_params"]] == ["version"]
    assert stale.json()["current_version"] == 2


async def test_a_line_the_shop_does_not_sell_is_a_422_naming_it_and_nothing_is_saved(till: Till) -> None:  # noqa: F811
    basket = uuid.uuid4()
    unknown = {"lines": [{"line_id": str(uuid.uuid4()), "product_id": str(uuid.uuid4())}]}
    refused = await till.http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": unknown})
    assert refused.status_code == 422
    assert [p["name"] for p in refused.json()["invalid_params"]] == ["content.lines[0].product_id"]
    assert (await till.http.get(f"/v1/baskets/{basket}")).status_code == 404
    free = {"lines": [{"line_id": str(uuid.uuid4()), "category_id": str(CATEGORY), "price": -5}]}
    invalid = await till.http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": free})
    assert invalid.status_code == 422
    assert invalid.json()["invalid_params"][0]["name"].startswith("content.lines.0.price")


async def test_finalize_needs_a_session(till: Till) -> None:  # noqa: F811
    refused = await till.http.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize", json={"version": 0, "content": chairs(payments=cash(2400))}
    )
    assert refused.status_code == 409
    assert refused.json()["till_status"] == "READY_OPEN"


async def test_online_a_sale_gets_the_next_number_its_receipt_and_is_marked_sent(till: Till) -> None:  # noqa: F811
    await working(till)
    basket = uuid.uuid4()
    saved = await till.http.put(f"/v1/baskets/{basket}", json={"version": 0, "content": chairs()})
    assert saved.status_code == 200
    paid = chairs(payments=cash(2400, 5000))
    done = await till.http.post(f"/v1/baskets/{basket}/finalize", json={"version": 1, "content": paid})
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["ticket"]["ticket_id"] == str(basket)
    assert body["ticket"]["number"] == 1
    assert body["ticket"]["operator_id"] == str(CASHIER)
    assert (body["receipt"]["total_due"], body["receipt"]["change_given"]) == (2400, 2600)
    assert body["receipt"]["shop"] == "Le Grenier"
    assert (await forwarded(till)).results == {1: "sent"}
    assert [t.ticket_id for t in till.central.tickets] == [basket]
    sale = (await till.http.get(f"/v1/sales/{basket}")).json()
    assert (sale["sync_state"], sale["outcome"]) == ("sent", "created")
    second = uuid.uuid4()
    other = await till.http.post(f"/v1/baskets/{second}/finalize", json={"version": 0, "content": paid})
    assert other.json()["ticket"]["number"] == 2
    assert (await till.http.get("/v1/status")).json()["last_ticket_number"] == 2


async def test_a_finalize_retried_answers_the_same_sale_with_no_new_number(till: Till) -> None:  # noqa: F811
    await working(till)
    basket = uuid.uuid4()
    paid = {"version": 0, "content": chairs(payments=cash(2400))}
    first = await till.http.post(f"/v1/baskets/{basket}/finalize", json=paid)
    again = await till.http.post(f"/v1/baskets/{basket}/finalize", json=paid)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["ticket"] == first.json()["ticket"]
    assert await till.store.last_number() == 1
    changed = await till.http.put(f"/v1/baskets/{basket}", json={"version": 1, "content": chairs()})
    assert changed.status_code == 409


async def test_a_basket_not_fully_paid_is_a_422_and_takes_no_number(till: Till) -> None:  # noqa: F811
    await working(till)
    refused = await till.http.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize", json={"version": 0, "content": chairs(payments=cash(1000))}
    )
    assert refused.status_code == 422
    assert [p["name"] for p in refused.json()["invalid_params"]] == ["content.payments"]
    assert await till.store.last_number() == 0
    assert (await till.store.queue_counts()).pending_sales == 0


async def test_offline_the_receipt_comes_at_once_and_the_sale_waits_in_the_queue_for_the_sync(
    till: Till,  # noqa: F811
) -> None:
    await working(till)
    await till.app.state.sender.stop()  # the background sender is driven by hand below
    till.central.reachable = False
    baskets = [uuid.uuid4() for _ in range(3)]
    for basket in baskets:
        done = await till.http.post(
            f"/v1/baskets/{basket}/finalize", json={"version": 0, "content": chairs(1, payments=cash(1200))}
        )
        assert done.status_code == 201
    assert (await forwarded(till)).results == {1: "queued", 2: "queued", 3: "queued"}
    assert till.central.tickets == []
    assert (await till.store.queue_counts()).pending_sales == 3
    assert (await till.http.get(f"/v1/sales/{baskets[0]}")).json()["sync_state"] == "pending"
    till.central.reachable = True
    while not (await send_next(till.store, till.central, batch_max=10, now=AT)).empty:
        pass
    assert [s.number for s in till.central.sales] == [1, 2, 3]
    assert [s.ticket_id for s in till.central.sales] == baskets
    assert all(len(s.lines) == 1 and s.lines[0].product_version == 3 for s in till.central.sales)
    assert (await till.http.get(f"/v1/sales/{baskets[2]}")).json()["sync_state"] == "sent"
