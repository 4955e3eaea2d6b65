"""From the back office to the till's own SQLite: pos-api, the notifier and a till's hw-proxy as real processes on
real Kafka and PostgreSQL. A price change lands in the till's store within a second; a till away during changes
catches up when back; another company's change never reaches it."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from caisse_contracts.config import ProductFields
from harness import ServiceProcess, Stack, Till

PRODUCT = "Sac cabas"


@pytest.fixture(scope="module")
def services(stack: Stack) -> Iterator[tuple[ServiceProcess, ServiceProcess, ServiceProcess, Till, Path]]:
    pos_api = stack.service("pos-api", tag="_stream")
    pos_api.start()
    notifier = stack.service("notifier", tag="_stream")
    notifier.start()
    till = Till.of(stack.demo(pos_api), 0)
    store = stack.workdir / "till.sqlite3"
    hw_proxy = stack.service(
        "hw-proxy",
        tag="_stream",
        pos_api_url=pos_api.url,
        notifier_url=notifier.url.replace("http://", "ws://"),
        device_serial=till.till.serial,
        device_secret=till.till.secret,
        store_path=str(store),
    )
    hw_proxy.start()
    yield pos_api, notifier, hw_proxy, till, store
    hw_proxy.stop()


def stored(store: Path, entity_id: str) -> tuple[int, str] | None:
    """The version and item of an entity in the till's own SQLite, read as another process would."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute(
            "select version, item from config_item where entity_id = ? and removed is null", (entity_id,)
        ).fetchone()
    return (row[0], row[1]) if row else None


def wait_stored(store: Path, entity_id: str, version: int, timeout_s: float = 15.0) -> float:
    """When (monotonic) the till's store held `version` of the entity."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.exists():
            got = stored(store, entity_id)
            if got is not None and got[0] >= version:
                return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError(f"{entity_id} v{version} not in the till's store: {stored(store, entity_id)}")


def reprice(admin: httpx.Client, product_id: str, price: int) -> tuple[int, float]:
    """Change a product's price through the back office; its new version and when pos-api acknowledged it."""
    read = admin.get(f"/v1/products/{product_id}")
    read.raise_for_status()
    fields = {k: v for k, v in read.json()["item"].items() if k in ProductFields.model_fields}
    written = admin.put(
        f"/v1/products/{product_id}", json={**fields, "price": price}, headers={"If-Match": read.headers["ETag"]}
    )
    acknowledged = time.monotonic()
    written.raise_for_status()
    return int(written.json()["item"]["version"]), acknowledged


def test_a_price_change_in_the_back_office_reaches_the_tills_sqlite_within_a_second(
    stack: Stack, services: tuple[ServiceProcess, ServiceProcess, ServiceProcess, Till, Path]
) -> None:
    pos_api, _, hw_proxy, till, store = services
    product = till.demo.products["FR"][PRODUCT]
    admin = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token('_stream')}"})
    wait_stored(store, product, 1)  # the till got its whole scope first
    delays = []
    for price in (250, 275, 300):
        version, acknowledged = reprice(admin, product, price)
        delays.append(wait_stored(store, product, version) - acknowledged)
        got = stored(store, product)
        assert got is not None
        assert f'"price": {price}' in got[1] or f'"price":{price}' in got[1]
    assert max(delays) < 1.0, delays
    config: dict[str, Any] = httpx.get(f"{hw_proxy.url}/v1/config", timeout=5).json()
    assert config["freshness"]["connected"] is True
    assert config["freshness"]["stale"] is False


def test_a_till_away_during_three_changes_has_them_all_once_back_and_never_another_companys(
    stack: Stack, services: tuple[ServiceProcess, ServiceProcess, ServiceProcess, Till, Path]
) -> None:
    pos_api, _, hw_proxy, till, store = services
    admin = httpx.Client(base_url=pos_api.url, headers={"Authorization": f"Bearer {stack.admin_token('_stream')}"})
    products = till.demo.products["FR"]
    mine = [products[name] for name in (PRODUCT, "Atelier réparation vélo")]
    foreign = till.demo.products["NC"][PRODUCT]  # the other company's, in another territory
    wait_stored(store, mine[0], 1)
    assert stored(store, foreign) is None
    assert hw_proxy.stop(signal.SIGTERM) == 0
    versions = [reprice(admin, mine[0], 410)[0], reprice(admin, mine[1], 1800)[0], reprice(admin, mine[0], 420)[0]]
    foreign_version, _ = reprice(admin, foreign, 999)
    hw_proxy.start()
    wait_stored(store, mine[0], versions[2])
    wait_stored(store, mine[1], versions[1])
    assert stored(store, foreign) is None  # never: another company's item
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        assert conn.execute("select count(*) from config_item where entity_id = ?", (foreign,)).fetchone() == (0,)
    assert foreign_version > 1  # it did change, meanwhile
