"""The stock routes over HTTP on the fakes (PRODUCT.md "bad input"): every bad input is a 4xx problem naming the
field and the reason, and nothing is written; a document sent again answers what it recorded; a ticket's answer
carries its stock alerts, and a sale refused for its stock is a 409 naming the product."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from stock_setting import Shop, a_stocked_shop

from caisse_contracts.events import EntityType, TicketFinalizedV1
from caisse_runtime.http import install_problem_handlers
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import backoffice, stock, tickets
from pos_api.service_layer.config import SYSTEM, create_item


class Http:
    def __init__(self, shop: Shop, client: httpx.AsyncClient, admin: str, manager: str) -> None:
        self.shop = shop
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.manager = {"Authorization": f"Bearer {manager}"}

    def url(self, what: str, shop_id: uuid.UUID | None = None) -> str:
        return f"/v1/shops/{shop_id or self.shop.shop_id}/stock/{what}"


@pytest.fixture
async def http() -> Http:
    shop = await a_stocked_shop()
    admin = await create_item(EntityType.OPERATOR, {"name": "Ops", "role": "federation_admin"}, SYSTEM, shop.services)
    manager = await create_item(
        EntityType.OPERATOR,
        {"name": "Gérante", "role": "shop_manager", "shop_id": str(shop.shop_id)},
        SYSTEM,
        shop.services,
    )
    assert admin.secret is not None
    assert manager.secret is not None
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    for router in (stock.router, backoffice.router, tickets.router):
        app.include_router(router)
    app.state.services = shop.services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    return Http(shop, client, admin.secret, manager.secret)


def delivery(http: Http, *lines: tuple[Any, Any], **extra: Any) -> dict[str, Any]:
    body = [{"product_id": str(product), "quantity": quantity} for product, quantity in lines]
    return {"id": str(uuid.uuid4()), "reference": "BL-7", "lines": body, **extra}


def problem(response: httpx.Response, status: int) -> list[dict[str, str]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    params: list[dict[str, str]] = response.json().get("invalid_params", [])
    return params


def nothing_written(http: Http) -> None:
    assert not http.shop.state.stock_levels
    assert not http.shop.state.stock_movements
    assert not http.shop.state.stock_documents


async def test_a_delivery_is_201_sent_again_200_and_other_content_under_its_id_409(http: Http) -> None:
    body = delivery(http, (http.shop.products["bulb"], 6))
    created = await http.client.post(http.url("deliveries"), json=body, headers=http.manager)
    assert created.status_code == 201, created.text
    [moved] = created.json()["movements"]
    assert (moved["change"], moved["level_before"], moved["level_after"], moved["reason"]) == (6, 0, 6, "delivery")
    again = await http.client.post(http.url("deliveries"), json=body, headers=http.manager)
    assert (again.status_code, again.json()["movements"]) == (200, created.json()["movements"])
    other = {**body, "lines": [{"product_id": str(http.shop.products["bulb"]), "quantity": 7}]}
    problem(await http.client.post(http.url("deliveries"), json=other, headers=http.manager), 409)
    assert len(http.shop.state.stock_movements) == 1


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [(12.0, "Input should be a valid integer"), ("12", "Input should be a valid integer"), (0, "greater than")],
)
async def test_a_quantity_that_is_not_a_whole_number_of_units_is_a_422_naming_it(
    http: Http, quantity: object, reason: str
) -> None:
    body = delivery(http, (http.shop.products["bag"], 1), (http.shop.products["bulb"], quantity))
    [param] = problem(await http.client.post(http.url("deliveries"), json=body, headers=http.admin), 422)
    assert param["name"] == "lines.1.quantity"
    assert reason in param["reason"]
    nothing_written(http)


@pytest.mark.parametrize(
    ("product", "reason"),
    [("card", "is not stock-tracked"), ("foreign", "is a product of another company"), (None, "no such product")],
)
async def test_a_product_the_shop_cannot_stock_is_a_422_naming_its_line(
    http: Http, product: str | None, reason: str
) -> None:
    named = http.shop.products[product] if product else uuid.uuid4()
    body = delivery(http, (http.shop.products["bag"], 1), (named, 2))
    [param] = problem(await http.client.post(http.url("deliveries"), json=body, headers=http.admin), 422)
    assert param["name"] == "lines[1].product_id"
    assert reason in param["reason"]
    nothing_written(http)


async def test_another_companys_shop_is_403_and_an_unknown_shop_404_for_a_shop_manager(http: Http) -> None:
    body = delivery(http, (http.shop.products["bag"], 1))
    problem(await http.client.post(http.url("deliveries", http.shop.other_shop), json=body, headers=http.manager), 403)
    problem(await http.client.get(http.url("levels", http.shop.other_shop), headers=http.manager), 403)
    problem(await http.client.get(http.url("movements", uuid.uuid4()), headers=http.manager), 404)
    problem(await http.client.get(http.url("levels")), 401)
    nothing_written(http)


@pytest.mark.parametrize(
    ("change", "reason", "name"),
    [
        (2, "a loss removes units: every change is negative", "lines"),
        (0, "an adjustment of zero units moves nothing", "lines.0.change"),
        (-1.5, "Input should be a valid integer", "lines.0.change"),
    ],
)
async def test_a_bad_adjustment_is_a_422_naming_its_field(http: Http, change: object, reason: str, name: str) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "reason": "loss",
        "note": "casse",
        "lines": [{"product_id": str(http.shop.products["bag"]), "change": change}],
    }
    params = problem(await http.client.post(http.url("adjustments"), json=body, headers=http.admin), 422)
    param = params[0]  # pydantic may add that the lines left are too few: the line's own reason comes first
    assert param["name"] == name
    assert reason in param["reason"]
    nothing_written(http)


async def test_a_loss_of_more_than_the_shop_holds_is_a_409_naming_the_line(http: Http) -> None:
    bag = http.shop.products["bag"]
    await http.client.post(http.url("deliveries"), json=delivery(http, (bag, 1)), headers=http.admin)
    body = {"id": str(uuid.uuid4()), "reason": "loss", "note": "vol", "lines": [{"product_id": str(bag), "change": -2}]}
    [param] = problem(await http.client.post(http.url("adjustments"), json=body, headers=http.admin), 409)
    assert param == {
        "name": "lines[0].change",
        "reason": "'Sac cabas' has 1 in stock at this shop and cannot go below zero; 2 asked",
    }
    assert len(http.shop.state.stock_movements) == 1


async def test_an_inventory_sets_the_levels_and_the_levels_and_movements_routes_read_them(http: Http) -> None:
    bulb, bag = http.shop.products["bulb"], http.shop.products["bag"]
    await http.client.post(http.url("deliveries"), json=delivery(http, (bulb, 5), (bag, 5)), headers=http.admin)
    count = {
        "id": str(uuid.uuid4()),
        "lines": [{"product_id": str(bulb), "counted": 1}, {"product_id": str(bag), "counted": 5}],
    }
    counted = await http.client.post(http.url("inventories"), json=count, headers=http.admin)
    assert counted.status_code == 201, counted.text
    assert [(m["change"], m["reason"]) for m in counted.json()["movements"]] == [(-4, "inventory")]
    assert [a["kind"] for a in counted.json()["alerts"]] == ["low_stock"]
    levels = (await http.client.get(http.url("levels"), headers=http.manager)).json()
    assert [(v["product_name"], v["level"], v["state"]) for v in levels] == [
        ("Ampoule LED", 1, "low_stock"),
        ("Sac cabas", 5, "ok"),
    ]
    low = await http.client.get(http.url("levels"), params={"alert": "low_stock"}, headers=http.manager)
    assert [v["product_name"] for v in low.json()] == ["Ampoule LED"]
    page = await http.client.get(http.url("movements"), params={"limit": 2}, headers=http.manager)
    assert [m["reason"] for m in page.json()["movements"]] == ["inventory", "delivery"]
    rest = await http.client.get(
        http.url("movements"), params={"cursor": page.json()["next_cursor"]}, headers=http.manager
    )
    assert ([m["reason"] for m in rest.json()["movements"]], rest.json()["next_cursor"]) == (["delivery"], None)
    of_bulb = await http.client.get(
        http.url("movements"), params={"product_id": str(bulb), "reason": "inventory"}, headers=http.manager
    )
    assert [m["change"] for m in of_bulb.json()["movements"]] == [-4]
    [param] = problem(await http.client.get(http.url("movements"), params={"cursor": "x"}, headers=http.manager), 422)
    assert param["name"] == "cursor"
    [param] = problem(
        await http.client.get(http.url("movements"), params={"since": "2026-11-23T10:00:00"}, headers=http.manager),
        422,
    )
    assert param["name"] == "since"


async def test_a_ticket_answer_carries_its_alerts_and_a_sale_the_stock_refuses_is_a_409_naming_the_product(
    http: Http,
) -> None:
    from test_stock import sell  # noqa: PLC0415 - the sale helper of the use-case tests

    await sell(http.shop, 1, ("card", 1))
    sold = http.shop.state.tickets[(http.shop.device.pos_id, 1)].ticket
    till = {"X-Device-Serial": "FR-1", "X-Device-Secret": http.shop.secret}

    def with_product(name: str, number: int) -> dict[str, Any]:
        line = sold.lines[0].model_copy(update={"product_id": http.shop.products[name]})
        ticket = sold.model_copy(update={"ticket_id": uuid.uuid4(), "number": number, "lines": (line,)})
        return TicketFinalizedV1.model_validate(ticket.model_dump()).model_dump(mode="json")

    refused = await http.client.post("/v1/tickets", json=with_product("bulb", 2), headers=till)
    [param] = problem(refused, 409)
    assert param["name"] == "lines[0].quantity"
    assert "'Ampoule LED' has 0 in stock" in param["reason"]
    assert refused.json()["product_id"] == str(http.shop.products["bulb"])
    created = await http.client.post("/v1/tickets", json=with_product("bag", 2), headers=till)
    assert created.status_code == 201, created.text
    [alert] = created.json()["alerts"]
    assert (alert["product_name"], alert["kind"], alert["level"]) == ("Sac cabas", "negative", -1)


async def test_a_product_refusing_to_go_below_zero_without_stock_tracking_is_a_422(http: Http) -> None:
    bag = http.shop.state.items[http.shop.products["bag"]].item
    body = {k: bag[k] for k in ("company_id", "category_id", "price")}
    refused = await http.client.post(
        "/v1/products", json={**body, "name": "Vis", "stock_refuse_below_zero": True}, headers=http.admin
    )
    [param] = problem(refused, 422)
    assert "stock_refuse_below_zero needs stock_tracked" in param["reason"]
