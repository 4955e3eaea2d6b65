"""The delay before a ticket is tried again: it grows, it is capped, and it is jittered."""

from __future__ import annotations

from datetime import UTC, datetime

from paheko_bridge.domain.pushes import Backoff, missing_numbers


def test_the_delay_doubles_from_the_first_and_stays_under_the_cap() -> None:
    backoff = Backoff(first_s=1.0, max_s=60.0)
    for failures in range(1, 6):
        base = 2.0 ** (failures - 1)
        delay = backoff.delay(failures).total_seconds()
        assert base <= delay <= base + 1.0  # exponential, plus at most `first_s` of jitter
    assert all(backoff.delay(n).total_seconds() <= 60.0 for n in range(6, 40))


def test_the_delays_of_many_tills_are_spread_by_jitter() -> None:
    backoff = Backoff(first_s=1.0, max_s=60.0)
    assert len({backoff.delay(3) for _ in range(20)}) > 1


def test_the_next_attempt_is_later_than_now() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert Backoff().next_attempt(1, now) > now


def test_a_session_misses_the_numbers_not_yet_pushed_from_its_first_to_its_last() -> None:
    assert missing_numbers(3, 7, [3, 5, 7]) == [4, 6]
    assert missing_numbers(3, 4, [4, 3]) == []
    assert missing_numbers(None, None, []) == []
