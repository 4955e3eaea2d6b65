"""While tills flood in, the cyclic collector waits; once they stop, one collection is taken, what lives is frozen,
and the frozen heap is collected again once enough tills have gone."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace
from typing import Any, cast

from notifier.entrypoints.workers import HeapKeeper


async def test_the_collector_waits_while_tills_flood_in_and_collects_once_they_stop() -> None:
    stream: Any = SimpleNamespace(joined=0, left=0, hub=[])
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
        assert gc.get_freeze_count() > 0  # what lives is out of later collections

        garbage = Cycle()
        gone = weakref.ref(garbage)
        gc.freeze()
        del garbage
        await keeper.round()
        assert gone() is not None  # frozen: kept until enough tills have gone
        stream.left = 1000
        await keeper.round()
        assert gone() is None  # thawed, collected, frozen again
    finally:
        await keeper.stop()
        gc.enable()
        gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self
