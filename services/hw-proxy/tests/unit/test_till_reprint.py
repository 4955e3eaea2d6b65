"""Reprints on the till over a real SQLite file: a sale's or a credit note's receipt printed again is the same
receipt marked as a duplicate with its counter (1, 2, … per ticket, kept in the store and moved in one
transaction); a ticket the till does not hold is a 404 problem and counts nothing."""

from __future__ import annotations

import uuid

from test_till_routes import Till, till  # noqa: F401 (the till fixture)
from test_till_selling import cash, chairs, working
from till_examples import AT


async def test_each_reprint_is_the_receipt_marked_duplicate_with_its_own_counter(till: Till) -> None:  # noqa: F811
    await working(till)
    basket, other = uuid.uuid4(), uuid.uuid4()
    paid = {"version": 0, "content": chairs(payments=cash(2400, 5000))}
    sold = (await till.http.post(f"/v1/baskets/{basket}/finalize", json=paid)).json()
    await till.http.post(f"/v1/baskets/{other}/finalize", json=paid)
    first = await till.http.post(f"/v1/sales/{basket}/reprint")
    second = await till.http.post(f"/v1/sales/{basket}/reprint")
    elsewhere = await till.http.post(f"/v1/sales/{other}/reprint")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["receipt"] == sold["receipt"]
    assert (first.json()["duplicate"], first.json()["duplicate_number"]) == (True, 1)
    assert second.json()["duplicate_number"] == 2
    assert elsewhere.json()["duplicate_number"] == 1  # a counter per sale
    assert await till.store.last_number() == 2  # a reprint takes no number
    found = await till.store.reprint(basket, AT)  # the counter is the store's, moved in its own transaction
    assert found is not None
    assert found.copies == 3


async def test_a_credit_notes_receipt_is_reprinted_marked_duplicate_with_a_counter_of_its_own(
    till: Till,  # noqa: F811
) -> None:
    await working(till)
    basket, note = uuid.uuid4(), uuid.uuid4()
    sold = await till.http.post(
        f"/v1/baskets/{basket}/finalize", json={"version": 0, "content": chairs(payments=cash(2400))}
    )
    sale = sold.json()["ticket"]
    refund = {"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 1200}
    body = {
        "credit_note_id": str(note),
        "lines": [{"line_id": sale["lines"][0]["line_id"], "quantity": 1}],
        "payments": [refund],
    }
    made = await till.http.post(f"/v1/sales/{basket}/credit-notes", json=body)
    assert made.status_code == 201, made.text
    await till.http.post(f"/v1/sales/{basket}/reprint")  # the sale's counter is its own
    first = await till.http.post(f"/v1/sales/{note}/reprint")
    second = await till.http.post(f"/v1/sales/{note}/reprint")
    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert first.json()["receipt"] == made.json()["receipt"]
    assert (first.json()["receipt"]["kind"], first.json()["receipt"]["original_number"]) == ("credit_note", 1)
    assert (first.json()["duplicate"], first.json()["duplicate_number"]) == (True, 1)
    assert second.json()["duplicate_number"] == 2
    assert (await till.http.post(f"/v1/sales/{basket}/reprint")).json()["duplicate_number"] == 2
    assert await till.store.last_number() == 2  # a reprint takes no number


async def test_reprinting_a_sale_the_till_does_not_hold_is_a_404_problem(till: Till) -> None:  # noqa: F811
    await working(till)
    missing = await till.http.post(f"/v1/sales/{uuid.uuid4()}/reprint")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
