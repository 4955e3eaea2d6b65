"""Use case: keep session-service's view of the back office's configuration, from `config.changed`.

The topic is compacted and keyed by entity, so a view rebuilt from the beginning sees each entity's latest
version; an older or equal version never overwrites a newer one, so a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from caisse_contracts.events import ConfigChangedV1
from session_service.service_layer.ports import ConfigRecord, UnitOfWorkFactory


async def apply_config(changes: Sequence[ConfigChangedV1], *, uow: UnitOfWorkFactory) -> int:
    """Keep the newest version of each entity of the batch; the number of records kept."""
    newest: dict[object, ConfigChangedV1] = {}
    for change in changes:
        known = newest.get(change.entity_id)
        if known is None or change.version > known.version:
            newest[change.entity_id] = change
    if not newest:
        return 0
    records = [
        ConfigRecord(c.entity_type.value, c.entity_id, c.version, c.deleted, c.item)
        for c in sorted(newest.values(), key=lambda c: str(c.entity_id))
    ]
    async with uow() as work:
        kept = await work.config.upsert(records)
        await work.commit()
    return kept
