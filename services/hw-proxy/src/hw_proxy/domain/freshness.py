"""How fresh the till's config is: what the till UI shows before it trusts a price or a shop's settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hw_proxy.domain.config_cache import StreamState


@dataclass(frozen=True, slots=True)
class Freshness:
    """The stream's position and link, and whether the config should be shown as stale.

    `age_s` is the time since the notifier was last heard: 0 while connected (its pings prove it is there within
    `HALF_OPEN_S`), None if it never was. The config is stale when it never finished a sync, or when the notifier
    was last heard longer than `stale_after_s` ago.
    """

    position: int | None
    connected: bool
    caught_up: bool
    last_message_at: datetime | None
    last_synced_at: datetime | None
    age_s: float | None
    stale: bool
    reset_in_progress: bool
    awaiting_snapshot: int


def freshness(
    state: StreamState,
    *,
    connected: bool,
    caught_up: bool,
    last_contact_at: datetime | None,
    awaiting_snapshot: int,
    now: datetime,
    stale_after_s: float,
) -> Freshness:
    """The freshness of the cache at `now`, from its stored state and the live link."""
    heard = [t for t in (state.last_message_at, last_contact_at) if t is not None]
    if connected:
        age_s: float | None = 0.0
    elif heard:
        age_s = max(0.0, (now - max(heard)).total_seconds())
    else:
        age_s = None
    stale = state.last_synced_at is None or age_s is None or age_s > stale_after_s
    return Freshness(
        position=state.position,
        connected=connected,
        caught_up=caught_up,
        last_message_at=state.last_message_at,
        last_synced_at=state.last_synced_at,
        age_s=age_s,
        stale=stale,
        reset_in_progress=state.reset_in_progress,
        awaiting_snapshot=awaiting_snapshot,
    )
