"""The till's local config API: `GET /v1/config` (freshness and the live items by type) and one item by its id,
404 problem+json when the till does not hold it, all documented in the OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from caisse_contracts.events.config import EntityType
from hw_proxy.adapters.store import LocalStore
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.domain.config_cache import CachedItem, EntityKey, StreamState
from hw_proxy.domain.freshness import freshness

SHOP = EntityKey(EntityType.SHOP, uuid.UUID("00000000-0000-4000-8000-00000000000a"))
PRODUCT = EntityKey(EntityType.PRODUCT, uuid.UUID("00000000-0000-4000-8000-00000000000c"))
GONE = EntityKey(EntityType.PRODUCT, uuid.UUID("00000000-0000-4000-8000-00000000000d"))
AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = str(tmp_path / "till.sqlite3")
    seed = LocalStore(path)
    await seed.open()
    await seed.record(CachedItem(SHOP, 3, {"name": "Le Grenier"}, position=7), position=7, at=AT, seen_in_reset=False)
    await seed.record(CachedItem(PRODUCT, 1, {"name": "Chaise"}, position=8), position=8, at=AT, seen_in_reset=False)
    await seed.record(CachedItem(GONE, 2, None, removed="deleted", position=9), position=9, at=AT, seen_in_reset=False)
    await seed.close()
    app = build_app(Settings(store_path=path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hw-proxy") as http:
            yield http


async def test_the_config_shows_its_freshness_and_the_live_items_by_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/config")
    assert response.status_code == 200
    body = response.json()
    fresh = body["freshness"]
    assert fresh["position"] == 9
    assert fresh["connected"] is False
    assert fresh["last_synced_at"] is None
    assert fresh["stale"] is True  # never synced
    assert fresh["age_s"] > 0
    assert body["items"] == {
        "shop": [
            {
                "entity_type": "shop",
                "entity_id": str(SHOP.entity_id),
                "version": 3,
                "position": 7,
                "awaiting_snapshot": False,
                "item": {"name": "Le Grenier"},
            }
        ],
        "product": [
            {
                "entity_type": "product",
                "entity_id": str(PRODUCT.entity_id),
                "version": 1,
                "position": 8,
                "awaiting_snapshot": False,
                "item": {"name": "Chaise"},
            }
        ],
    }


async def test_one_item_is_read_by_its_type_and_id(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/config/shop/{SHOP.entity_id}")
    assert response.status_code == 200
    assert response.json()["item"] == {"name": "Le Grenier"}


@pytest.mark.parametrize("entity", [GONE, EntityKey(EntityType.POS, uuid.uuid4())], ids=["removed", "unknown"])
async def test_an_item_the_till_does_not_hold_is_a_404_problem(client: httpx.AsyncClient, entity: EntityKey) -> None:
    response = await client.get(f"/v1/config/{entity.entity_type.value}/{entity.entity_id}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert str(entity.entity_id) in response.json()["detail"]


async def test_an_unknown_entity_type_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/config/planet/{uuid.uuid4()}")
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "entity_type"


async def test_the_routes_and_their_models_are_in_the_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["paths"]["/v1/config"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConfigView"
    }
    item_route = spec["paths"]["/v1/config/{entity_type}/{entity_id}"]["get"]
    assert "404" in item_route["responses"]
    assert {"ConfigView", "ConfigFreshness", "ConfigItemView"} <= set(spec["components"]["schemas"])


def test_a_connected_till_is_fresh_and_one_unheard_for_too_long_is_stale() -> None:
    state = StreamState(position=5, last_message_at=AT, last_synced_at=AT, reset_in_progress=False)
    now = AT + timedelta(minutes=10)
    live = freshness(
        state, connected=True, caught_up=True, last_contact_at=AT, awaiting_snapshot=0, now=now, stale_after_s=300
    )
    assert (live.age_s, live.stale) == (0.0, False)
    away = freshness(
        state, connected=False, caught_up=False, last_contact_at=None, awaiting_snapshot=0, now=now, stale_after_s=300
    )
    assert (away.age_s, away.stale) == (600.0, True)
    recent = freshness(
        state,
        connected=False,
        caught_up=False,
        last_contact_at=AT + timedelta(minutes=9),
        awaiting_snapshot=0,
        now=now,
        stale_after_s=300,
    )
    assert (recent.age_s, recent.stale) == (60.0, False)
