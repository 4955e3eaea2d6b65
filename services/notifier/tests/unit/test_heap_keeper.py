"""While tills flood in, the cyclic collector waits and the presence is not written; once they stop, what lives is
frozen without a walk over it, and the frozen heap is collected again once enough tills have gone."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace
from typing import Any, cast

from notifier.entrypoints.workers import Arrivals, HeapKeeper, PresenceWriter


async def test_the_collector_waits_while_tills_flood_in_and_freezes_once_they_stop() -> None:
    stream: Any = SimpleNamespace(joined=0, left=0, hub=[])
    arrivals = Arrivals(cast(Any, stream), burst_per_s=100)
    keeper = HeapKeeper(cast(Any, stream), arrivals, every_s=1.0)
    try:
        assert gc.isenabled()
        stream.joined = 50
        await keeper.round()
        assert gc.isenabled()  # a trickle is no flood
        stream.joined = 1050
        await keeper.round()
        assert not gc.isenabled()
        flood_garbage = Cycle()
        flood_gone = weakref.ref(flood_garbage)
        del flood_garbage
        stream.joined = 2050
        await keeper.round()
        assert not gc.isenabled()  # still flooding
        collections = gc.get_stats()[2]["collections"]
        await keeper.round()  # quiet: everything frozen, no walk over it, the collector back
        assert gc.isenabled()
        assert gc.get_stats()[2]["collections"] == collections
        assert gc.get_freeze_count() > 0  # what lives is out of later collections
        assert flood_gone() is not None  # the flood's garbage is frozen with it

        garbage = Cycle()
        gone = weakref.ref(garbage)
        gc.freeze()
        del garbage
        await keeper.round()
        assert gone() is not None  # frozen: kept until enough tills have gone
        stream.left = 1000
        await keeper.round()
        assert gone() is None  # thawed, collected, frozen again
        assert flood_gone() is None
    finally:
        await keeper.stop()
        gc.enable()
        gc.unfreeze()


async def test_the_presence_waits_while_tills_flood_in_at_most_max_wait() -> None:
    stream: Any = SimpleNamespace(joined=0)
    arrivals = Arrivals(cast(Any, stream), burst_per_s=100)
    presence = Flushes()
    writer = PresenceWriter(cast(Any, presence), arrivals, every_s=1.0, max_wait_s=0.0)
    await writer.round()
    assert presence.count == 1  # no flood: written every round
    stream.joined = 5000
    arrivals.look()
    waiting = PresenceWriter(cast(Any, presence), arrivals, every_s=1.0, max_wait_s=60.0)
    await waiting.round()
    await waiting.round()
    assert presence.count == 1  # flooding: the writing waits
    await writer.round()  # flooding, but its wait (0 s) is over
    assert presence.count == 2
    arrivals.look()  # the flood stopped
    await waiting.round()
    assert presence.count == 3


class Flushes:
    def __init__(self) -> None:
        self.count = 0

    async def flush(self) -> int:
        self.count += 1
        return 0


class Cycle:
    def __init__(self) -> None:
        self.me = self
