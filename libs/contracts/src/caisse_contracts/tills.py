"""HTTP schemas shared by the till (hw-proxy) and pos-api: the basket as the till edits it, finalize, the receipt.

The till sends what the cashier chose — products and quantities, second-hand items of a category with a free
price and a weight, seats, discounts, payments — never a catalogue price: pos-api prices products from the
catalogue of the till's shop and computes every total with `caisse_contracts.basket`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from caisse_contracts.basket import PaymentIn, VoucherIn
from caisse_contracts.events.tickets import PaymentMethod

Minor = StrictInt

INT4_MAX: Final = 2_147_483_647
"""The largest ticket number or basket version stored (PostgreSQL `integer`): a larger one is refused, not a 500."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DiscountIn(_Strict):
    """A percentage (basis points: 10 % = 1000) or an amount (minor units, tax included)."""

    kind: Literal["percent", "amount"]
    value: StrictInt = Field(ge=0, le=100_000_000)

    @model_validator(mode="after")
    def _bounded(self) -> DiscountIn:
        if self.kind == "percent" and self.value > 10_000:
            raise ValueError("a percentage discount is at most 10000 basis points (100 %)")
        return self


class BasketLine(_Strict):
    """One line: a catalogue product (or seat) × quantity, or an item of a category at a free price and weight."""

    line_id: UUID
    product_id: UUID | None = None
    category_id: UUID | None = None
    quantity: StrictInt = Field(default=1, ge=1, le=10_000)
    price: Minor | None = Field(default=None, ge=0, le=100_000_000, description="Free price of a category item.")
    weight_grams: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    label: Annotated[str, Field(max_length=200)] | None = None
    discount: DiscountIn | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> BasketLine:
        if (self.product_id is None) == (self.category_id is None):
            raise ValueError("a line names either a product_id or a category_id")
        if self.category_id is not None and self.price is None:
            raise ValueError("a category item needs its free price")
        return self


class BasketContent(_Strict):
    """What the till persists on every change (`PUT /v1/baskets/{id}` with the version it started from)."""

    lines: tuple[BasketLine, ...] = Field(default=(), max_length=500)
    basket_discount: DiscountIn | None = None
    member_card: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    employee: bool = False
    vouchers: tuple[VoucherIn, ...] = Field(default=(), max_length=20)
    payments: tuple[PaymentIn, ...] = Field(default=(), max_length=20)
    pickup_number: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    operator_id: UUID | None = None


class BasketPut(_Strict):
    version: StrictInt = Field(ge=0, le=INT4_MAX, description="The version the till read (0 for a new basket).")
    content: BasketContent


class FinalizeIn(_Strict):
    """Finalize a basket with the till's next number.

    Without `content`, the basket as last saved is finalized and `version` is its version. With `content`,
    the till hands over the basket as it stands at payment: it is saved and finalized in the same
    transaction (one call instead of two), and `version` is the version the till last read, 0 for a basket
    it never saved — a stale version is refused exactly as a `PUT` would refuse it.
    """

    number: StrictInt = Field(ge=1, le=INT4_MAX, description="The till's next gap-free ticket number.")
    content: BasketContent | None = Field(
        default=None, description="The basket at payment, saved and finalized at once (optional)."
    )
    version: StrictInt = Field(
        ge=0, le=INT4_MAX, description="The basket version being finalized; with `content`, the version the till read."
    )

    @field_validator("version")
    @classmethod
    def _version_zero_brings_content(cls, version: int, info: ValidationInfo) -> int:
        # `content` is absent from `info.data` when it was refused: its own errors say why, not this one
        if version == 0 and "content" in info.data and info.data["content"] is None:
            raise ValueError("version 0 (a basket never saved) needs the basket's content")
        return version


class ReceiptLine(_Strict):
    label: str
    quantity: StrictInt
    unit_price: Minor
    weight_grams: StrictInt | None
    discount: Minor
    total: Minor
    tax_code: str


class ReceiptTax(_Strict):
    code: str
    rate_bp: StrictInt
    total_excl_tax: Minor
    tax: Minor
    total_incl_tax: Minor


class ReceiptPayment(_Strict):
    method: PaymentMethod
    amount: Minor
    tendered: Minor | None
    reference: str | None


class StockAlert(_Strict):
    """A stock-tracked product a sale (or a credit note) left low in the till's shop, as the till shows it.

    `negative`: below zero (a sale made offline is never refused, it happened); `out_of_stock`: at zero;
    `low_stock`: at or below the product's threshold. One alert per product, the most severe.
    """

    product_id: UUID
    product_name: str
    shop_id: UUID
    kind: Literal["low_stock", "out_of_stock", "negative"]
    level: StrictInt = Field(description="Units in stock at the shop after the sale.")
    threshold: StrictInt | None = Field(description="The product's low-stock threshold, if it has one.")


class Receipt(_Strict):
    """Everything a printer needs, already computed: hw-proxy only lays it out."""

    ticket_id: UUID
    number: StrictInt
    kind: Literal["sale", "credit_note"]
    original_number: StrictInt | None = None
    header: str
    footer: str
    shop: str
    pos: str
    currency: str
    currency_exponent: StrictInt
    local_datetime: str = Field(description="Shop-local date and time, e.g. 2026-11-21 15:32")
    finalized_at: AwareDatetime
    lines: tuple[ReceiptLine, ...]
    discounts: Minor
    taxes: tuple[ReceiptTax, ...]
    total_incl_tax: Minor
    cash_rounding: Minor
    total_due: Minor
    payments: tuple[ReceiptPayment, ...]
    change_given: Minor
    pickup_number: str | None = None


class CreditLineIn(_Strict):
    line_id: UUID = Field(description="A line of the original ticket.")
    quantity: StrictInt = Field(ge=1, le=10_000, description="Units given back.")


class RefundIn(_Strict):
    payment_id: UUID
    method: PaymentMethod
    amount: Minor = Field(gt=0, le=100_000_000, description="Money given back, positive.")
    reference: Annotated[str, Field(max_length=64)] | None = None


class CreditNoteIn(_Strict):
    """A credit note on a sale: which lines (and how many units) are given back, and how the money goes back."""

    credit_note_id: UUID = Field(description="Chosen by the till: a retry with the same id is the same credit note.")
    number: StrictInt = Field(ge=1, le=INT4_MAX, description="The till's next gap-free ticket number.")
    lines: tuple[CreditLineIn, ...] = Field(min_length=1, max_length=500)
    payments: tuple[RefundIn, ...] = Field(min_length=1, max_length=10)
    operator_id: UUID | None = None
