"""The offline batch sync over HTTP on the fakes: each sale priced with the versions the till held, stored once,
answered in order; a sale refused names its field and writes nothing, and never stops the others.

Amounts are worked out by hand from the basket rules (`caisse_contracts.basket`, prices tax included, VAT per
rate half up): a 5.00 € bag at 20 % holds 83 of VAT (500 × 2000 / 12000 = 83.3), two of them 167 (1000 × 2000 /
12000 = 166.7); a coat at 8.00 € 133 (133.3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pos_api_setting import Setting, a_shop_with_a_till

from caisse_contracts.events import EntityType
from caisse_contracts.topics import TICKETS
from caisse_runtime.http import install_problem_handlers
from pos_api.adapters.memory import InMemoryUnitOfWork, MemoryState
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import ops, sync
from pos_api.service_layer.config import SYSTEM, create_item, update_item
from pos_api.service_layer.ports import MovementFilter
from pos_api.service_layer.services import Services

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
YESTERDAY = "2026-11-22T15:32:06+01:00"


@dataclass
class Shop:
    client: httpx.AsyncClient
    app: FastAPI
    state: MemoryState
    services: Services
    setting: Setting
    headers: dict[str, str]
    category: uuid.UUID
    bag: uuid.UUID
    session_id: uuid.UUID

    async def sync(self, *sales: Any) -> httpx.Response:
        return await self.client.post("/v1/sync/sales", json={"sales": list(sales)}, headers=self.headers)

    async def answer(self, *sales: Any) -> list[dict[str, Any]]:
        response = await self.sync(*sales)
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def line(self, **changes: Any) -> dict[str, Any]:
        """A 5.00 € bag of the catalogue at the versions the till held first."""
        return {
            "line_id": str(uuid.uuid4()),
            "category_id": str(self.category),
            "category_version": 1,
            "product_id": str(self.bag),
            "product_version": 1,
            "unit_price": 500,
            **changes,
        }

    def sale(self, number: int, *lines: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """One bag paid 5.00 € in cash (a 10 € note), unless other lines and totals are given."""
        s = self.setting
        return {
            "ticket_id": str(uuid.uuid4()),
            "number": number,
            "shop_id": str(s.shop_id),
            "pos_id": str(s.pos_id),
            "session_id": str(self.session_id),
            "finalized_at": YESTERDAY,
            "timezone": "Europe/Paris",
            "territory_version": 1,
            "company_version": 1,
            "lines": list(lines) or [self.line()],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 500, "tendered": 1000}],
            "total_excl_tax": 417,
            "total_tax": 83,
            "total_incl_tax": 500,
            "change_given": 500,
            **changes,
        }

    def written(self) -> tuple[int, int]:
        """Tickets stored and `ticket.finalized` events queued."""
        return len(self.state.tickets), len([e for e in self.state.events if e.topic == TICKETS.name])


@pytest.fixture
async def shop() -> Shop:
    state = MemoryState()
    services = Services(uow=lambda: InMemoryUnitOfWork(state), clock=lambda: NOW, new_id=uuid.uuid4)
    setting = await a_shop_with_a_till(services)
    category = await create_item(
        EntityType.CATEGORY,
        {
            "company_id": str(setting.company_id),
            "name": "Maison",
            "revenue_account": "7071",
            "default_tax_code": "TVA20",
        },
        SYSTEM,
        services,
    )
    bag = await create_item(
        EntityType.PRODUCT,
        {"company_id": str(setting.company_id), "category_id": str(category.stored.id), "name": "Sac", "price": 500},
        SYSTEM,
        services,
    )
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(sync.router)
    app.include_router(ops.router)
    app.state.services = services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    headers = {"X-Device-Serial": setting.serial, "X-Device-Secret": setting.secret}
    return Shop(client, app, state, services, setting, headers, category.stored.id, bag.stored.id, uuid.uuid4())


def outcomes(results: list[dict[str, Any]]) -> list[str]:
    return [r["outcome"] for r in results]


def failure(result: dict[str, Any]) -> tuple[int, list[str]]:
    assert result["outcome"] == "failed", result
    return result["problem"]["status"], [p["name"] for p in result["problem"]["invalid_params"]]


async def test_a_sale_made_offline_is_stored_with_the_same_ticket_finalized_as_online_on_its_local_day(
    shop: Shop,
) -> None:
    sale = shop.sale(1)
    [result] = await shop.answer(sale)
    assert result["outcome"] == "created"
    ticket = result["ticket"]
    assert (ticket["ticket_id"], ticket["number"], ticket["session_id"]) == (sale["ticket_id"], 1, sale["session_id"])
    assert (ticket["total_incl_tax"], ticket["total_tax"], ticket["change_given"]) == (500, 83, 500)
    assert ticket["finalized_at"] == "2026-11-22T14:32:06Z"
    assert ticket["local_date"] == "2026-11-22"
    assert [(line["label"], line["revenue_account"]) for line in ticket["lines"]] == [("Sac", "7071")]
    [event] = [e for e in shop.state.events if e.topic == TICKETS.name]
    assert (event.topic, event.key, event.envelope.type) == (TICKETS.name, str(shop.setting.pos_id), "ticket.finalized")
    assert event.envelope.data.model_dump(mode="json") == ticket
    assert result["alerts"] == []


async def test_the_local_day_is_the_one_of_the_sales_time_zone(shop: Shop) -> None:
    """23:30 UTC on 22 November is already the 23rd in Paris (UTC+1), still the 22nd in Martinique (UTC-4)."""
    late = "2026-11-22T23:30:00Z"
    paris, martinique = shop.sale(1, finalized_at=late), shop.sale(2, finalized_at=late, timezone="America/Martinique")
    results = await shop.answer(paris, martinique, shop.sale(3, timezone="Europe/Nowhere"))
    assert [r["ticket"]["local_date"] for r in results[:2]] == ["2026-11-23", "2026-11-22"]
    assert failure(results[2]) == (422, ["timezone"])


async def test_a_batch_answers_each_outcome_in_order_and_replayed_whole_answers_already_exists_writing_nothing(
    shop: Shop,
) -> None:
    first = shop.sale(1)
    await shop.answer(first)
    taken_by_another_sale = shop.sale(1)
    batch = [shop.sale(2), first, taken_by_another_sale, shop.sale(3, total_incl_tax=400)]
    results = await shop.answer(*batch)
    assert outcomes(results) == ["created", "already_exists", "conflict", "failed"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[1]["ticket"]["ticket_id"] == first["ticket_id"]
    assert results[2]["existing_ticket_id"] == first["ticket_id"]
    assert results[2]["problem"]["status"] == 409
    assert shop.written() == (2, 2)
    replayed = await shop.sync(*batch)
    assert outcomes(replayed.json()["results"]) == ["already_exists", "already_exists", "conflict", "failed"]
    assert replayed.json()["already_exists"] == 2
    assert shop.written() == (2, 2)


async def test_a_conflict_is_kept_aside_for_ops_and_the_original_is_never_overwritten(shop: Shop) -> None:
    original, other = shop.sale(1), shop.sale(1)
    results = await shop.answer(original, other)
    assert outcomes(results) == ["created", "conflict"]
    assert shop.state.tickets[(shop.setting.pos_id, 1)].ticket.ticket_id == uuid.UUID(original["ticket_id"])
    [kept] = shop.state.conflicts.values()
    assert (kept.source, kept.attempt["ticket_id"]) == ("ticket", other["ticket_id"])


async def test_the_same_sale_twice_in_one_batch_is_created_once_then_already_exists(shop: Shop) -> None:
    sale = shop.sale(1)
    results = await shop.answer(sale, sale)
    assert outcomes(results) == ["created", "already_exists"]
    assert results[1]["ticket"] == results[0]["ticket"]
    assert shop.written() == (1, 1)


async def test_a_price_changed_while_the_till_was_offline_does_not_fail_yesterdays_sale(shop: Shop) -> None:
    fields = {"company_id": str(shop.setting.company_id), "category_id": str(shop.category), "name": "Sac"}
    await update_item(EntityType.PRODUCT, shop.bag, 1, {**fields, "price": 600}, SYSTEM, shop.services)
    yesterday = shop.sale(1)
    today = shop.sale(
        2,
        shop.line(product_version=2, unit_price=600),
        payments=[{"payment_id": str(uuid.uuid4()), "method": "card", "amount": 600}],
        total_excl_tax=500,
        total_tax=100,
        total_incl_tax=600,
        change_given=0,
    )
    assert outcomes(await shop.answer(yesterday, today)) == ["created", "created"]


async def test_a_price_matching_no_version_fails_naming_the_lines_field_and_writes_nothing(shop: Shop) -> None:
    cheaper = shop.sale(1, shop.line(unit_price=450))
    unknown_version = shop.sale(2, shop.line(product_version=7))
    results = await shop.answer(cheaper, unknown_version)
    assert failure(results[0]) == (422, ["lines[0].unit_price"])
    assert "at product version 1 this shop sells it at 500" in results[0]["problem"]["invalid_params"][0]["reason"]
    assert failure(results[1]) == (422, ["lines[0].product_version"])
    assert shop.written() == (0, 0)


async def test_a_shops_override_prices_the_sale_at_the_version_the_till_held(shop: Shop) -> None:
    override = await create_item(
        EntityType.CATALOGUE_OVERRIDE,
        {"shop_id": str(shop.setting.shop_id), "product_id": str(shop.bag), "price": 450},
        SYSTEM,
        shop.services,
    )
    at_override = shop.line(override_id=str(override.stored.id), override_version=1, unit_price=450)
    paid = [{"payment_id": str(uuid.uuid4()), "method": "card", "amount": 450}]
    sale = shop.sale(
        1, at_override, payments=paid, total_excl_tax=375, total_tax=75, total_incl_tax=450, change_given=0
    )
    before_the_override = shop.sale(2)  # the till had not received it yet: the catalogue's price
    assert outcomes(await shop.answer(sale, before_the_override)) == ["created", "created"]
    at_catalogue_price = shop.sale(3, {**at_override, "line_id": str(uuid.uuid4()), "unit_price": 500})
    assert failure((await shop.answer(at_catalogue_price))[0]) == (422, ["lines[0].unit_price"])


async def test_totals_that_do_not_add_up_fail_naming_each_total(shop: Shop) -> None:
    [result] = await shop.answer(shop.sale(1, total_incl_tax=510, total_tax=93))
    assert failure(result) == (422, ["total_tax", "total_incl_tax"])
    assert shop.written() == (0, 0)


async def test_a_sale_not_fully_paid_fails_naming_payments(shop: Shop) -> None:
    underpaid = [{"payment_id": str(uuid.uuid4()), "method": "card", "amount": 400}]
    [result] = await shop.answer(shop.sale(1, payments=underpaid, change_given=0))
    assert failure(result) == (422, ["payments"])


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("line", {"unit_price": 5.0}, "lines[0].unit_price"),
        ("sale", {"total_incl_tax": 500.0}, "total_incl_tax"),
        ("payment", {"amount": 500.5}, "payments[0].amount"),
        ("line", {"quantity": 1.0}, "lines[0].quantity"),
    ],
)
async def test_a_float_anywhere_fails_that_sale_alone_naming_the_field(
    shop: Shop, where: str, value: dict[str, Any], field: str
) -> None:
    bad = shop.sale(2)
    if where == "line":
        bad["lines"] = [shop.line(**value)]
    elif where == "payment":
        bad["payments"] = [{**bad["payments"][0], **value}]
    else:
        bad.update(value)
    results = await shop.answer(shop.sale(1), bad, shop.sale(3))
    assert outcomes(results) == ["created", "failed", "created"]
    assert failure(results[1]) == (422, [field])
    assert (results[1]["ticket_id"], results[1]["number"]) == (bad["ticket_id"], 2)
    assert shop.written() == (2, 2)


async def test_a_malformed_sale_among_good_ones_fails_alone(shop: Shop) -> None:
    missing_lines = {k: v for k, v in shop.sale(2).items() if k != "lines"}
    results = await shop.answer(shop.sale(1), missing_lines, "not a sale", shop.sale(3))
    assert outcomes(results) == ["created", "failed", "failed", "created"]
    assert failure(results[1]) == (422, ["lines"])
    assert failure(results[2]) == (422, ["sale"])
    assert results[2]["ticket_id"] is None


async def test_a_negative_weight_fails_naming_it(shop: Shop) -> None:
    [result] = await shop.answer(shop.sale(1, shop.line(weight_grams=-250)))
    assert failure(result) == (422, ["lines[0].weight_grams"])
    assert shop.written() == (0, 0)


async def test_a_number_beyond_the_jump_limit_fails_naming_number(shop: Shop) -> None:
    [result] = await shop.answer(shop.sale(10_002))
    assert failure(result) == (422, ["number"])
    assert shop.written() == (0, 0)


async def test_a_sale_of_another_shops_till_fails_alone_as_forbidden(shop: Shop) -> None:
    elsewhere = shop.sale(1, shop_id=str(uuid.uuid4()), pos_id=str(uuid.uuid4()))
    another_till = shop.sale(1, pos_id=str(uuid.uuid4()))
    results = await shop.answer(elsewhere, another_till, shop.sale(1))
    assert failure(results[0]) == (403, ["shop_id"])
    assert failure(results[1]) == (403, ["pos_id"])
    assert results[2]["outcome"] == "created"
    assert shop.written() == (1, 1)


async def test_a_product_of_another_company_fails_naming_its_version(shop: Shop) -> None:
    other = await create_item(
        EntityType.TERRITORY,
        {
            "name": "Ailleurs",
            "currency": "EUR",
            "currency_exponent": 2,
            "tax_rates": [{"code": "TVA20", "label": "TVA 20 %", "rate_bp": 2000}],
            "denominations": [{"value": 500, "kind": "note"}],
        },
        SYSTEM,
        shop.services,
    )
    company = await create_item(
        EntityType.COMPANY, {"territory_id": str(other.stored.id), "name": "Autre"}, SYSTEM, shop.services
    )
    category = await create_item(
        EntityType.CATEGORY,
        {"company_id": str(company.stored.id), "name": "X", "revenue_account": "7071", "default_tax_code": "TVA20"},
        SYSTEM,
        shop.services,
    )
    line = shop.line(category_id=str(category.stored.id))
    [result] = await shop.answer(shop.sale(1, line))
    assert failure(result) == (422, ["lines[0].category_version"])


async def test_a_sale_id_already_used_under_another_number_fails_naming_ticket_id(shop: Shop) -> None:
    first = shop.sale(1)
    results = await shop.answer(first, {**first, "number": 2})
    assert outcomes(results) == ["created", "failed"]
    assert failure(results[1]) == (422, ["ticket_id"])


async def test_a_skipped_number_is_a_gap_until_its_sale_is_synced(shop: Shop) -> None:
    await shop.answer(shop.sale(1), shop.sale(3))
    assert set(shop.state.gaps) == {(shop.setting.pos_id, 2)}
    await shop.answer(shop.sale(2))
    assert shop.state.gaps == {}


async def test_an_oversized_batch_is_a_413_naming_sales_and_nothing_is_written(shop: Shop) -> None:
    shop.app.state.sync_batch_max = 2
    response = await shop.sync(shop.sale(1), shop.sale(2), shop.sale(3))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert [p["name"] for p in response.json()["invalid_params"]] == ["sales"]
    assert shop.written() == (0, 0)


async def test_a_body_that_is_not_json_or_has_no_list_of_sales_is_refused_whole(shop: Shop) -> None:
    broken = await shop.client.post(
        "/v1/sync/sales", content=b'{"sales": [', headers={**shop.headers, "content-type": "application/json"}
    )
    assert broken.status_code == 400
    not_a_list = await shop.client.post("/v1/sync/sales", json={"sales": {"number": 1}}, headers=shop.headers)
    assert not_a_list.status_code == 422
    assert [p["name"] for p in not_a_list.json()["invalid_params"]] == ["sales"]


async def test_a_wrong_device_secret_is_a_401(shop: Shop) -> None:
    response = await shop.client.post(
        "/v1/sync/sales", json={"sales": [shop.sale(1)]}, headers={**shop.headers, "X-Device-Secret": "wrong"}
    )
    assert response.status_code == 401
    assert shop.written() == (0, 0)


async def test_an_operator_of_another_shop_fails_naming_operator_id(shop: Shop) -> None:
    other_shop = await create_item(
        EntityType.SHOP, {"company_id": str(shop.setting.company_id), "name": "S2"}, SYSTEM, shop.services
    )
    cashier = await create_item(
        EntityType.OPERATOR,
        {"name": "C", "role": "cashier", "shop_id": str(other_shop.stored.id)},
        SYSTEM,
        shop.services,
    )
    [result] = await shop.answer(shop.sale(1, operator_id=str(cashier.stored.id)))
    assert failure(result) == (422, ["operator_id"])


async def test_synced_sales_move_the_stock_past_zero_with_their_alerts_and_a_replay_moves_nothing(shop: Shop) -> None:
    fields = {"company_id": str(shop.setting.company_id), "category_id": str(shop.category), "name": "Sac"}
    tracked = {**fields, "price": 500, "stock_tracked": True, "stock_threshold": 1, "stock_refuse_below_zero": True}
    await update_item(EntityType.PRODUCT, shop.bag, 1, tracked, SYSTEM, shop.services)
    batch = [shop.sale(1, shop.line(product_version=2)), shop.sale(2, shop.line(product_version=2))]
    results = await shop.answer(*batch)
    assert outcomes(results) == ["created", "created"]  # it happened: never refused offline, not even below zero
    assert [[(a["kind"], a["level"]) for a in r["alerts"]] for r in results] == [
        [("negative", -1)],
        [("negative", -2)],
    ]
    assert await shop.answer(*batch) == [{**r, "outcome": "already_exists", "alerts": []} for r in results]

    async with InMemoryUnitOfWork(shop.state) as work:
        levels = await work.stock.levels(shop.setting.shop_id, [shop.bag])
        moved = await work.stock.movements(shop.setting.shop_id, MovementFilter(), before_seq=None, limit=10)
    assert [level.level for level in levels] == [-2]
    assert sorted((m.level_before, m.level_after) for m in moved) == [(-1, -2), (0, -1)]  # once each, not again
