"""While tills flood in, the cyclic collector waits; once they stop, one collection is taken and it resumes."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any, cast

from notifier.entrypoints.workers import HeapKeeper


async def test_the_collector_waits_while_tills_flood_in_and_collects_once_they_stop() -> None:
    stream: Any = SimpleNamespace(joined=0, hub=[])
    keeper = HeapKeeper(cast(Any, stream), burst_per_s=100, every_s=1.0)
    try:
        assert gc.isenabled()
        stream.joined = 50
        await keeper.round()
        assert gc.isenabled()  # a trickle is no flood
        stream.joined = 1050
        await keeper.round()
        assert not gc.isenabled()
        stream.joined = 2050
        await keeper.round()
        assert not gc.isenabled()  # still flooding
        collections = gc.get_stats()[2]["collections"]
        await keeper.round()  # quiet: one full collection, then the collector is back
        assert gc.isenabled()
        assert gc.get_stats()[2]["collections"] == collections + 1
    finally:
        await keeper.stop()
        gc.enable()
