"""The till's status, as PRODUCT.md §1 names it: BOOTING → READY_OPEN (no session) or READY_CONTINUE (a session is
open) → WORKING (the session opened or continued on this run, selling).

A till stays BOOTING, saying why, while it cannot sell: not enrolled, its own POS, shop, company and territory not
in its config cache yet, or a ticket number it would use already used centrally (a till restored from an old
backup): pos-api is the judge, and the till refuses to sell until ops resolve it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from caisse_contracts.config import Company, Pos, Shop, Territory
from caisse_contracts.events.config import EntityType
from hw_proxy.domain.config_cache import CachedItem


class TillStatus(StrEnum):
    BOOTING = "BOOTING"
    READY_OPEN = "READY_OPEN"
    READY_CONTINUE = "READY_CONTINUE"
    WORKING = "WORKING"


@dataclass(frozen=True, slots=True)
class Place:
    """Where the till sits, as its config cache holds it: its POS, shop, company and territory, each validated."""

    pos: Pos
    shop: Shop
    company: Company
    territory: Territory


def _live(items: Sequence[CachedItem], entity_type: EntityType) -> list[dict[str, Any]]:
    return [i.item for i in items if i.key.entity_type is entity_type and i.live and i.item is not None]


def place_of(items: Sequence[CachedItem], serial: str) -> Place | None:
    """The till's place from the cached items (the POS whose serial is the till's), or None while incomplete."""
    pos_item = next((p for p in _live(items, EntityType.POS) if p.get("device_serial") == serial), None)
    if pos_item is None:
        return None
    by_id = {UUID(str(i["id"])): i for t in EntityType for i in _live(items, t) if "id" in i}
    pos = Pos.model_validate(pos_item)
    shop_item = by_id.get(pos.shop_id)
    if shop_item is None:
        return None
    shop = Shop.model_validate(shop_item)
    company_item = by_id.get(shop.company_id)
    if company_item is None:
        return None
    company = Company.model_validate(company_item)
    territory_item = by_id.get(company.territory_id)
    if territory_item is None:
        return None
    return Place(pos, shop, company, Territory.model_validate(territory_item))


@dataclass(frozen=True, slots=True)
class StatusView:
    status: TillStatus
    reason: str | None = None


def till_status(
    *, enrolled: bool, place_known: bool, number_clash: str | None, session_open: bool, working: bool
) -> StatusView:
    """The till's status from what it knows; a BOOTING till says why."""
    if not enrolled:
        return StatusView(TillStatus.BOOTING, "the till is not enrolled: no device serial and secret")
    if not place_known:
        return StatusView(TillStatus.BOOTING, "the till's POS, shop, company and territory are not in its config yet")
    if number_clash is not None:
        return StatusView(TillStatus.BOOTING, number_clash)
    if not session_open:
        return StatusView(TillStatus.READY_OPEN)
    return StatusView(TillStatus.WORKING if working else TillStatus.READY_CONTINUE)


def number_clash(central_last: int | None, local_last: int) -> str | None:
    """Why the till must not sell when pos-api already holds a number above the till's last one, else None."""
    if central_last is not None and central_last > local_last:
        return (
            f"pos-api already holds ticket number {central_last} of this till, above its own last number {local_last}"
            " (a till restored from an old backup?): selling is refused until ops resolve it"
        )
    return None


def released_after(central_last: int | None, release_after: int | None) -> int | None:
    """The number a till in a clash may resume after: the one ops released it for, while it is still pos-api's last
    number of the till (a release given before another device sold on under the same serial no longer fits)."""
    if central_last is not None and release_after == central_last:
        return release_after
    return None
