"""The agent gives the memory it freed back to the system once it has been quiet a moment after a request, once per
quiet spell; the results it keeps of its forwards are bounded, however long it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from test_till_routes import seed
from till_examples import SERIAL, FakeCentral

from hw_proxy.adapters.heap import malloc_trim
from hw_proxy.bootstrap import build_app
from hw_proxy.config import Settings
from hw_proxy.entrypoints.idle_memory import IdleTrim
from hw_proxy.entrypoints.sale_forwarder import RESULTS_KEPT, SaleForwarder


async def test_after_requests_the_heap_is_trimmed_once_when_they_stop(tmp_path: Path) -> None:
    path = str(tmp_path / "till.sqlite3")
    await seed(path)
    settings = Settings(
        store_path=path, device_serial=SERIAL, device_secret="s", notifier_url="ws://127.0.0.1:9", idle_trim_s=0.5
    )
    app = build_app(settings, central=FakeCentral())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw-proxy") as http,
    ):
        idle: IdleTrim = app.state.idle_trim
        for _ in range(5):  # a burst, each request well inside the quiet interval of the one before
            assert (await http.get("/v1/status")).status_code == 200
            await asyncio.sleep(0.05)
        assert idle.trims == 0, "not while requests come"
        deadline = asyncio.get_running_loop().time() + 5
        while idle.trims == 0 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 (a poll with a deadline)
            await asyncio.sleep(0.05)
        assert idle.trims == 1
        await asyncio.sleep(0.5)
        assert idle.trims == 1, "once per quiet spell"


async def test_a_trim_that_fails_leaves_the_agent_trimming_later() -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("no")

    idle = IdleTrim(failing, quiet_s=0.05)
    await idle.start()
    try:
        for _ in range(2):
            idle.touch()
            await asyncio.sleep(0.2)
    finally:
        await idle.stop()
    assert (len(calls), idle.trims) == (2, 1)


def test_glibc_s_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None  # Debian's glibc
    trim()


def test_the_results_kept_of_the_forwards_are_bounded() -> None:
    forwarder = SaleForwarder(None, None, clock=None, queued=lambda: None)  # type: ignore[arg-type]
    for number in range(1, RESULTS_KEPT + 11):
        forwarder._kept(number, "sent")
    assert len(forwarder.results) == RESULTS_KEPT
    assert min(forwarder.results) == 11, "the oldest go first"
