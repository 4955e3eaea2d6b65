"""Use cases of the till: device authentication and boot (everything a till needs, in one call, its stream token
included)."""

from __future__ import annotations

import hmac
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel

from caisse_contracts.config import CatalogueOverride, Category, Company, Pos, Product, Shop, Territory
from caisse_contracts.events import EntityType
from caisse_contracts.pricing import shop_catalogue
from caisse_contracts.till_views import OpenSession, PosData, ShopCatalogue
from pos_api.domain.config import Hierarchy
from pos_api.domain.errors import NotFoundError, UnauthenticatedError
from pos_api.domain.till import Device
from pos_api.service_layer.config import digest
from pos_api.service_layer.ports import UnitOfWork
from pos_api.service_layer.services import Services
from pos_api.service_layer.stream_tokens import stream_token_if_configured


async def authenticate_device(serial: str | None, secret: str | None, services: Services) -> Device:
    if not serial or not secret:
        raise UnauthenticatedError("X-Device-Serial and X-Device-Secret are required")
    cache = services.cache
    known = cache.devices.get(serial) if cache.supervised else None
    if known is None:
        async with services.uow() as work:
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
    return known[1]


Item = TypeVar("Item", bound=BaseModel)


async def live_item(work: UnitOfWork, model: type[Item], name: str, entity_id: UUID | None) -> Item:
    """An item of the till's hierarchy as its contracts' model; a missing or deleted one is not found."""
    found = await work.config.get(entity_id) if entity_id else None
    if found is None or found.deleted:
        raise NotFoundError(name, str(entity_id))
    return model.model_validate(found.item)


async def catalogue_of(work: UnitOfWork, hierarchy: Hierarchy) -> ShopCatalogue:
    """The catalogue the till's shop sells from, validated into the contracts' models."""
    company_id, shop_id = hierarchy.company_id, hierarchy.shop_id
    categories = [
        Category.model_validate(c.item) for c in await work.config.list(EntityType.CATEGORY, company_id=company_id)
    ]
    products = [
        Product.model_validate(p.item) for p in await work.config.list(EntityType.PRODUCT, company_id=company_id)
    ]
    overrides = await work.config.list(EntityType.CATALOGUE_OVERRIDE, shop_id=shop_id)
    return shop_catalogue(categories, products, [CatalogueOverride.model_validate(o.item) for o in overrides])


async def _item(work: UnitOfWork, model: type[Item], entity_id: UUID | None) -> Item:
    found = await work.config.get(entity_id) if entity_id else None
    if found is None:
        raise UnauthenticatedError("this till's hierarchy is incomplete")
    return model.model_validate(found.item)


async def pos_data(device: Device, services: Services) -> PosData:
    """Territory, company, shop, POS, the shop's catalogue, the open session, the last ticket number and a token
    for the config stream."""
    h = device.pos.hierarchy
    async with services.uow() as work:
        territory = await _item(work, Territory, h.territory_id)
        company = await _item(work, Company, h.company_id)
        shop = await _item(work, Shop, h.shop_id)
        catalogue = await catalogue_of(work, h)
        session = await work.sessions.of_pos(device.pos_id)
        last_number = await work.tickets.last_number(device.pos_id)
    open_session = session if session is not None and session.is_open else None
    return PosData(
        status="READY_CONTINUE" if open_session else "READY_OPEN",
        territory=territory,
        company=company,
        shop=shop,
        pos=Pos.model_validate(device.pos.item),
        catalogue=catalogue,
        session=OpenSession(session_id=open_session.session_id, opened_at=open_session.opened_at)
        if open_session
        else None,
        last_ticket_number=last_number,
        stream=stream_token_if_configured(device, services),
    )
