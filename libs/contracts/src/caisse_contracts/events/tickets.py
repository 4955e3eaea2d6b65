"""`ticket.finalized` v1: a finalized, immutable ticket (sale or credit note) as every consumer sees it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from caisse_contracts.envelope import Payload

Minor = StrictInt
"""Money in integer minor units of the ticket's currency."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TicketKind(StrEnum):
    SALE = "sale"
    CREDIT_NOTE = "credit_note"


class LineKind(StrEnum):
    PRODUCT = "product"
    """A catalogue product at its price, times a quantity."""
    CATEGORY_ITEM = "category_item"
    """A second-hand item of a category, with a free price and a weight."""
    EVENT_SEAT = "event_seat"
    """A seat at a workshop or show with a capacity."""


class PaymentMethod(StrEnum):
    CASH = "cash"
    CHEQUE = "cheque"
    CARD = "card"
    VOUCHER = "voucher"


class TicketLineV1(_Part):
    """One line as finalized: everything needed to book it without the catalogue at hand."""

    line_id: UUID
    kind: LineKind
    label: str
    category_id: UUID
    category_label: str
    revenue_account: str = Field(description="Revenue account of the category, e.g. 7070.")
    product_id: UUID | None = None
    quantity: StrictInt = Field(description="Units; negative on a credit note.")
    unit_price: Minor = Field(description="Unit price as entered, tax included or not per `prices_include_tax`.")
    weight_grams: StrictInt | None = Field(default=None, description="Weight sold, in grams.")
    discount: Minor = Field(default=0, description="Discount on this line, tax included, ≥ 0 on a sale.")
    tax_rate_bp: StrictInt = Field(description="Tax rate in basis points: 20 % → 2000, 5.5 % → 550.")
    total_excl_tax: Minor
    tax: Minor
    total_incl_tax: Minor


class TaxTotalV1(_Part):
    """Totals of one tax rate over the ticket; `excl + tax == incl` exactly."""

    rate_bp: StrictInt
    total_excl_tax: Minor
    tax: Minor
    total_incl_tax: Minor


class PaymentV1(_Part):
    """One tender. For cash, `amount` is what settles the ticket and `tendered - amount` is the change."""

    payment_id: UUID
    method: PaymentMethod
    amount: Minor = Field(description="Amount applied to the ticket; negative for a refund tender.")
    tendered: Minor | None = Field(default=None, description="Cash handed over by the customer.")
    reference: str | None = Field(default=None, description="Cheque number, card authorisation, voucher code.")
    bank: str | None = Field(default=None, description="Issuing bank of a cheque.")


class CategoryWeightV1(_Part):
    """Weight sold per category, for the ressourcerie's tonnage reports."""

    category_id: UUID
    weight_grams: StrictInt


class TicketFinalizedV1(Payload):
    """A ticket was finalized on a till. Immutable: a correction is a new ticket (credit note)."""

    EVENT_TYPE: ClassVar[str] = "ticket.finalized"
    VERSION: ClassVar[int] = 1

    ticket_id: UUID
    number: StrictInt = Field(ge=1, description="Gap-free ticket number of the POS, allocated by the till.")
    kind: TicketKind = TicketKind.SALE
    original_ticket_id: UUID | None = Field(default=None, description="The sale a credit note corrects.")
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID
    session_id: UUID
    operator_id: UUID | None = None
    finalized_at: AwareDatetime
    local_date: date = Field(description="Business date in the shop's time zone.")
    currency: str = Field(min_length=3, max_length=3)
    prices_include_tax: bool = True
    lines: tuple[TicketLineV1, ...] = Field(min_length=1)
    taxes: tuple[TaxTotalV1, ...]
    payments: tuple[PaymentV1, ...]
    total_excl_tax: Minor
    total_tax: Minor
    total_incl_tax: Minor = Field(description="Amount due before cash rounding.")
    cash_rounding: Minor = Field(default=0, description="Rounded cash amount minus amount due (XPF, CHF).")
    rounding_account: str | None = None
    change_given: Minor = 0
    category_weights: tuple[CategoryWeightV1, ...] = ()
    pickup_number: str | None = None
