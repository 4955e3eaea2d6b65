"""A sale as the till keeps it once finalized: the offline sale the sync sends and the ticket it makes, immutable;
the basket being rung up before it; a sale or credit note printed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.sync import OfflineSale
from caisse_contracts.tills import BasketContent

BasketState = Literal["open", "finalized"]


@dataclass(frozen=True, slots=True)
class StoredBasket:
    """A basket as the till keeps it: the latest version wins, a stale write is refused."""

    basket_id: UUID
    version: int
    status: BasketState
    content: BasketContent
    ticket_id: UUID | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FinalizedSale:
    """A sale numbered by the till: what `POST /v1/sync/sales` sends (`sale`) and the ticket it is (`ticket`)."""

    sale: OfflineSale
    ticket: TicketFinalizedV1
    basket_id: UUID | None = None

    @property
    def number(self) -> int:
        return self.sale.number


@dataclass(frozen=True, slots=True)
class Reprint:
    """A ticket of the till printed again: a sale or a credit note, the number of this duplicate among its reprints
    (1 for the first), and for a credit note the number of the sale it corrects (its receipt says so)."""

    ticket: TicketFinalizedV1
    copies: int
    original_number: int | None = None
