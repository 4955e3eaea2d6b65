"""The till's local HTTP API over its config cache: what the till UI reads, even when the network is away."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from caisse_contracts.events.config import EntityType
from caisse_runtime.http import PROBLEM_JSON, PROBLEM_TYPE_BASE, ProblemError
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.domain.freshness import freshness
from hw_proxy.entrypoints.config_subscriber import StreamStatus
from hw_proxy.service_layer.ports import Clock, ConfigStore


class ConfigFreshness(BaseModel):
    """How fresh the till's config is, and whether the link to the notifier is up."""

    position: int | None = Field(description="The last stream position stored (None: nothing yet).")
    connected: bool = Field(description="A connection to the notifier is open.")
    caught_up: bool = Field(description="The open connection has sent everything the till missed (its Synced).")
    last_message_at: AwareDatetime | None = Field(description="When the last stream message was stored.")
    last_synced_at: AwareDatetime | None = Field(description="When the last Synced was stored.")
    age_s: float | None = Field(description="Seconds since the notifier was last heard (0 while connected).")
    stale: bool = Field(description="Never synced, or not heard from for longer than the till's stale limit.")
    reset_in_progress: bool = Field(description="A full resend of the till's scope is under way.")
    awaiting_snapshot: int = Field(description="How many items the till asked for and waits for.")


class ConfigItemView(BaseModel):
    """One item of the till's config, as the notifier sent it."""

    entity_type: EntityType
    entity_id: UUID
    version: int
    position: int | None = Field(description="The stream position it came with (None: a reset or a snapshot).")
    awaiting_snapshot: bool = Field(
        description="A change could not be applied: this version is old, a new one is asked."
    )
    item: dict[str, Any]


class ConfigView(BaseModel):
    """The till's whole config cache: its freshness, and the live items grouped by entity type."""

    freshness: ConfigFreshness
    items: dict[EntityType, list[ConfigItemView]]


class ConfigItemNotFoundError(ProblemError):
    """The till holds no item for this entity (never sent, removed from its scope, or still awaited)."""

    def __init__(self, entity_type: EntityType, entity_id: UUID) -> None:
        super().__init__(
            404,
            "Not found",
            detail=f"the till holds no {entity_type.value} {entity_id}",
            type=PROBLEM_TYPE_BASE + "not-found",
        )


def _view(row: CachedItem) -> ConfigItemView:
    return ConfigItemView(
        entity_type=row.key.entity_type,
        entity_id=row.key.entity_id,
        version=row.version,
        position=row.position,
        awaiting_snapshot=row.awaiting_snapshot,
        item=row.item or {},
    )


def config_routes(store: ConfigStore, status: StreamStatus, *, clock: Clock, stale_after_s: float) -> APIRouter:
    """`GET /v1/config` and `GET /v1/config/{entity_type}/{entity_id}`, over the store and the live link."""
    router = APIRouter(prefix="/v1/config", tags=["config"])

    @router.get("", summary="The till's config: freshness and every item")
    async def read_config() -> ConfigView:
        state = await store.stream_state()
        rows = await store.items()
        now: datetime = clock()
        fresh = freshness(
            state,
            connected=status.connected,
            caught_up=status.caught_up,
            last_contact_at=status.last_contact_at,
            awaiting_snapshot=sum(1 for r in rows if r.awaiting_snapshot),
            now=now,
            stale_after_s=stale_after_s,
        )
        grouped: dict[EntityType, list[ConfigItemView]] = {}
        for row in rows:
            if row.live:
                grouped.setdefault(row.key.entity_type, []).append(_view(row))
        return ConfigView(freshness=ConfigFreshness.model_validate(fresh, from_attributes=True), items=grouped)

    @router.get(
        "/{entity_type}/{entity_id}",
        summary="One item of the till's config",
        responses={404: {"description": "The till holds no such item", "content": {PROBLEM_JSON: {}}}},
    )
    async def read_config_item(entity_type: EntityType, entity_id: UUID) -> ConfigItemView:
        row = await store.cached(EntityKey(entity_type, entity_id))
        if row is None or not row.live:
            raise ConfigItemNotFoundError(entity_type, entity_id)
        return _view(row)

    return router
