"""The background-worker base: a failed round is retried by the next, a wake-up during a round gets a round of its
own, and stopping ends a worker even while it waits out a pause."""

from __future__ import annotations

import asyncio

from caisse_runtime.worker import BackgroundWorker

HOUR = 3600.0


class Rounds(BackgroundWorker):
    """Runs its scripted rounds: each one either raises, wakes the worker, or returns its pause."""

    def __init__(self, script: list[str], *, idle_s: float = HOUR) -> None:
        super().__init__("test worker", idle_s=idle_s)
        self.script = script
        self.done: list[str] = []
        self.finished = asyncio.Event()

    async def round(self) -> float | None:
        step = self.script.pop(0) if self.script else "idle"
        self.done.append(step)
        if not self.script:
            self.finished.set()
        if step == "fail":
            raise ConnectionError("the database blinked")
        if step == "wake and fail":
            self.wake()
            raise ConnectionError("the database is away")
        if step == "wake":
            self.wake()
        if step == "pause":
            return HOUR
        return 0 if step == "again" else None


async def test_a_failed_round_is_logged_and_the_next_round_retries() -> None:
    worker = Rounds(["fail", "again"], idle_s=0.01)
    await worker.start()
    await asyncio.wait_for(worker.finished.wait(), timeout=10)
    await worker.stop()
    assert worker.done[:2] == ["fail", "again"]


async def test_a_failed_round_is_not_retried_at_once_when_something_wakes_the_worker() -> None:
    worker = Rounds(["wake and fail", "retried"], idle_s=HOUR)
    await worker.start()
    for _ in range(50):  # loop turns enough for a worker that retried on the wake-up to have run its next round
        await asyncio.sleep(0)
    await worker.stop()
    assert worker.done == ["wake and fail"]


async def test_a_wake_up_during_a_round_gets_a_round_of_its_own_without_waiting_for_the_idle_poll() -> None:
    worker = Rounds(["wake", "woken"])
    await worker.start()
    await asyncio.wait_for(worker.finished.wait(), timeout=10)
    await worker.stop()
    assert worker.done == ["wake", "woken"]


async def test_a_round_asking_for_no_pause_is_followed_at_once_by_the_next() -> None:
    worker = Rounds(["again", "again", "last"])
    await worker.start()
    await asyncio.wait_for(worker.finished.wait(), timeout=10)
    await worker.stop()
    assert worker.done == ["again", "again", "last"]


async def test_stopping_ends_a_worker_that_waits_out_a_pause() -> None:
    worker = Rounds(["pause"])
    await worker.start()
    await asyncio.wait_for(worker.finished.wait(), timeout=10)
    await asyncio.wait_for(worker.stop(), timeout=10)
    assert worker.done == ["pause"]
