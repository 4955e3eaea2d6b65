import time
import uuid

from caisse_contracts.ids import new_id


def test_a_new_id_is_a_standard_uuid_of_version_7() -> None:
    made = new_id()
    assert type(made) is uuid.UUID
    assert made.version == 7
    assert made.variant == uuid.RFC_4122


def test_ids_made_later_sort_after_and_carry_the_time_they_were_made() -> None:
    before_ms = time.time_ns() // 1_000_000
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    after_ms = time.time_ns() // 1_000_000
    assert first < second
    assert str(first) < str(second), "the text form sorts the same way"
    assert before_ms <= first.int >> 80 <= second.int >> 80 <= after_ms


def test_ids_are_all_different() -> None:
    assert len({new_id() for _ in range(10_000)}) == 10_000
