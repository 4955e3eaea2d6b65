"""Use cases of the back office: create, change, delete and read configuration items, each change announced once.

Every write bumps the item's version, keeps it in the history with who and when, and queues one
`config.changed` (full item + RFC 6902 patch + hierarchy keys) in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from caisse_contracts.config import Role
from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import ConfigChangedV1, EntityType, PatchOperationV1
from caisse_contracts.topics import CONFIG
from pos_api.domain.config import (
    SPECS,
    TAX_CODE_FIELDS,
    Actor,
    Hierarchy,
    StoredItem,
    authorize,
    hierarchy_of,
    next_item,
    patch_from,
    refuse_removed_tax_codes,
    refuse_unknown_tax_code,
    refuse_while_used,
)
from pos_api.domain.errors import ForbiddenError, InvalidReferenceError, NotFoundError, UnauthenticatedError
from pos_api.service_layer.ports import SecretBox, UnitOfWork
from pos_api.service_layer.services import Services

SOURCE = "pos-api"


def digest(secret: str) -> str:
    """Device secrets and operator tokens are long random strings: a SHA-256 keeps them unrecoverable and
    costs microseconds per request (a password hash would cost tens of milliseconds on every ticket)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Written:
    stored: StoredItem
    secret: str | None = None
    """A device secret or an operator token, shown once and never again."""


async def authenticate(token: str | None, services: Services) -> Actor:
    if not token:
        raise UnauthenticatedError("an operator bearer token is required")
    async with services.uow() as work:
        operator_id = await work.credentials.operator_for_token(digest(token))
        operator = await work.config.get(operator_id) if operator_id else None
    if operator is None or operator.deleted or not operator.item.get("active", True):
        raise UnauthenticatedError("unknown or revoked token")
    role = Role(operator.item["role"])
    return Actor(operator.id, role, operator.hierarchy.shop_id, operator.hierarchy.company_id)


async def _parent(work: UnitOfWork, entity_type: EntityType, fields: dict[str, Any]) -> StoredItem | None:
    spec = SPECS[entity_type]
    if entity_type is EntityType.OPERATOR:
        shop_id = fields.get("shop_id")
        return await _live(work, UUID(str(shop_id)), EntityType.SHOP, "shop_id") if shop_id else None
    if spec.parent is None:
        return None
    field, parent_type = spec.parent
    parent = await _live(work, UUID(str(fields[field])), parent_type, field)
    if entity_type is EntityType.PRODUCT and str(parent.item["company_id"]) != str(fields["company_id"]):
        raise InvalidReferenceError("category_id", "belongs to another company")
    if entity_type is EntityType.CATALOGUE_OVERRIDE:
        shop = await _live(work, UUID(str(fields["shop_id"])), EntityType.SHOP, "shop_id")
        if shop.hierarchy.company_id != parent.hierarchy.company_id:
            raise InvalidReferenceError("product_id", "is not in the catalogue of this shop's company")
    return parent


async def _live(work: UnitOfWork, entity_id: UUID, entity_type: EntityType, field: str) -> StoredItem:
    found = await work.config.get(entity_id)
    if found is None or found.deleted or found.entity_type is not entity_type:
        raise InvalidReferenceError(field, f"no {entity_type.value} {entity_id}")
    return found


async def _refuse_broken_references(
    work: UnitOfWork,
    entity_type: EntityType,
    values: dict[str, Any],
    hierarchy: Hierarchy,
    current: StoredItem | None,
) -> None:
    """What the item names must exist where it sits, and what names the item must keep working after the write."""
    if entity_type in TAX_CODE_FIELDS and hierarchy.territory_id is not None:
        # Locked: a territory dropping this tax code at the same moment waits for this write, then sees it.
        territory = await work.config.get(hierarchy.territory_id, for_update=True)
        if territory is not None:
            refuse_unknown_tax_code(entity_type, values, territory.item)
    if current is None:
        return
    if entity_type is EntityType.TERRITORY:
        catalogue = [*await work.config.list(EntityType.CATEGORY), *await work.config.list(EntityType.PRODUCT)]
        refuse_removed_tax_codes(current.item, values, (i for i in catalogue if i.hierarchy.territory_id == current.id))
    link = _parent_link(entity_type)
    if link is not None and hierarchy != current.hierarchy:
        # Its children keep the hierarchy keys they were written with (a product its company): they stay behind.
        refuse_while_used(entity_type, link[0], await _children(work, current), "move")


def _parent_link(entity_type: EntityType) -> tuple[str, EntityType] | None:
    """The field that names an item's parent and the parent's type; a cashier's shop is one too."""
    if entity_type is EntityType.OPERATOR:
        return "shop_id", EntityType.SHOP
    return SPECS[entity_type].parent


async def _children(work: UnitOfWork, parent: StoredItem) -> list[StoredItem]:
    """The live items that name `parent` as theirs: a territory's companies, a category's products…"""
    found: list[StoredItem] = []
    for entity_type in SPECS:
        link = _parent_link(entity_type)
        if link is None or link[1] is not parent.entity_type:
            continue
        # A child sits in its parent's company (a territory's companies in none yet): the listing stays small.
        candidates = await work.config.list(entity_type, company_id=parent.hierarchy.company_id)
        found += [c for c in candidates if str(c.item.get(link[0])) == str(parent.id)]
    return found


async def _announce(
    work: UnitOfWork,
    stored: StoredItem,
    previous: StoredItem | None,
    patch: list[dict[str, Any]],
    services: Services,
    by: UUID | None,
) -> None:
    h = stored.hierarchy
    payload = ConfigChangedV1(
        entity_type=stored.entity_type,
        entity_id=stored.id,
        version=stored.version,
        previous_version=previous.version if previous else None,
        deleted=stored.deleted,
        item=stored.item,
        patch=tuple(PatchOperationV1.model_validate(op) for op in patch),
        changed_by=by,
    )
    envelope = Envelope[ConfigChangedV1].wrap(
        payload,
        event_id=services.new_id(),
        occurred_at=services.clock(),
        source=SOURCE,
        tenant=TenantKeys(territory_id=h.territory_id, company_id=h.company_id, shop_id=h.shop_id, pos_id=h.pos_id),
    )
    await work.outbox.add(
        envelope,
        topic=CONFIG.name,
        key=payload.key,
        aggregate_type=stored.entity_type.value,
        aggregate_id=str(stored.id),
    )


async def create_item(
    entity_type: EntityType, body: dict[str, Any] | BaseModel, actor: Actor, services: Services
) -> Written:
    """Create an item from its fields: a JSON object, or the entity's fields model already validated."""
    spec = SPECS[entity_type]
    fields = spec.fields.model_validate(body)
    entity_id = services.new_id()
    now = services.clock()
    async with services.uow() as work:
        values = fields.model_dump(mode="json")
        parent = await _parent(work, entity_type, values)
        hierarchy = hierarchy_of(entity_type, entity_id, parent, values)
        authorize(actor, entity_type, hierarchy, write=True)
        await _refuse_broken_references(work, entity_type, values, hierarchy, None)
        secret: str | None = None
        if entity_type is EntityType.POS:
            if await work.credentials.device(values["device_serial"]) is not None:
                raise InvalidReferenceError("device_serial", "is already the serial of another till")
            secret = secrets.token_urlsafe(32)
            await work.credentials.set_device(entity_id, values["device_serial"], digest(secret), now)
        if entity_type is EntityType.OPERATOR:
            if actor.role is not Role.FEDERATION_ADMIN and values["role"] == Role.FEDERATION_ADMIN.value:
                raise InvalidReferenceError("role", "only a federation admin can create another")
            secret = secrets.token_urlsafe(32)
            await work.credentials.set_operator_token(entity_id, digest(secret), now)
        item, version = next_item(
            spec, entity_id, fields, current=None, expected_version=None, now=now, by=actor.operator_id
        )
        stored = StoredItem(entity_type, entity_id, version, hierarchy, item)
        await _record(work, stored, None, services, actor.operator_id, now)
    return Written(stored, secret)


async def update_item(
    entity_type: EntityType,
    entity_id: UUID,
    expected_version: int,
    body: dict[str, Any] | BaseModel,
    actor: Actor,
    services: Services,
) -> Written:
    fields = SPECS[entity_type].fields.model_validate(body)
    now = services.clock()
    async with services.uow() as work:
        current = await _held(work, entity_type, entity_id, actor)
        values = fields.model_dump(mode="json")
        parent = await _parent(work, entity_type, values)
        hierarchy = hierarchy_of(entity_type, entity_id, parent, values)
        authorize(actor, entity_type, hierarchy, write=True)
        if entity_type is EntityType.POS and values["device_serial"] != current.item["device_serial"]:
            raise InvalidReferenceError("device_serial", "is fixed; register a new till for new hardware")
        await _refuse_broken_references(work, entity_type, values, hierarchy, current)
        item, version = _next_version(current, fields, expected_version, actor, now, _kept(current))
        stored = StoredItem(entity_type, entity_id, version, hierarchy, item)
        await _record(work, stored, current, services, actor.operator_id, now)
    return Written(stored)


def _kept(current: StoredItem) -> dict[str, Any] | None:
    """What an item carries beside its editable fields and keeps across edits (a company's credentials flag)."""
    if current.entity_type is EntityType.COMPANY:
        return {"paheko_credentials_set": current.item.get("paheko_credentials_set", False)}
    return None


def _fields_of(current: StoredItem) -> BaseModel:
    spec = SPECS[current.entity_type]
    return spec.fields.model_validate({k: v for k, v in current.item.items() if k in spec.fields.model_fields})


async def _held(work: UnitOfWork, entity_type: EntityType, entity_id: UUID, actor: Actor) -> StoredItem:
    """The live item about to change, locked until the transaction ends, if `actor` may write it where it sits."""
    current = await work.config.get(entity_id, for_update=True)
    if current is None or current.deleted or current.entity_type is not entity_type:
        raise NotFoundError(entity_type.value, str(entity_id))
    authorize(actor, entity_type, current.hierarchy, write=True)
    return current


def _next_version(
    current: StoredItem,
    fields: BaseModel,
    expected_version: int | None,
    actor: Actor,
    now: datetime,
    extra: dict[str, Any] | None,
) -> tuple[dict[str, Any], int]:
    """`current` with these fields and `extra` as its next version, if `expected_version` (when given) is its own."""
    spec = SPECS[current.entity_type]
    return next_item(
        spec,
        current.id,
        fields,
        current=current,
        expected_version=expected_version,
        now=now,
        by=actor.operator_id,
        extra=extra,
    )


async def _record(
    work: UnitOfWork,
    stored: StoredItem,
    previous: StoredItem | None,
    services: Services,
    by: UUID | None,
    now: datetime,
    *,
    patch: list[dict[str, Any]] | None = None,
) -> None:
    """Keep the new version in the history and queue its `config.changed`, in one commit; the till cache forgets."""
    patch = patch_from(previous.item if previous else None, stored.item) if patch is None else patch
    await work.config.put(stored, patch=patch, changed_by=by, changed_at=now)
    await _announce(work, stored, previous, patch, services, by)
    await work.commit()
    services.cache.forget()


async def delete_item(
    entity_type: EntityType, entity_id: UUID, expected_version: int, actor: Actor, services: Services
) -> StoredItem:
    now = services.clock()
    async with services.uow() as work:
        current = await _held(work, entity_type, entity_id, actor)
        refuse_while_used(entity_type, "id", await _children(work, current), "delete")
        item, version = _next_version(current, _fields_of(current), expected_version, actor, now, _kept(current))
        stored = StoredItem(entity_type, entity_id, version, current.hierarchy, item, deleted=True)
        await _record(work, stored, current, services, actor.operator_id, now, patch=[{"op": "remove", "path": ""}])
    return stored


async def read_item(entity_type: EntityType, entity_id: UUID, actor: Actor, services: Services) -> StoredItem:
    async with services.uow() as work:
        current = await work.config.get(entity_id)
    if current is None or current.deleted or current.entity_type is not entity_type:
        raise NotFoundError(entity_type.value, str(entity_id))
    authorize(actor, entity_type, current.hierarchy, write=False)
    return current


async def list_items(entity_type: EntityType, actor: Actor, services: Services) -> list[StoredItem]:
    async with services.uow() as work:
        if actor.role is Role.FEDERATION_ADMIN:
            return await work.config.list(entity_type)
        items = await work.config.list(entity_type, company_id=actor.company_id)
    return [i for i in items if _readable(actor, i.hierarchy)]


def _readable(actor: Actor, where: Hierarchy) -> bool:
    try:
        authorize(actor, EntityType.SHOP, where, write=False)
    except ForbiddenError:
        return False
    return True


async def rotate_device_secret(pos_id: UUID, actor: Actor, services: Services) -> str:
    """A new device secret for a till; the old one stops working at once."""
    async with services.uow() as work:
        pos = await _held(work, EntityType.POS, pos_id, actor)
        secret = secrets.token_urlsafe(32)
        await work.credentials.set_device(pos_id, pos.item["device_serial"], digest(secret), services.clock())
        await work.commit()
        services.cache.forget()
    return secret


async def paheko_credentials_for_bridge(company_id: UUID, services: Services, box: SecretBox) -> tuple[str, str]:
    """The company's Paheko API user and password in clear, for paheko-bridge only (the route checks who asks)."""
    async with services.uow() as work:
        stored = await work.credentials.paheko(company_id)
    if stored is None:
        raise NotFoundError("Paheko credentials of the company", str(company_id))
    user, sealed = stored
    return user, box.open(sealed)


async def set_paheko_credentials(
    company_id: UUID, user: str, password: str, actor: Actor, services: Services, box: SecretBox
) -> StoredItem:
    """Store a company's Paheko API credentials (encrypted) and mark the company as having them."""
    now = services.clock()
    async with services.uow() as work:
        company = await _held(work, EntityType.COMPANY, company_id, actor)
        await work.credentials.set_paheko(company_id, user, box.seal(password), now)
        extra = {"paheko_credentials_set": True}
        item, version = _next_version(company, _fields_of(company), None, actor, now, extra)
        stored = StoredItem(EntityType.COMPANY, company_id, version, company.hierarchy, item)
        await _record(work, stored, company, services, actor.operator_id, now)
    return stored


SYSTEM = Actor(operator_id=UUID(int=0), role=Role.FEDERATION_ADMIN)
"""The platform itself, for the first administrator and for demo data."""


async def ensure_bootstrap_admin(token: str, services: Services) -> UUID:
    """Create the first federation admin with a token chosen by the deployment, once, however many processes
    start together on an empty database: the first creates it while the others wait, then find it."""
    async with services.uow() as work:
        await work.credentials.hold_bootstrap()
        existing = await work.credentials.operator_for_token(digest(token))
        if existing is not None:
            return existing
        now = services.clock()
        spec = SPECS[EntityType.OPERATOR]
        entity_id = services.new_id()
        fields = spec.fields.model_validate({"name": "Federation admin", "role": Role.FEDERATION_ADMIN.value})
        item, version = next_item(spec, entity_id, fields, current=None, expected_version=None, now=now, by=None)
        stored = StoredItem(EntityType.OPERATOR, entity_id, version, Hierarchy(), item)
        await work.credentials.set_operator_token(entity_id, digest(token), now)
        await _record(work, stored, None, services, None, now)
    return entity_id
