"""Reprints on the till over a real SQLite file: a sale's receipt printed again is the same receipt marked as a
duplicate with its counter (1, 2, … per sale, kept in the store and moved in one transaction); a sale the
till does not hold is a 404 problem and counts nothing."""

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
    assert found[1] == 3


async def test_reprinting_a_sale_the_till_does_not_hold_is_a_404_problem(till: Till) -> None:  # noqa: F811
    await working(till)
    missing = await till.http.post(f"/v1/sales/{uuid.uuid4()}/reprint")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
