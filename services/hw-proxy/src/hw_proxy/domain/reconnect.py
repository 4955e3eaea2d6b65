"""How long the till waits before it connects again: exponential, capped, with full jitter.

Full jitter (a uniform draw between zero and the exponential ceiling) spreads the reconnections of every till of a
federation that lost its notifier at the same moment, so that the replica that comes back is not flooded at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Draw = Callable[[float, float], float]


def reconnect_ceiling(failures: int, *, first_s: float, max_s: float) -> float:
    """The longest wait after `failures` sessions in a row that failed: `first_s`, doubled each time, capped."""
    return min(max_s, first_s * 2.0 ** min(max(failures, 0), 62))


def reconnect_delay(failures: int, *, first_s: float, max_s: float, draw: Draw = random.uniform) -> float:
    """The wait before the next attempt: a uniform draw in [0, ceiling] (`draw` is injected by the tests; the
    standard generator is right here: this is jitter, not secrecy)."""
    return draw(0.0, reconnect_ceiling(failures, first_s=first_s, max_s=max_s))
