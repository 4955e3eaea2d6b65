"""The back office over HTTP on the real database: versions, roles, secrets kept apart, every change announced."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from caisse_contracts.config import Company, Product
from caisse_contracts.till_views import BasketOut, PosData
from caisse_stack.demo_data import FRANCE, Demo
from harness import ServiceProcess, Stack

BRIDGE_TOKEN = "bridge-token-for-tests"


@pytest.fixture(scope="module")
def pos_api(stack: Stack) -> ServiceProcess:
    service = stack.service("pos-api", tag="_bo", run_relay="false", bridge_token=BRIDGE_TOKEN)
    service.start()
    return service


@pytest.fixture(scope="module")
def demo(stack: Stack, pos_api: ServiceProcess) -> Demo:
    return stack.demo(pos_api)


@pytest.fixture(scope="module")
def admin(stack: Stack, pos_api: ServiceProcess) -> httpx.Client:
    return httpx.Client(
        base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token('_bo')}"}, timeout=10
    )


def query(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.infra.dsn(stack.database("pos-api", "_bo")))
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def test_every_route_needs_an_operator_token(pos_api: ServiceProcess) -> None:
    response = httpx.get(f"{pos_api.url}/v1/territories")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{pos_api.url}/v1/shops", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_change_bumps_the_version_and_announces_the_item_with_its_json_patch(
    admin: httpx.Client, stack: Stack
) -> None:
    created = admin.post("/v1/territories", json={**FRANCE, "name": "Corse"})
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    territory_id = created.json()["item"]["id"]
    changed = admin.put(
        f"/v1/territories/{territory_id}", json={**FRANCE, "name": "Corse du Sud"}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert changed.json()["item"]["version"] == 2

    [event] = query(
        stack, "select payload from outbox where aggregate_id = $1 and payload->'data'->>'version' = '2'", territory_id
    )
    data = json.loads(event["payload"])["data"]
    assert data["item"]["name"] == "Corse du Sud"
    assert data["previous_version"] == 1
    assert {"op": "replace", "path": "/name", "value": "Corse du Sud"} in data["patch"]
    assert json.loads(event["payload"])["tenant"]["territory_id"] == territory_id
    history = query(
        stack, "select version, changed_by from config_history where id = $1 order by version", territory_id
    )
    assert [h["version"] for h in history] == [1, 2]
    assert all(h["changed_by"] is not None for h in history)


def test_a_write_on_a_stale_version_is_a_409_with_the_current_version(admin: httpx.Client) -> None:
    territory_id = admin.post("/v1/territories", json={**FRANCE, "name": "Bretagne"}).json()["item"]["id"]
    assert admin.put(f"/v1/territories/{territory_id}", json=FRANCE, headers={"If-Match": '"1"'}).status_code == 200
    stale = admin.put(f"/v1/territories/{territory_id}", json=FRANCE, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert admin.put(f"/v1/territories/{territory_id}", json=FRANCE).status_code == 428


def test_an_unknown_parent_is_refused_naming_the_field_and_nothing_is_written(
    admin: httpx.Client, stack: Stack
) -> None:
    before = query(stack, "select count(*) from config_items")[0][0]
    response = admin.post(
        "/v1/shops", json={"company_id": "00000000-0000-4000-8000-000000000001", "name": "Nulle part"}
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"] == [
        {"name": "company_id", "reason": "no company 00000000-0000-4000-8000-000000000001"}
    ]
    assert query(stack, "select count(*) from config_items")[0][0] == before


def test_a_tax_code_the_territory_lacks_is_a_422_naming_the_field_and_the_codes_it_has(
    admin: httpx.Client, demo: Demo, stack: Stack
) -> None:
    before = query(stack, "select count(*) from config_items")[0][0]
    category = {
        "company_id": demo.companies["NC"],
        "name": "Vélos",
        "revenue_account": "7076",
        "default_tax_code": "TVA20",
    }
    refused = admin.post("/v1/categories", json=category)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    [param] = refused.json()["invalid_params"]
    assert param["name"] == "default_tax_code"
    assert param["reason"].startswith("TVA20 is not a tax rate of the territory Nouvelle-Calédonie; it has TGC22")
    assert query(stack, "select count(*) from config_items")[0][0] == before


def test_a_territory_update_that_drops_a_tax_code_still_in_use_is_a_422_naming_its_users(
    admin: httpx.Client, stack: Stack
) -> None:
    territory_id = admin.post("/v1/territories", json={**FRANCE, "name": "Occitanie"}).json()["item"]["id"]
    company_id = admin.post("/v1/companies", json={"territory_id": territory_id, "name": "R"}).json()["item"]["id"]
    category = {"company_id": company_id, "name": "Livres", "revenue_account": "7071", "default_tax_code": "TVA5.5"}
    books = admin.post("/v1/categories", json=category).json()["item"]["id"]
    rates: list[dict[str, Any]] = FRANCE["tax_rates"]  # type: ignore[assignment]
    fewer = {**FRANCE, "tax_rates": [r for r in rates if r["code"] != "TVA5.5"]}
    refused = admin.put(f"/v1/territories/{territory_id}", json=fewer, headers={"If-Match": '"1"'})
    assert refused.status_code == 422
    assert refused.json()["invalid_params"] == [
        {"name": "tax_rates", "reason": f"TVA5.5 is still the tax of category 'Livres' ({books})"}
    ]
    assert admin.get(f"/v1/territories/{territory_id}").headers["ETag"] == '"1"'


def test_a_till_secret_is_shown_once_and_stored_only_as_a_digest(admin: httpx.Client, demo: Demo, stack: Stack) -> None:
    shop_id = next(iter(demo.shops.values()))
    created = admin.post(
        "/v1/pos", json={"shop_id": shop_id, "name": "Caisse 9", "hostname": "caisse-9.local", "device_serial": "SER-9"}
    )
    secret = created.json()["secret"]
    assert len(secret) >= 32
    read = admin.get(f"/v1/pos/{created.json()['item']['id']}").json()
    assert "secret" not in json.dumps(read["item"])
    assert read["secret"] is None
    stored = query(stack, "select secret_sha256 from device_credentials where serial = 'SER-9'")[0][0]
    assert secret not in stored
    duplicate = admin.post(
        "/v1/pos", json={"shop_id": shop_id, "name": "Caisse 10", "hostname": "c10.local", "device_serial": "SER-9"}
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["invalid_params"][0]["name"] == "device_serial"


def test_a_rotated_device_secret_replaces_the_old_one_at_once(
    admin: httpx.Client, demo: Demo, pos_api: ServiceProcess
) -> None:
    till = demo.tills[-1]
    old = {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}
    assert httpx.get(f"{pos_api.url}/v1/pos-data", headers=old).status_code == 200
    new_secret = admin.post(f"/v1/pos/{till.pos_id}/rotate-secret").json()["secret"]
    assert httpx.get(f"{pos_api.url}/v1/pos-data", headers=old).status_code == 401
    fresh = {"X-Device-Serial": till.serial, "X-Device-Secret": new_secret}
    assert httpx.get(f"{pos_api.url}/v1/pos-data", headers=fresh).status_code == 200
    till.secret = new_secret


def test_paheko_credentials_are_encrypted_and_never_returned(admin: httpx.Client, demo: Demo, stack: Stack) -> None:
    company_id = demo.companies["FR"]
    response = admin.put(
        f"/v1/companies/{company_id}/paheko-credentials", json={"api_user": "caisse", "api_password": "s3cret-paheko"}
    )
    assert response.status_code == 200
    assert response.json()["item"]["paheko_credentials_set"] is True
    assert "s3cret-paheko" not in response.text
    [row] = query(
        stack, "select paheko_api_password_encrypted from company_secrets where company_id = $1::uuid", company_id
    )
    assert "s3cret-paheko" not in row[0]
    assert "s3cret-paheko" not in admin.get(f"/v1/companies/{company_id}").text


def test_only_the_bridge_reads_a_companys_paheko_credentials(admin: httpx.Client, demo: Demo) -> None:
    company_id = demo.companies["NC"]
    admin.put(f"/v1/companies/{company_id}/paheko-credentials", json={"api_user": "nc", "api_password": "pw-nc"})
    url = f"/v1/internal/companies/{company_id}/paheko-credentials"
    bridge = {"Authorization": f"Bearer {BRIDGE_TOKEN}"}
    assert admin.get(url, headers=bridge).json() == {"api_user": "nc", "api_password": "pw-nc"}
    for who in ({}, {"Authorization": "Bearer not-the-bridge"}, {"Authorization": admin.headers["Authorization"]}):
        refused = admin.get(url, headers={"Authorization": "", **who})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "pw-nc" not in refused.text
    unknown = admin.get(f"/v1/internal/companies/{demo.tills[0].pos_id}/paheko-credentials", headers=bridge)
    assert unknown.status_code == 404


def test_a_shop_manager_changes_their_own_shop_only(admin: httpx.Client, demo: Demo, pos_api: ServiceProcess) -> None:
    own_shop, other_shop = list(demo.shops.values())[:2]
    manager = admin.post("/v1/operators", json={"name": "Gérante", "role": "shop_manager", "shop_id": own_shop}).json()
    client = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {manager['secret']}"}, timeout=10)
    own = client.get(f"/v1/shops/{own_shop}")
    assert own.status_code == 200
    renamed = client.put(
        f"/v1/shops/{own_shop}",
        json={**_fields(own.json()["item"]), "name": "Bressuire centre"},
        headers={"If-Match": own.headers["ETag"]},
    )
    assert renamed.status_code == 200
    other = admin.get(f"/v1/shops/{other_shop}")
    refused = client.put(
        f"/v1/shops/{other_shop}", json=_fields(other.json()["item"]), headers={"If-Match": other.headers["ETag"]}
    )
    assert refused.status_code == 403
    category = {
        "company_id": demo.companies["FR"],
        "name": "Vélos",
        "revenue_account": "7076",
        "default_tax_code": "TVA20",
    }
    assert client.post("/v1/categories", json=category).status_code == 403
    assert client.get(f"/v1/companies/{demo.companies['NC']}").status_code == 403
    escalate = client.post("/v1/operators", json={"name": "Moi", "role": "federation_admin"})
    assert escalate.status_code in {403, 422}


def test_a_cashier_has_no_access_to_the_back_office(admin: httpx.Client, demo: Demo, pos_api: ServiceProcess) -> None:
    shop = next(iter(demo.shops.values()))
    cashier = admin.post("/v1/operators", json={"name": "Caissier", "role": "cashier", "shop_id": shop}).json()
    client = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {cashier['secret']}"}, timeout=10)
    assert client.get(f"/v1/shops/{shop}").status_code == 403


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in {"id", "version", "updated_at", "updated_by"}}


def test_a_cashier_logs_in_on_a_till_of_their_shop_with_the_pin_the_back_office_set(
    admin: httpx.Client, demo: Demo, pos_api: ServiceProcess, stack: Stack
) -> None:
    till, elsewhere = demo.tills[0], demo.tills[2]
    cashier = admin.post("/v1/operators", json={"name": "Lou", "role": "cashier", "shop_id": till.shop_id}).json()
    cashier_id = cashier["item"]["id"]
    assert admin.put(f"/v1/operators/{cashier_id}/pin", json={"pin": "12"}).status_code == 422
    assert admin.put(f"/v1/operators/{cashier_id}/pin", json={"pin": "4821"}).status_code == 204

    def login(device: Any, pin: str) -> httpx.Response:
        return httpx.post(
            f"{pos_api.url}/v1/cashier-login",
            json={"operator_id": cashier_id, "pin": pin},
            headers={"X-Device-Serial": device.serial, "X-Device-Secret": device.secret},
        )

    ok = login(till, "4821")
    assert (ok.status_code, ok.json()["name"]) == (200, "Lou")
    assert login(till, "0000").status_code == 401
    assert login(elsewhere, "4821").status_code == 401
    for _ in range(3):
        assert login(till, "0000").status_code == 401
    locked = login(till, "0000")
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert login(till, "4821").status_code == 429
    [row] = query(stack, "select pin_hash from operator_credentials where operator_id = $1::uuid", cashier_id)
    assert "4821" not in row[0]


def test_the_till_and_the_back_office_answer_the_shapes_their_openapi_documents(
    admin: httpx.Client, demo: Demo, pos_api: ServiceProcess
) -> None:
    till = demo.tills[0]
    device = {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}
    boot = PosData.model_validate_json(httpx.get(f"{pos_api.url}/v1/pos-data", headers=device).content)
    bag = next(p for p in boot.catalogue.products if p.name == "Sac cabas")
    line = {"line_id": str(uuid.uuid4()), "product_id": str(bag.id)}
    saved = httpx.put(
        f"{pos_api.url}/v1/baskets/{uuid.uuid4()}",
        json={"version": 0, "content": {"lines": [line]}},
        headers=device,
    )
    basket = BasketOut.model_validate_json(saved.content)
    assert (basket.version, basket.computed.total_incl_tax) == (1, bag.price)
    products = admin.get("/v1/products").json()
    assert [Product.model_validate(p) for p in products]
    company = admin.get(f"/v1/companies/{demo.companies['FR']}").json()
    assert Company.model_validate(company["item"]).id == uuid.UUID(demo.companies["FR"])
