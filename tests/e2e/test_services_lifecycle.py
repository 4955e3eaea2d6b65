"""Every service starts from its console script, answers /healthz and /readyz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from caisse_stack.services import SERVICES
from harness import Stack
from stream_support import Keys

READINESS = {
    "hw-proxy": {"local_store"},
    "notifier": {"database", "kafka", "rebuild", "stream_keys"},
}
"""What each service's readiness checks, beyond the database and Kafka of the central ones."""


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    """pos-api's stream keys as the notifier reads them (its readiness needs them)."""
    served = Keys()
    yield served
    served.close()


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_the_service_starts_is_ready_and_stops_cleanly_on_sigterm(name: str, stack: Stack, keys: Keys) -> None:
    service = stack.service(name, tag="_lifecycle", **({"pos_api_url": keys.url} if name == "notifier" else {}))
    service.start()
    alive = httpx.get(f"{service.url}/healthz", timeout=5)
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    ready = httpx.get(f"{service.url}/readyz", timeout=5)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert set(checks.values()) == {"ok"}
    assert set(checks) == READINESS.get(name, {"database", "kafka"})
    assert service.stop(signal.SIGTERM, timeout_s=30) == 0
    assert f"{name} stopped" in service.tail(20)


def test_an_unknown_route_answers_problem_json(stack: Stack, keys: Keys) -> None:
    service = stack.service("notifier", tag="_problems", pos_api_url=keys.url)
    service.start()
    try:
        response = httpx.get(f"{service.url}/v1/nothing-here", timeout=5)
    finally:
        service.stop()
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
