"""A started service keeps its start-up heap out of the cyclic collector's rounds, and its log free of each WebSocket."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator

import pytest

from caisse_runtime.service import ServiceRuntime, settle_heap
from caisse_runtime.settings import ServiceSettings


@pytest.fixture
def thawed() -> Iterator[None]:
    """No frozen heap before; none after. No automatic collection meanwhile: the test decides when one runs."""
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector could free it


def tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


@pytest.mark.usefixtures("thawed")
def test_what_lives_at_the_start_is_frozen_and_its_garbage_collected_first() -> None:
    kept = Node()
    garbage = weakref.ref(Node())  # garbage already: the start collects it rather than freezing it for good
    assert gc.get_freeze_count() == 0
    assert tracked(kept)
    assert garbage() is not None
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert not tracked(kept)  # frozen: no collection walks it any more
    assert garbage() is None
    later = Node()
    assert tracked(later)  # what comes after is collected as usual


@pytest.mark.usefixtures("thawed")
async def test_a_service_settles_its_heap_once_started() -> None:
    runtime = ServiceRuntime("heap-test", ServiceSettings(), versions_dir=None, uses_kafka=False)
    app = runtime.app(title="heap test")
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0


def test_a_websocket_service_keeps_each_connections_opening_and_closing_out_of_its_info_log() -> None:
    from caisse_runtime.service import _quiet_connections  # noqa: PLC0415 (a private filter, tested alone)

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", level, __file__, 1, message, None, None)

    assert not _quiet_connections(record(logging.INFO, "connection open"))
    assert not _quiet_connections(record(logging.INFO, '127.0.0.1:5000 - "WebSocket /v1/stream" [accepted]'))
    assert _quiet_connections(record(logging.INFO, "Application startup complete."))
    assert _quiet_connections(record(logging.WARNING, "connection open"))
