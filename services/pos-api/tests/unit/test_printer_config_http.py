"""A POS's receipt printer and a shop's receipt logo, edited through the back office's own routes and pushed with
the config (PRODUCT.md capability 6): a valid printer is stored with the POS; a bad one is a 422 problem naming the
field and the reason, and nothing is written."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from stock_setting import Shop, a_stocked_shop

from caisse_contracts.events import EntityType
from caisse_runtime.http import install_problem_handlers
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import backoffice
from pos_api.service_layer.config import SYSTEM, create_item

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


class Http:
    def __init__(self, shop: Shop, client: httpx.AsyncClient, admin: str) -> None:
        self.shop = shop
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin}"}

    def pos(self, printer: Any) -> dict[str, Any]:
        serial = f"TILL-{uuid.uuid4().hex[:8]}"
        return {
            "shop_id": str(self.shop.shop_id),
            "name": "Caisse 9",
            "hostname": "till-9",
            "device_serial": serial,
            "printer": printer,
        }


@pytest.fixture
async def http() -> Http:
    shop = await a_stocked_shop()
    admin = await create_item(EntityType.OPERATOR, {"name": "Ops", "role": "federation_admin"}, SYSTEM, shop.services)
    assert admin.secret is not None
    app = FastAPI()
    install_problem_handlers(app)
    problems.install(app)
    app.include_router(backoffice.router)
    app.state.services = shop.services
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos-api")
    return Http(shop, client, admin.secret)


def named(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {p["name"]: p["reason"] for p in response.json()["invalid_params"]}


async def test_a_pos_with_a_network_printer_is_stored_with_its_defaults(http: Http) -> None:
    made = await http.client.post(
        "/v1/pos", json=http.pos({"connection": {"kind": "network", "host": "192.168.1.50"}}), headers=http.admin
    )
    assert made.status_code == 201, made.text
    printer = made.json()["item"]["printer"]
    assert printer["connection"] == {"kind": "network", "host": "192.168.1.50", "port": 9100}
    # PC858 holds the euro sign and every French accent (HARDWARE.md §5; ESC/POS table 19)
    assert (printer["paper_width_mm"], printer["code_page"], printer["cash_drawer"]) == (80, "CP858", True)


@pytest.mark.parametrize(
    ("printer", "field"),
    [
        ({"connection": {"kind": "network", "host": "10.0.0.9", "port": 70000}}, "printer.connection.network.port"),
        ({"connection": {"kind": "usb", "vendor_id": 1208}}, "printer.connection.usb.product_id"),
        ({"connection": {"kind": "serial", "device": "/etc/passwd;rm"}}, "printer.connection.serial.device"),
        (
            {"connection": {"kind": "serial", "device": "/dev/ttyS0", "baudrate": 1234}},
            "printer.connection.serial.baudrate",
        ),
        ({"connection": {"kind": "bluetooth"}}, "printer.connection"),
        ({"connection": {"kind": "network", "host": "p"}, "paper_width_mm": 76}, "printer.paper_width_mm"),
        ({"connection": {"kind": "network", "host": "p"}, "code_page": "CP437"}, "printer.code_page"),
    ],
)
async def test_a_bad_printer_is_a_422_naming_its_field_and_nothing_is_written(
    http: Http, printer: dict[str, Any], field: str
) -> None:
    before = len(http.shop.state.items)
    refused = await http.client.post("/v1/pos", json=http.pos(printer), headers=http.admin)
    assert any(name.endswith(field) for name in named(refused)), named(refused)
    assert len(http.shop.state.items) == before


async def test_a_shop_logo_must_be_a_small_png_in_base64(http: Http) -> None:
    shop = http.shop.state.items[http.shop.shop_id].item
    body = {k: shop[k] for k in ("company_id", "name")}
    good = await http.client.post(
        "/v1/shops", json={**body, "receipt_logo_png": base64.b64encode(PNG_1x1).decode()}, headers=http.admin
    )
    assert good.status_code == 201, good.text
    for logo, reason in (
        ("not base64!", "not base64"),
        (base64.b64encode(b"GIF89a" + bytes(10)).decode(), "not a PNG"),
        (base64.b64encode(PNG_1x1.ljust(64 * 1024 + 1, b"\0")).decode(), "65537 bytes, more than 65536"),
        (base64.b64encode(PNG_1x1.ljust(128 * 1024, b"\0")).decode(), "at most 87384 characters"),
    ):
        refused = await http.client.post("/v1/shops", json={**body, "receipt_logo_png": logo}, headers=http.admin)
        [(name, why)] = named(refused).items()
        assert name.endswith("receipt_logo_png")
        assert reason in why
