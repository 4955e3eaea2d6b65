"""What pos-api answers a till besides the receipt: its boot data (`GET /v1/pos-data`) and a basket with its totals.

pos-api writes these answers directly for speed; these models are their documented shape (OpenAPI) and what a
till may validate them with. Money is int minor units, rates basis points, weights grams.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from caisse_contracts.config import Category, Company, Pos, Product, SessionStatus, Shop, Territory
from caisse_contracts.stream import StreamToken
from caisse_contracts.tills import BasketContent

Minor = StrictInt


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShopCatalogue(_Answer):
    """The company's categories and the products this shop sells, each at the shop's own price."""

    categories: tuple[Category, ...]
    products: tuple[Product, ...]


class OpenSession(_Answer):
    session_id: UUID
    opened_at: AwareDatetime


class PosData(_Answer):
    """Everything a till needs to boot, in one call."""

    status: SessionStatus = Field(description="READY_CONTINUE when the till has an open session, else READY_OPEN.")
    territory: Territory
    company: Company
    shop: Shop
    pos: Pos
    catalogue: ShopCatalogue
    session: OpenSession | None = Field(description="The till's open cash session, if any.")
    last_ticket_number: StrictInt | None = Field(ge=1, description="The till's highest ticket number pos-api has.")
    stream: StreamToken | None = Field(
        default=None,
        description="A token for the notifier's config stream, which pushes the till its configuration's changes; "
        "renewed with `POST /v1/till/stream-token` before it ends. None when pos-api hands out no stream token.",
    )


class ComputedLine(_Answer):
    line_id: UUID
    label: str | None
    gross: Minor
    discount: Minor
    total_incl_tax: Minor
    total_excl_tax: Minor
    tax: Minor
    tax_rate_bp: StrictInt = Field(ge=0, le=10_000)


class ComputedTax(_Answer):
    rate_bp: StrictInt = Field(ge=0, le=10_000)
    total_excl_tax: Minor
    tax: Minor
    total_incl_tax: Minor


class BasketTotals(_Answer):
    """The basket computed by `caisse_contracts.basket`, as the till's screen shows it."""

    currency: str = Field(min_length=3, max_length=3)
    lines: tuple[ComputedLine, ...]
    taxes: tuple[ComputedTax, ...]
    total_excl_tax: Minor
    total_tax: Minor
    total_incl_tax: Minor
    discounts: Minor
    vouchers: Minor
    paid: Minor
    cash_rounding: Minor
    due_after_rounding: Minor
    remaining: Minor
    cash_due: Minor = Field(
        description="What the customer still owes in cash, after the cash rounding: the amount to ask for."
    )
    change: Minor
    fully_paid: StrictBool


class BasketOut(_Answer):
    """A basket as pos-api keeps it (`ETag`: its version), with its computed totals."""

    id: UUID
    version: StrictInt = Field(ge=1)
    status: Literal["open", "finalized"]
    ticket_id: UUID | None = Field(description="The ticket a finalized basket became.")
    content: BasketContent
    computed: BasketTotals
