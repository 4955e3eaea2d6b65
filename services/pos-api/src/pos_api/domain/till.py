"""A till as pos-api knows it: the authenticated device, and the configuration its baskets are priced against."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.config import Company, Pos, Shop, Territory
from caisse_contracts.pricing import Catalogue
from pos_api.domain.config import StoredItem
from pos_api.domain.errors import UnauthenticatedError


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


@dataclass(frozen=True, slots=True)
class TillContext:
    """The configuration a basket is priced against: the till's territory, company, shop and catalogue.

    Validated into the contracts' models once, as it is loaded; every request of the till then reads it as it is.
    """

    territory: Territory
    company: Company
    shop: Shop
    pos: Pos
    catalogue: Catalogue
    operators: frozenset[UUID] = frozenset()
    """The shop's active operators: who may be recorded on its tickets (a federation admin too, looked up)."""
