"""Every service starts from its console script, answers /healthz and /readyz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal

import httpx
import pytest

from caisse_stack.services import SERVICES
from harness import Stack


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_the_service_starts_is_ready_and_stops_cleanly_on_sigterm(name: str, stack: Stack) -> None:
    service = stack.service(name, tag="_lifecycle")
    service.start()
    alive = httpx.get(f"{service.url}/healthz", timeout=5)
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    ready = httpx.get(f"{service.url}/readyz", timeout=5)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert set(checks.values()) == {"ok"}
    expected = {"local_store"} if name == "hw-proxy" else {"database", "kafka"}
    assert set(checks) == expected
    assert service.stop(signal.SIGTERM, timeout_s=30) == 0
    assert f"{name} stopped" in service.tail(20)


def test_an_unknown_route_answers_problem_json(stack: Stack) -> None:
    service = stack.service("notifier", tag="_problems")
    service.start()
    try:
        response = httpx.get(f"{service.url}/v1/nothing-here", timeout=5)
    finally:
        service.stop()
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
