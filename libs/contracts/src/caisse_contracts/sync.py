"""The offline batch sync between a till (hw-proxy) and pos-api: `POST /v1/sync/sales`, and its answer per sale.

A till that cannot reach pos-api keeps selling: it prices each basket with the configuration its cache holds,
computes it with `caisse_contracts.basket` (the math pos-api uses online), numbers it with its next gap-free
number and queues the sale. When the network is back it sends the queue in batches (`SalesBatch`, at most
pos-api's `POS_API_SYNC_BATCH_MAX` sales, 500 by default) with its device identity (`X-Device-Serial`,
`X-Device-Secret`), oldest first.

**Which prices.** A sale names every configuration item it was priced with, at the version the till's cache held
(`CachedItem.version` of hw-proxy's cache, the `version` of the item in `config.changed` and on the notifier's
stream): the territory (currency, tax rates, cash rounding) and the company (member and staff discounts, the
rounding account) on the sale, and on each line its category, its product and the shop's catalogue override of
that product if the till held one. pos-api keeps every version of every item (its config history) and prices the
sale with exactly those versions. A price changed while the till was offline therefore does not fail yesterday's
sale, and the ticket booked is the same whenever the sale is sent again. Versions rather than a stream position:
a position is an offset of one notifier's topic that pos-api does not keep, a version is the item's own number
that both sides hold.

**What is checked.** Each sale on its own: it is the till's own (`shop_id`, `pos_id`); each line's category,
product and override exist at the versions named, in the till's company and shop, the product sold there at that
version; each product line's `unit_price` is the shop's price of the product at those versions; the totals,
recomputed from the lines, discounts and payments with `caisse_contracts.basket`, equal the ones the till
declares; the sale is fully paid; the number jumps no further than pos-api allows. A sale refused is answered
`failed` with a problem naming the field, and nothing of it is written; the others go on.

**Outcomes**, per sale, in the batch's order (`SaleResult.outcome`): `created` (stored with its `ticket.finalized`
event, numbered and keyed as a sale finalized online), `already_exists` (the till's number already holds this
very sale: the original ticket, nothing written), `conflict` (the number holds another sale: the sale is kept
aside for ops, `GET /v1/ops/ticket-conflicts`, never overwritten), `failed`. The same sale twice in one batch is
answered as if sent twice: the first is `created`, the second `already_exists` (or `conflict` when its content
differs). A whole batch sent again therefore answers `already_exists` for every sale it created.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from caisse_contracts.basket import PaymentIn, VoucherIn
from caisse_contracts.events.tickets import TicketFinalizedV1
from caisse_contracts.tills import INT4_MAX, DiscountIn, StockAlert

SYNC_SALES_PATH: Final = "/v1/sync/sales"
SYNC_BATCH_DEFAULT: Final = 500
"""pos-api's default batch size (`POS_API_SYNC_BATCH_MAX`); a longer batch is a 413 and nothing is written."""

Minor = StrictInt
Version = Annotated[StrictInt, Field(ge=1, le=INT4_MAX)]
_Amount = Annotated[StrictInt, Field(ge=-1_000_000_000, le=1_000_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfflineLine(_Strict):
    """One line as the till sold it: a catalogue product × quantity, or an item of a category at a free price.

    Every line names its category with the version the till held; a product line names the product too (its
    category must be the product's at that version), and the shop's override of the product when the till held
    one. `unit_price` is what the till charged for one unit (for one kilogram when the product is priced per kg):
    for a product, the shop's price at the versions named, which pos-api checks; for a category item, its free
    price. `discount` is the cashier's discount as entered (a percentage or an amount), as in a basket.
    """

    line_id: UUID
    category_id: UUID
    category_version: Version
    product_id: UUID | None = None
    product_version: Version | None = Field(default=None, description="Required with `product_id`.")
    override_id: UUID | None = Field(
        default=None, description="The shop's catalogue override of the product, if the till held one."
    )
    override_version: Version | None = Field(default=None, description="Required with `override_id`.")
    quantity: StrictInt = Field(default=1, ge=1, le=10_000)
    unit_price: Minor = Field(ge=0, le=100_000_000)
    weight_grams: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    label: Annotated[str, Field(max_length=200)] | None = None
    discount: DiscountIn | None = None

    @model_validator(mode="after")
    def _versions_named(self) -> OfflineLine:
        if (self.product_id is None) != (self.product_version is None):
            raise ValueError("a product line names its product_id and its product_version")
        if (self.override_id is None) != (self.override_version is None):
            raise ValueError("an override is named by its override_id and its override_version")
        if self.override_id is not None and self.product_id is None:
            raise ValueError("only a product line has a catalogue override")
        return self


class OfflineSale(_Strict):
    """A sale the till finalized while offline, as it knew it: identity, number, time, what was sold and paid, the
    totals it computed and showed, and the configuration versions it priced with.

    `ticket_id` is chosen by the till once; a replay sends the very same sale. `session_id` is the till's cash
    session, possibly opened offline too (a client-made id synced through session-service): it is carried on the
    ticket as is. `finalized_at` is the till's clock at payment, with its UTC offset; `timezone` (IANA) gives the
    sale's local date (`TicketFinalizedV1.local_date`), the business day it is booked on.
    """

    ticket_id: UUID
    number: StrictInt = Field(ge=1, le=INT4_MAX, description="The till's gap-free ticket number.")
    shop_id: UUID
    pos_id: UUID
    session_id: UUID
    operator_id: UUID | None = None
    finalized_at: AwareDatetime
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="IANA zone, e.g. Europe/Paris.")
    territory_version: Version
    company_version: Version
    lines: tuple[OfflineLine, ...] = Field(min_length=1, max_length=500)
    basket_discount: DiscountIn | None = None
    member_card: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    employee: bool = False
    vouchers: tuple[VoucherIn, ...] = Field(default=(), max_length=20)
    payments: tuple[PaymentIn, ...] = Field(min_length=1, max_length=20)
    pickup_number: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    total_excl_tax: _Amount
    total_tax: _Amount
    total_incl_tax: _Amount = Field(description="Amount due before cash rounding.")
    cash_rounding: _Amount = 0
    change_given: _Amount = 0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)  # cached by zoneinfo: a till's zone is read from disk once
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{zone} is not an IANA time zone") from None
        return zone


class SalesBatch(_Strict):
    """`POST /v1/sync/sales`: the till's queued sales, oldest first. pos-api reads each sale on its own: one that
    does not validate is answered `failed` and the others are processed."""

    sales: tuple[OfflineSale, ...] = Field(
        description=f"At most pos-api's POS_API_SYNC_BATCH_MAX sales ({SYNC_BATCH_DEFAULT} by default)."
    )


class InvalidField(_Strict):
    name: str = Field(description="The field, within the sale, e.g. `lines[2].unit_price`.")
    reason: str


class SaleProblem(_Strict):
    """Why a sale was not stored, as an RFC 9457 problem: the status the same sale would get alone (422 for what
    does not validate or add up, 403 for another till's sale, 409 for a number holding another sale)."""

    type: str
    title: str
    status: StrictInt
    detail: str | None = None
    invalid_params: tuple[InvalidField, ...] = ()


SyncOutcome = Literal["created", "already_exists", "conflict", "failed"]


class SaleResult(_Strict):
    """What became of one sale of the batch."""

    index: StrictInt = Field(description="The sale's place in the batch, from 0.")
    outcome: SyncOutcome
    ticket_id: UUID | None = Field(description="The sale's `ticket_id`; None when the sale could not be read.")
    number: StrictInt | None = Field(description="The sale's number; None when the sale could not be read.")
    ticket: TicketFinalizedV1 | None = Field(
        default=None, description="`created`: the ticket stored; `already_exists`: the original ticket."
    )
    existing_ticket_id: UUID | None = Field(default=None, description="`conflict`: the ticket holding the number.")
    problem: SaleProblem | None = Field(default=None, description="`failed` and `conflict`: why.")
    alerts: tuple[StockAlert, ...] = Field(
        default=(), description="Stock alerts of the products this sale moved (a `created` sale only)."
    )


class SyncAnswer(_Strict):
    """pos-api's answer to a batch: one result per sale, in the batch's order, and how many of each outcome."""

    results: tuple[SaleResult, ...]
    created: StrictInt
    already_exists: StrictInt
    conflicts: StrictInt
    failed: StrictInt
