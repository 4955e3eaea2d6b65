"""The pure rules of a cash session: counts against the territory's denominations, the tickets a close awaits."""

from __future__ import annotations

import pytest

from session_service.domain.errors import InvalidFieldError, describe_ranges
from session_service.domain.sessions import Count, counted, missing_ranges, total_of

XPF = (10000, 5000, 1000, 500, 100, 50, 20, 10, 5, 2, 1)


def test_counts_are_sorted_largest_first_and_add_up_in_minor_units() -> None:
    counts = counted([(100, 3), (10000, 1), (5, 7)], XPF, "counts")
    assert counts == (Count(10000, 1), Count(100, 3), Count(5, 7))
    assert total_of(counts) == 10335


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ([(200, 1)], "counts[0].value", "200 is not a denomination of this territory"),
        ([(100, 1), (100, 2)], "counts[1].value", "counted twice"),
        ([(100, -1)], "counts[0].count", "cannot be negative"),
        ([(100, 10_000_000)], "counts[0].count", "is not a count"),
    ],
)
def test_a_count_is_refused_naming_its_field(raw: list[tuple[int, int]], field: str, reason: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        counted(raw, XPF, "counts")
    assert refused.value.field == field
    assert reason in refused.value.reason


def test_missing_ticket_numbers_are_told_as_ranges() -> None:
    assert missing_ranges((1, 10), [1, 2, 5, 6, 10]) == ((3, 4), (7, 9))
    assert missing_ranges((4, 4), []) == ((4, 4),)
    assert missing_ranges((1, 3), [1, 2, 3]) == ()
    assert describe_ranges(((3, 4), (9, 9))) == "3..4, 9"
