"""The configuration items of the hierarchy and the catalogue, as the back office edits them and tills cache them.

Each item is what `config.changed` carries in `item` and what `GET /v1/pos-data` returns: never a secret
(device secrets and Paheko credentials live apart). Money is int minor units, rates basis points, weights grams.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from caisse_contracts.money import CURRENCIES, CashRoundingRule

Name = Annotated[str, Field(min_length=1, max_length=200)]
Account = Annotated[
    str, Field(max_length=20, pattern=r"^[0-9]{2,10}[A-Z0-9]*$", description="Chart-of-accounts code, e.g. 7070")
]


class ItemBase(BaseModel):
    """Fields common to every item: identity, version (bumped on each change) and who changed it when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    version: StrictInt = Field(ge=1)
    updated_at: AwareDatetime
    updated_by: UUID | None = None


class TaxRate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=20)]
    label: Name
    rate_bp: StrictInt = Field(ge=0, le=10_000, description="20 % = 2000")


class DenominationKind(StrEnum):
    NOTE = "note"
    COIN = "coin"


class Denomination(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: StrictInt = Field(gt=0, le=100_000_000, description="Minor units: a 50 € note is 5000, a 10 XPF coin is 10.")
    kind: DenominationKind


class TerritoryFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    currency_exponent: StrictInt = Field(ge=0, le=3)
    cash_rounding: CashRoundingRule = CashRoundingRule.NONE
    prices_include_tax: bool = True
    tax_rates: tuple[TaxRate, ...] = Field(min_length=1, max_length=20)
    denominations: tuple[Denomination, ...] = Field(min_length=1, max_length=50)
    locale: Annotated[str, Field(min_length=2, max_length=20)] = "fr-FR"
    timezone: Annotated[str, Field(min_length=3, max_length=64)] = "Europe/Paris"

    @model_validator(mode="after")
    def _consistent(self) -> TerritoryFields:
        known = CURRENCIES.get(self.currency)
        if known is not None and known.exponent != self.currency_exponent:
            raise ValueError(f"{self.currency} has exponent {known.exponent}, not {self.currency_exponent}")
        values = [d.value for d in self.denominations]
        if len(values) != len(set(values)):
            raise ValueError("denominations must be distinct")
        codes = [t.code for t in self.tax_rates]
        if len(codes) != len(set(codes)):
            raise ValueError("tax rate codes must be distinct")
        return self


class AccountMapping(BaseModel):
    """The company's accounts (associative chart PCA 2025 by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: Account = "530"
    cheque: Account = "5112"
    card: Account = "5115"
    voucher: Account = "4191"
    bank: Account = "512"
    cash_rounding: Account = "658"
    variance_surplus: Account = "758"
    variance_shortage: Account = "658"
    vat_collected: Account = Field(default="44571", description="VAT collected, credited per rate when VAT-subject.")


class CompanyFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    territory_id: UUID
    name: Name
    vat_subject: bool = False
    siren: Annotated[str, Field(pattern=r"^[0-9]{9}$")] | None = Field(
        default=None, description="SIREN of the legal entity: names its FEC file (`<SIREN>FEC<year end>.txt`)."
    )
    paheko_url: Annotated[str, Field(max_length=500, pattern=r"^https?://")] | None = None
    accounts: AccountMapping = AccountMapping()
    member_discount_bp: StrictInt = Field(default=0, ge=0, le=10_000, description="Member card discount, 5 % = 500.")
    employee_discount_bp: StrictInt = Field(default=0, ge=0, le=10_000, description="Staff discount.")
    card_batch_booking: bool = Field(
        default=False,
        description="Book a session's card payments in Paheko as one line, the terminal's batch, instead of one line "
        "per payment (by its authorisation).",
    )


LOGO_MAX_BYTES: Final = 64 * 1024
"""A shop's receipt logo, decoded, at most: small enough to travel with the config and print in a second."""
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


class ShopFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: UUID
    name: Name
    address: Annotated[str, Field(max_length=500)] = ""
    receipt_header: Annotated[str, Field(max_length=1000)] = ""
    receipt_footer: Annotated[str, Field(max_length=1000)] = ""
    report_emails: tuple[Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(
        default=(), max_length=20
    )
    bank_account: Annotated[str, Field(max_length=64)] = ""
    analytic_project: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None,
        description="Code of the shop's analytic project in Paheko: every line of its sessions carries it.",
    )
    receipt_logo_png: Annotated[str, Field(max_length=(LOGO_MAX_BYTES + 2) // 3 * 4)] | None = Field(
        default=None,
        description="The logo printed at the top of the shop's receipts: a PNG, base64, at most 64 KiB decoded "
        "(printed as a raster, black and white, scaled down to the paper's width).",
    )

    @field_validator("receipt_logo_png")
    @classmethod
    def _a_png(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not base64") from None
        if not raw.startswith(PNG_SIGNATURE):
            raise ValueError("is not a PNG image")
        if len(raw) > LOGO_MAX_BYTES:
            raise ValueError(f"is {len(raw)} bytes, more than {LOGO_MAX_BYTES}")
        return value


class NetworkPrinter(BaseModel):
    """A receipt printer on the shop's network (raw TCP, JetDirect port 9100)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["network"] = "network"
    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$")]
    port: StrictInt = Field(default=9100, ge=1, le=65_535)


class UsbPrinter(BaseModel):
    """A receipt printer on the till's USB, found by its vendor and product ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["usb"] = "usb"
    vendor_id: StrictInt = Field(ge=0, le=0xFFFF, description="e.g. 0x04B8 (1208) for Epson")
    product_id: StrictInt = Field(ge=0, le=0xFFFF)


class SerialPrinter(BaseModel):
    """A receipt printer on a serial port of the till."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["serial"] = "serial"
    device: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^(/dev/[A-Za-z0-9._/-]+|COM[0-9]{1,3})$")]
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600


class ReceiptCodePage(StrEnum):
    """The printer's character tables that hold both the euro sign and every French accent (ESC t n)."""

    CP858 = "CP858"
    """PC858, Multilingual Latin I + Euro: PC850 with € at 0xD5; on nearly every ESC/POS printer (ESC t 19)."""
    CP1252 = "CP1252"
    """Windows Latin 1 (ESC t 16)."""
    ISO_8859_15 = "ISO_8859-15"
    """Latin 9 (ESC t 40)."""


class PrinterFields(BaseModel):
    """The receipt printer of a POS: how the till reaches it, its paper, its character table and its drawer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connection: Annotated[NetworkPrinter | UsbPrinter | SerialPrinter, Field(discriminator="kind")]
    paper_width_mm: Literal[58, 80] = 80
    code_page: ReceiptCodePage = ReceiptCodePage.CP858
    cash_drawer: bool = Field(default=True, description="A cash drawer is wired to the printer's drawer port.")
    drawer_pin: Literal[2, 5] = Field(default=2, description="The drawer port's pin that opens it (ESC p m).")


class CardAnswerMode(StrEnum):
    """When the card terminal answers (Caisse-AP `BA`)."""

    AT_END = "at_end"
    """One answer, at the end of the transaction (`BA=0`)."""
    IMMEDIATE = "immediate"
    """An acknowledgement at once, then the final answer (`BA=1`)."""


class CardTerminalFields(BaseModel):
    """The card terminal a POS speaks Caisse-AP over IP to (HARDWARE.md §4); the currency is the territory's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$")] = Field(
        description="The terminal's IP address or host name on the shop's network."
    )
    port: StrictInt = Field(default=8888, ge=1, le=65535, description="Caisse-AP over IP listens on 8888 by default.")
    till_number: StrictInt = Field(default=1, ge=0, le=99, description="`CA`: the till's number for the terminal.")
    answer_mode: CardAnswerMode = CardAnswerMode.AT_END
    timeout_s: float = Field(
        default=180.0,
        gt=0,
        le=600,
        description="How long the till waits for the terminal's final answer (the protocol's client timeout).",
    )


class PosFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shop_id: UUID
    name: Name
    hostname: Annotated[str, Field(min_length=1, max_length=253)]
    device_serial: Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    pickup_number_required: bool = False
    printer: PrinterFields | None = Field(
        default=None, description="The receipt printer; none: the till keeps its print jobs until one is set."
    )
    card_terminal: CardTerminalFields | None = Field(
        default=None,
        description="The POS's card terminal; none: card payments are typed in from a standalone terminal.",
    )


class CategoryFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: UUID
    name: Name
    revenue_account: Account
    default_tax_code: Annotated[str, Field(min_length=1, max_length=20)]
    sold_by_weight: bool = Field(
        default=False, description="Items of this category are sold with a free price and a weight."
    )


class WeightMode(StrEnum):
    NONE = "none"
    ENTERED = "entered"
    """The cashier enters a weight; the price stays per unit."""
    PER_KG = "per_kg"
    """The price is per kilogram; the weight sets the line's amount."""


class ProductKind(StrEnum):
    PRODUCT = "product"
    EVENT_SEAT = "event_seat"


class ProductFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: UUID
    category_id: UUID
    name: Name
    kind: ProductKind = ProductKind.PRODUCT
    price: StrictInt = Field(ge=0, le=100_000_000)
    tax_code: Annotated[str, Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="Tax rate code of the territory; the category's default when empty."
    )
    ean: Annotated[str, Field(pattern=r"^([0-9]{8}|[0-9]{13})$")] | None = None
    weight_mode: WeightMode = WeightMode.NONE
    stock_tracked: bool = False
    stock_threshold: StrictInt | None = Field(
        default=None, ge=0, le=10_000_000, description="A level at or below it is low stock (alerts)."
    )
    stock_refuse_below_zero: bool = Field(
        default=False,
        description=(
            "An online sale that would take the shop's stock below zero is refused (409); a sale made offline"
            " never is (it happened): the level goes negative and an alert says so."
        ),
    )
    capacity: StrictInt | None = Field(default=None, ge=1, le=100_000, description="Seats of an event.")
    active: bool = True

    @model_validator(mode="after")
    def _seat_has_capacity(self) -> ProductFields:
        if self.kind is ProductKind.EVENT_SEAT and self.capacity is None:
            raise ValueError("an event seat needs a capacity")
        return self

    @model_validator(mode="after")
    def _stock_rules_need_stock(self) -> ProductFields:
        if self.stock_refuse_below_zero and not self.stock_tracked:
            raise ValueError("stock_refuse_below_zero needs stock_tracked: an untracked product has no level")
        return self


class CatalogueOverrideFields(BaseModel):
    """A shop's own price or availability for a product of its company's catalogue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shop_id: UUID
    product_id: UUID
    price: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    active: bool | None = None


class Role(StrEnum):
    FEDERATION_ADMIN = "federation_admin"
    SHOP_MANAGER = "shop_manager"
    CASHIER = "cashier"


class OperatorFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    role: Role
    shop_id: UUID | None = None
    active: bool = True

    @model_validator(mode="after")
    def _scoped(self) -> OperatorFields:
        if self.role is not Role.FEDERATION_ADMIN and self.shop_id is None:
            raise ValueError(f"a {self.role.value} belongs to a shop")
        return self


class Territory(ItemBase, TerritoryFields):
    pass


class Company(ItemBase, CompanyFields):
    paheko_credentials_set: bool = False


class Shop(ItemBase, ShopFields):
    pass


class Pos(ItemBase, PosFields):
    pass


class Category(ItemBase, CategoryFields):
    pass


class Product(ItemBase, ProductFields):
    pass


class CatalogueOverride(ItemBase, CatalogueOverrideFields):
    pass


class Operator(ItemBase, OperatorFields):
    pass


SessionStatus = Literal["READY_OPEN", "READY_CONTINUE"]
