"""The wait before the till connects again: exponential from the first delay, capped, and drawn with full jitter."""

from __future__ import annotations

import random

from hw_proxy.domain.reconnect import reconnect_ceiling, reconnect_delay


def test_the_ceiling_doubles_from_the_first_delay_up_to_the_cap() -> None:
    ceilings = [reconnect_ceiling(n, first_s=0.5, max_s=30.0) for n in range(10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_the_ceiling_stays_at_the_cap_after_very_many_failures() -> None:
    assert reconnect_ceiling(10_000, first_s=0.5, max_s=30.0) == 30.0


def test_the_delay_is_a_uniform_draw_between_zero_and_the_ceiling() -> None:
    bounds: list[tuple[float, float]] = []

    def draw(low: float, high: float) -> float:
        bounds.append((low, high))
        return high

    assert reconnect_delay(3, first_s=0.5, max_s=30.0, draw=draw) == 4.0
    assert bounds == [(0.0, 4.0)]


def test_delays_are_spread_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = [reconnect_delay(4, first_s=0.5, max_s=30.0, draw=rng.uniform) for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0
    assert max(delays) > 7.0
    assert len(set(delays)) == 200
