"""The config stream's messages: one JSON shape per type, decoded by their `type`, nothing unknown accepted."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from caisse_contracts.events import EntityType, PatchOperationV1
from caisse_contracts.stream import FROM_TILL, TO_TILL, Ack, Change, Resume, Snapshot
from caisse_contracts.topics import CONFIG


def test_a_change_travels_as_json_and_comes_back_the_same() -> None:
    change = Change(
        position=41,
        entity_type=EntityType.PRODUCT,
        entity_id=uuid.uuid4(),
        from_version=3,
        version=4,
        patch=(PatchOperationV1(op="replace", path="/price", value=1500),),
    )
    wire = change.model_dump_json()
    assert '"type":"change"' in wire
    assert '"patch":[{"op":"replace","path":"/price","value":1500}]' in wire
    assert TO_TILL.validate_json(wire) == change


def test_the_till_messages_are_told_apart_by_their_type() -> None:
    assert FROM_TILL.validate_json('{"type":"resume","position":null}') == Resume(position=None)
    assert FROM_TILL.validate_json('{"type":"ack","position":12}') == Ack(position=12)
    asked = FROM_TILL.validate_json(
        '{"type":"snapshot","entities":[{"entity_type":"shop","entity_id":"9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a503"}]}'
    )
    assert isinstance(asked, Snapshot)


@pytest.mark.parametrize(
    "wire",
    [
        '{"type":"subscribe","position":1}',  # unknown type
        '{"type":"ack","position":-1}',  # a position is never negative
        '{"type":"ack","position":1.0}',  # nor a float
        '{"type":"ack","position":1,"extra":true}',  # nothing unknown
        '{"type":"snapshot","entities":[]}',  # a snapshot of nothing
    ],
)
def test_a_malformed_till_message_is_refused(wire: str) -> None:
    with pytest.raises(ValidationError):
        FROM_TILL.validate_json(wire)


def test_positions_are_one_order_because_the_config_topic_has_one_partition() -> None:
    assert CONFIG.partitions == 1
    assert CONFIG.compacted
