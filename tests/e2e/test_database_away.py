"""A database that goes away mid-requests: every service answers 503 with `Retry-After`, never 500, and serves
again once the database is back.

The services reach PostgreSQL through a proxy of this test's own, which it cuts (every connection dropped, new
ones refused, as a stopped server does) and restores: the launcher's PostgreSQL keeps serving the other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from caisse_stack import simulator
from harness import ServiceProcess, Stack, free_port

RETRYABLE = 503


class CuttableProxy:
    """A TCP proxy to the test instance's PostgreSQL, on its own port, run by an event loop in a thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> CuttableProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *_: object) -> None:
        self.cut()
        self._run(self._end_links())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _end_links(self) -> None:
        """The links' tasks end with the proxy, not when the interpreter drops them (it would say so on exit)."""
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._run(self._open())

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._run(self._close())

    def _run(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._links |= {client_writer, server_writer}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pump(client_reader, server_writer), pump(server_reader, client_writer))
        self._links -= {client_writer, server_writer}


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> Iterator[CuttableProxy]:
    host, port = stack.infra.pg_host, stack.infra.pg_port
    with CuttableProxy(host, port) as running:
        yield running


def through(stack: Stack, proxy: CuttableProxy, service: str) -> str:
    """The service's database URL, through the proxy."""
    return stack.infra.database_url(stack.database(service, "_away")).replace(
        f":{stack.infra.pg_port}/", f":{proxy.port}/"
    )


@pytest.fixture(scope="module")
def services(stack: Stack, proxy: CuttableProxy) -> dict[str, ServiceProcess]:
    started: dict[str, ServiceProcess] = {}
    for name, extra in (
        ("session-service", {}),
        ("pos-api", {}),
        ("paheko-bridge", {"ops_token": "ops-away"}),
        ("notifier", {}),
    ):
        started[name] = stack.service(name, tag="_away", database_url=through(stack, proxy, name), **extra)
        started[name].start()
    return started


def test_every_service_answers_503_with_retry_after_while_its_database_is_away_and_serves_again_once_it_is_back(
    stack: Stack, proxy: CuttableProxy, services: dict[str, ServiceProcess]
) -> None:
    pos_api = services["pos-api"]
    demo = stack.demo(pos_api)
    (run,) = asyncio.run(simulator.prepare(pos_api.url, stack.infra.kafka_bootstrap, [demo.tills[0]], demo.cashiers))
    till = run.till
    till_headers = {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}
    boot = httpx.get(f"{pos_api.url}/v1/pos-data", headers=till_headers, timeout=10).json()
    next_number = (boot["last_ticket_number"] or 0) + 1
    bag = next(p for p in boot["catalogue"]["products"] if p["name"] == "Sac cabas")
    session_id = uuid.uuid4()  # none such: the database's answer when back is a 404

    def sale(basket_id: str) -> httpx.Response:
        content = {
            "lines": [{"line_id": str(uuid.uuid4()), "product_id": bag["id"]}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": 100, "tendered": 100}],
        }
        body = {"number": next_number, "version": 0, "content": content}
        return httpx.post(f"{pos_api.url}/v1/baskets/{basket_id}/finalize", json=body, headers=till_headers, timeout=30)

    basket_id = str(uuid.uuid4())
    requests: dict[str, Callable[[], httpx.Response]] = {
        "pos-api finalize (lean path)": lambda: sale(basket_id),
        "pos-api basket read": lambda: httpx.get(
            f"{pos_api.url}/v1/baskets/{uuid.uuid4()}", headers=till_headers, timeout=30
        ),
        "session-service session": lambda: httpx.get(
            f"{services['session-service'].url}/v1/sessions/{session_id}",
            headers=services["session-service"].as_pos_api,
            timeout=30,
        ),
        "paheko-bridge ops": lambda: httpx.get(
            f"{services['paheko-bridge'].url}/v1/ops/dead-letters",
            headers={"Authorization": "Bearer ops-away"},
            timeout=30,
        ),
    }

    proxy.cut()
    try:
        away = {what: send() for what, send in requests.items()}
        away["notifier readiness"] = httpx.get(f"{services['notifier'].url}/readyz", timeout=30)
    finally:
        proxy.restore()
    for what, response in away.items():
        assert response.status_code == RETRYABLE, (what, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", what
        if what != "notifier readiness":
            assert int(response.headers["Retry-After"]) > 0, what
            assert response.json()["type"].endswith("/dependency-unavailable"), (what, response.text)

    back = {what: _until_served(send) for what, send in requests.items()}
    assert back["pos-api finalize (lean path)"].status_code == 201, back["pos-api finalize (lean path)"].text
    assert back["pos-api basket read"].status_code == 404
    assert back["session-service session"].status_code == 404
    assert back["paheko-bridge ops"].status_code == 200
    notifier_ready = _until_served(lambda: httpx.get(f"{services['notifier'].url}/readyz", timeout=30))
    assert notifier_ready.status_code == 200


def _until_served(send: Callable[[], httpx.Response], timeout_s: float = 20.0) -> httpx.Response:
    """The first answer that is not a 503, sending again after its `Retry-After` as a till would; never a 500."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = send()
        assert response.status_code < 500 or response.status_code == RETRYABLE, response.text
        if response.status_code != RETRYABLE or time.monotonic() > deadline:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 1.0))
