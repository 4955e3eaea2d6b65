"""Use cases of the till: device authentication and boot (everything a till needs, in one call)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from caisse_contracts.events import EntityType
from pos_api.domain.catalogue import shop_catalogue
from pos_api.domain.config import StoredItem
from pos_api.domain.errors import UnauthenticatedError
from pos_api.service_layer.config import ConfigServices, digest
from pos_api.service_layer.ports import TillWork


@dataclass(frozen=True, slots=True)
class Device:
    """An authenticated till: its POS item and where it sits. A till only ever reaches its own shop."""

    pos: StoredItem

    @property
    def pos_id(self) -> UUID:
        return self.pos.id

    @property
    def shop_id(self) -> UUID:
        shop = self.pos.hierarchy.shop_id
        if shop is None:
            raise UnauthenticatedError("this till belongs to no shop")
        return shop


async def authenticate_device(serial: str | None, secret: str | None, services: ConfigServices) -> Device:
    if not serial or not secret:
        raise UnauthenticatedError("X-Device-Serial and X-Device-Secret are required")
    cache = services.cache
    known = cache.devices.get(serial) if cache.supervised else None
    if known is None:
        async with services.till_work() as work:
            seen = cache.generation if cache.supervised else cache.at(await work.config.generation()).generation
            known = cache.devices.get(serial)
            if known is None:
                credential = await work.credentials.device(serial)
                pos = await work.config.get(credential.pos_id) if credential else None
                if credential is None or pos is None or pos.deleted:
                    raise UnauthenticatedError("unknown device")
                known = (credential.secret_sha256, Device(pos))
                if cache.generation == seen:  # not if the configuration moved while this was read
                    cache.devices[serial] = known
    if not hmac.compare_digest(known[0], digest(secret)):
        raise UnauthenticatedError("wrong device secret")
    device: Device = known[1]
    return device


async def _item(work: TillWork, entity_id: UUID | None) -> dict[str, Any]:
    found = await work.config.get(entity_id) if entity_id else None
    if found is None:
        raise UnauthenticatedError("this till's hierarchy is incomplete")
    return found.item


async def pos_data(device: Device, services: ConfigServices) -> dict[str, Any]:
    """Territory, company, shop, POS, the shop's catalogue, the open session and the last ticket number."""
    h = device.pos.hierarchy
    async with services.till_work() as work:
        territory = await _item(work, h.territory_id)
        company = await _item(work, h.company_id)
        shop = await _item(work, h.shop_id)
        categories = [c.item for c in await work.config.list(EntityType.CATEGORY, company_id=h.company_id)]
        products = [p.item for p in await work.config.list(EntityType.PRODUCT, company_id=h.company_id)]
        overrides = [o.item for o in await work.config.list(EntityType.CATALOGUE_OVERRIDE, shop_id=h.shop_id)]
        session = await work.sessions.of_pos(device.pos_id)
        last_number = await work.tickets.last_number(device.pos_id)
    open_session = session if session is not None and session.is_open else None
    return {
        "status": "READY_CONTINUE" if open_session else "READY_OPEN",
        "territory": territory,
        "company": company,
        "shop": shop,
        "pos": device.pos.item,
        "catalogue": shop_catalogue(categories, products, overrides),
        "session": (
            {"session_id": str(open_session.session_id), "opened_at": open_session.opened_at.isoformat()}
            if open_session
            else None
        ),
        "last_ticket_number": last_number,
    }
