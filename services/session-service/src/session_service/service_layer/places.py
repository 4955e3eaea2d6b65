"""Use cases' reading of the configuration view: where a POS sits, what its territory's cash is, whose names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from session_service.domain.errors import ConfigurationMissingError
from session_service.domain.report import Names
from session_service.domain.sessions import TillPlace
from session_service.service_layer.ports import ConfigRecord, UnitOfWork


@dataclass(frozen=True, slots=True)
class PlaceItems:
    place: TillPlace
    pos: dict[str, Any]
    shop: dict[str, Any]
    company: dict[str, Any]
    territory: dict[str, Any]


async def _item(work: UnitOfWork, entity_id: UUID, what: str) -> dict[str, Any]:
    found = (await work.config.get_many([entity_id])).get(entity_id)
    if found is None or found.deleted:
        raise ConfigurationMissingError(what, entity_id)
    return found.item


async def place_of(work: UnitOfWork, pos_id: UUID) -> PlaceItems:
    """The POS, its shop, company and territory; `ConfigurationMissingError` while one has not arrived."""
    pos = await _item(work, pos_id, "POS")
    shop = await _item(work, UUID(pos["shop_id"]), "shop")
    company = await _item(work, UUID(shop["company_id"]), "company")
    territory = await _item(work, UUID(company["territory_id"]), "territory")
    place = TillPlace(
        pos_id=pos_id,
        pos_name=str(pos.get("name", pos_id)),
        shop_id=UUID(pos["shop_id"]),
        company_id=UUID(shop["company_id"]),
        territory_id=UUID(company["territory_id"]),
        currency=str(territory["currency"]),
        exponent=int(territory["currency_exponent"]),
        denominations=tuple(int(d["value"]) for d in territory["denominations"]),
    )
    return PlaceItems(place, pos, shop, company, territory)


def _operator_shop(record: ConfigRecord) -> UUID | None:
    shop = record.item.get("shop_id")
    return UUID(shop) if shop else None


async def operator_shops(work: UnitOfWork, shop_id: UUID) -> dict[UUID, UUID | None]:
    """Active operators who may work in the shop → their shop (None for a federation admin)."""
    return {
        k: _operator_shop(r) for k, r in (await work.config.operators_of(shop_id)).items() if r.item.get("active", True)
    }


async def names_of(work: UnitOfWork, items: PlaceItems, operator_ids: Sequence[UUID]) -> Names:
    operators = await work.config.operators_of(items.place.shop_id)
    categories = await work.config.categories_of(items.place.company_id)
    return Names(
        company=str(items.company.get("name", "")),
        shop=str(items.shop.get("name", "")),
        shop_address=str(items.shop.get("address", "")),
        pos=items.place.pos_name,
        bank_account=str(items.shop.get("bank_account", "")),
        timezone=str(items.territory.get("timezone", "UTC")),
        operators={k: str(r.item.get("name", k)) for k, r in operators.items() if k in set(operator_ids)},
        categories={k: str(r.item.get("name", k)) for k, r in categories.items()},
    )


def report_recipients(items: PlaceItems) -> tuple[str, ...]:
    return tuple(str(a) for a in items.shop.get("report_emails", ()))
