"""Credit notes on the till over a real SQLite file and a fake pos-api: a sale of this till credited in parts with
the till's next numbers (the credit-note ticket as pos-api makes it: kind `credit_note`, the original named,
negative quantities and money), its receipt at once, forwarded online once its sale is in pos-api or queued behind
it and sent through `POST /v1/tickets` by the sender; more given back than sold, refunds that do not match, or a
sale the till does not hold are refused naming the field, with no number taken; a retry answers the same one, and
the same id asking for anything else is a 409 naming what differs, with nothing written."""

from __future__ import annotations

import uuid
from typing import Any

from test_till_routes import Till, till  # noqa: F401 (the till fixture)
from test_till_selling import cash, chairs, forwarded, working
from till_examples import AT

from hw_proxy.service_layer.send_outbox import send_next


async def sold(till: Till, quantity: int = 3) -> dict[str, Any]:  # noqa: F811
    """Chairs at 12.00 € sold in cash: the ticket."""
    done = await till.http.post(
        f"/v1/baskets/{uuid.uuid4()}/finalize",
        json={"version": 0, "content": chairs(quantity, payments=cash(1200 * quantity))},
    )
    assert done.status_code == 201, done.text
    ticket: dict[str, Any] = done.json()["ticket"]
    return ticket


def credit(sale: dict[str, Any], quantity: int, amount: int, note: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "credit_note_id": str(note or uuid.uuid4()),
        "lines": [{"line_id": sale["lines"][0]["line_id"], "quantity": quantity}],
        "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": amount}],
    }


async def test_a_sale_is_credited_in_parts_with_the_next_numbers_and_sent_online(till: Till) -> None:  # noqa: F811
    await working(till)
    sale = await sold(till)
    await forwarded(till)
    first = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=credit(sale, 1, 1200))
    assert first.status_code == 201, first.text
    ticket = first.json()["ticket"]
    assert (ticket["kind"], ticket["number"], ticket["original_ticket_id"]) == ("credit_note", 2, sale["ticket_id"])
    assert [line["quantity"] for line in ticket["lines"]] == [-1]
    assert ticket["total_incl_tax"] == -1200
    assert [p["amount"] for p in ticket["payments"]] == [-1200]
    receipt = first.json()["receipt"]
    assert (receipt["kind"], receipt["number"], receipt["original_number"]) == ("credit_note", 2, 1)
    rest = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=credit(sale, 2, 2400))
    assert rest.json()["ticket"]["number"] == 3
    assert (await forwarded(till)).results == {1: "sent", 2: "sent", 3: "sent"}
    assert [t.kind.value for t in till.central.tickets] == ["sale", "credit_note", "credit_note"]
    assert await till.store.last_number() == 3
    beyond = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=credit(sale, 1, 1200))
    assert beyond.status_code == 422
    assert beyond.headers["content-type"].startswith("application/problem+json")
    assert [p["name"] for p in beyond.json()["invalid_params"]] == ["lines[0].quantity"]
    assert await till.store.last_number() == 3  # no number taken


async def test_more_than_sold_a_wrong_refund_or_an_unknown_sale_is_refused_naming_the_field(
    till: Till,  # noqa: F811
) -> None:
    await working(till)
    sale = await sold(till, 2)
    url = f"/v1/sales/{sale['ticket_id']}/credit-notes"
    too_many = await till.http.post(url, json=credit(sale, 3, 3600))
    assert too_many.status_code == 422
    assert [p["name"] for p in too_many.json()["invalid_params"]] == ["lines[0].quantity"]
    wrong_money = await till.http.post(url, json=credit(sale, 1, 1000))
    assert [p["name"] for p in wrong_money.json()["invalid_params"]] == ["payments"]
    unknown = await till.http.post(f"/v1/sales/{uuid.uuid4()}/credit-notes", json=credit(sale, 1, 1200))
    assert unknown.status_code == 404  # another till's sale, or none: this till holds no such sale
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert await till.store.last_number() == 1
    assert (await till.store.queue_counts()).pending_sales == 0


async def test_a_credit_note_retried_answers_the_same_one_with_no_new_number(till: Till) -> None:  # noqa: F811
    await working(till)
    sale = await sold(till)
    body = credit(sale, 1, 1200)
    first = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=body)
    again = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["ticket"] == first.json()["ticket"]
    assert await till.store.last_number() == 2


async def test_the_same_id_with_other_lines_other_refunds_or_on_another_sale_is_a_409_naming_what_differs(
    till: Till,  # noqa: F811
) -> None:
    await working(till)
    sale = await sold(till)
    other_sale = await sold(till)
    body = credit(sale, 1, 1200)
    url = f"/v1/sales/{sale['ticket_id']}/credit-notes"
    first = await till.http.post(url, json=body)
    assert first.status_code == 201, first.text

    async def conflict(answer_to: str, sent: dict[str, Any]) -> list[str]:
        answer = await till.http.post(answer_to, json=sent)
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        return [p["name"] for p in answer.json()["invalid_params"]]

    more = {
        **body,
        "lines": [{**body["lines"][0], "quantity": 2}],
        "payments": [{**body["payments"][0], "amount": 2400}],
    }
    assert await conflict(url, more) == ["lines[0].quantity", "payments[0].amount"]
    by_card = {**body, "payments": [{**body["payments"][0], "method": "card", "reference": "A1"}]}
    assert await conflict(url, by_card) == ["payments[0].method", "payments[0].reference"]
    other_refund = {**body, "payments": [{**body["payments"][0], "payment_id": str(uuid.uuid4())}]}
    assert await conflict(url, other_refund) == ["payments[0].payment_id"]
    someone_else = {**body, "operator_id": str(uuid.uuid4())}
    assert await conflict(url, someone_else) == ["operator_id"]
    elsewhere = {**credit(other_sale, 1, 1200), "credit_note_id": body["credit_note_id"]}
    assert await conflict(f"/v1/sales/{other_sale['ticket_id']}/credit-notes", elsewhere) == ["credit_note_id"]
    again = await till.http.post(url, json=body)
    assert (again.status_code, again.json()["ticket"]) == (200, first.json()["ticket"])
    assert await till.store.last_number() == 3  # two sales and the one credit note: nothing else written
    assert (await forwarded(till)).results == {1: "sent", 2: "sent", 3: "sent"}  # each forwarded once
    assert [t.number for t in till.central.tickets] == [1, 2, 3]


async def test_a_credit_note_under_the_id_of_a_sale_is_refused_naming_credit_note_id(till: Till) -> None:  # noqa: F811
    await working(till)
    sale = await sold(till)
    body = {**credit(sale, 1, 1200), "credit_note_id": sale["ticket_id"]}
    refused = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=body)
    assert refused.status_code == 422, refused.text
    assert [p["name"] for p in refused.json()["invalid_params"]] == ["credit_note_id"]
    assert await till.store.last_number() == 1


async def test_offline_a_credit_note_waits_behind_its_sale_and_the_sender_sends_it(till: Till) -> None:  # noqa: F811
    await working(till)
    await till.app.state.sender.stop()  # the background sender is driven by hand below
    till.central.reachable = False
    sale = await sold(till)
    done = await till.http.post(f"/v1/sales/{sale['ticket_id']}/credit-notes", json=credit(sale, 3, 3600))
    assert done.status_code == 201  # the receipt at once, pos-api away
    assert (await forwarded(till)).results == {1: "queued", 2: "queued"}
    assert (await till.store.queue_counts()).pending_sales == 2
    till.central.reachable = True
    while not (await send_next(till.store, till.central, batch_max=10, now=AT)).empty:
        pass
    assert [s.number for s in till.central.sales] == [1]  # the sale through the sync
    assert [(t.number, t.kind.value) for t in till.central.tickets] == [(2, "credit_note")]  # then its credit note
    assert (await till.store.queue_counts()).pending_sales == 0
