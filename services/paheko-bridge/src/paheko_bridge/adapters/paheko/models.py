"""The wire shapes of the pos_bridge plugin's API, as written in `paheko-plugin/openapi.yaml`.

Amounts are integers in Paheko's unit (hundredths of the currency, whatever its exponent); weights are grams.
Requests forbid unknown fields; answers ignore fields added later (the contract grows by addition).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

Key = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9._:-]{1,100}$", description="The caller's key of a category or method.")
]
Account = Annotated[str, Field(pattern=r"^[0-9]{2,10}[A-Z0-9]*$")]
Amount = Annotated[StrictInt, Field(ge=-100_000_000_000, le=100_000_000_000)]
Count = Annotated[StrictInt, Field(ge=0, le=100_000_000_000)]
MethodKind = Literal["cash", "tracked"]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CategoryMapping(_Request):
    """One of our categories, booked to `account` (a revenue account such as 707)."""

    key: Key
    name: Annotated[str, Field(min_length=1, max_length=200)]
    account: Account


class MethodMapping(_Request):
    """One of our payment methods: `cash` is counted at open and close, `tracked` is ticked payment by payment."""

    key: Key
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: MethodKind
    account: Account


class CompanyAccounts(_Request):
    """The company's accounts Caisse's sync does not take: its cash variances (Caisse books 678/778) and the VAT
    collected (Caisse books revenue tax included)."""

    variance_shortage: Account
    variance_surplus: Account
    vat_collected: Account | None = Field(default=None, description="Only for a VAT-subject company.")


class ProvisioningRequest(_Request):
    accounts: CompanyAccounts | None = None
    categories: tuple[CategoryMapping, ...] = Field(min_length=1, max_length=1000)
    methods: tuple[MethodMapping, ...] = Field(min_length=1, max_length=100)


class ProvisionedCategory(_Answer):
    key: str
    name: str | None
    account: str | None
    caisse_category_id: StrictInt | None
    caisse_product_id: StrictInt | None


class ProvisionedMethod(_Answer):
    key: str
    name: str | None
    kind: MethodKind | None
    account: str | None
    caisse_method_id: StrictInt | None


class ProvisionedAccounts(_Answer):
    variance_shortage: str | None = None
    variance_surplus: str | None = None
    vat_collected: str | None = None


class Provisioning(_Answer):
    categories: tuple[ProvisionedCategory, ...]
    methods: tuple[ProvisionedMethod, ...]
    accounts: ProvisionedAccounts = ProvisionedAccounts()


class TicketLine(_Request):
    """`total` = `quantity` × `unit_price` − `discount`; `weight_grams` is the weight of the whole line."""

    label: Annotated[str, Field(min_length=1, max_length=200)]
    category: Key
    quantity: Annotated[StrictInt, Field(ge=-100_000, le=100_000)]
    unit_price: Amount
    discount: Amount = 0
    total: Amount
    weight_grams: Annotated[StrictInt, Field(ge=-10_000_000, le=10_000_000)] | None = None
    tax: Amount | None = Field(default=None, description="VAT included in `total`, with `tax_rate_bp`.")
    tax_rate_bp: Annotated[StrictInt, Field(ge=0, le=10_000)] | None = None


class TicketPayment(_Request):
    method: Key
    amount: Amount = Field(description="Negative for a refund.")
    reference: Annotated[str, Field(max_length=100)] | None = Field(
        default=None, description="Tracked methods only (cheque number, card authorisation)."
    )


class TicketPush(_Request):
    """One finalized ticket; the payments add up to the lines (cash rounding is a line of its own)."""

    session: UUID
    number: Annotated[StrictInt, Field(ge=1)]
    kind: Literal["sale", "credit_note"] = "sale"
    label: Annotated[str, Field(max_length=100)] | None = None
    cashier: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    finalized_at: AwareDatetime = Field(description="The sale, with the offset of the territory's time zone.")
    lines: tuple[TicketLine, ...] = Field(min_length=1, max_length=500)
    payments: tuple[TicketPayment, ...] = Field(max_length=50)


class TicketResult(_Answer):
    """The Caisse tab a ticket became; `replayed` when the plugin answered the result stored at the first push."""

    ticket: UUID
    session: UUID
    number: StrictInt
    caisse_session_id: StrictInt
    caisse_tab_id: StrictInt
    total: StrictInt
    items: StrictInt
    payments: StrictInt
    replayed: StrictBool


class CashOpening(_Request):
    method: Key
    opening: Count


class SessionOpenRequest(_Request):
    label: Annotated[str, Field(max_length=100)] | None = None
    cash: tuple[CashOpening, ...] = Field(default=(), max_length=20)


class CashCount(_Request):
    """Counted cash of one cash method, compared by Caisse with opening + cash payments."""

    method: Key
    counted: Count
    opening: Count | None = Field(default=None, description="Corrects the float of a session opened by a ticket.")


class SessionCloseRequest(_Request):
    """`opened_at` and `closed_at` carry the offset of the territory's time zone: Paheko keeps their wall time."""

    ticket_count: Annotated[StrictInt, Field(ge=0, le=1_000_000)]
    closed_by: Annotated[str, Field(max_length=100)] | None = None
    cash: tuple[CashCount, ...] = Field(default=(), max_length=20)
    opened_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    opened_by: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    project: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class SessionBalance(_Answer):
    method: str | None = Field(description="Our key; None for a Caisse cash method that is not ours.")
    caisse_method_id: StrictInt
    name: str
    opening: StrictInt
    counted: StrictInt | None
    variance: StrictInt | None


class TransactionLine(_Answer):
    account: str
    debit: StrictInt
    credit: StrictInt
    label: str | None
    reference: str | None
    project: str | None = None


class AccountingTransaction(_Answer):
    """An entry of a session: Caisse's `POS-SESSION-<caisse session id>`, or its VAT complement `…-TVA`."""

    id: StrictInt
    reference: str
    date: date
    label: str
    lines: tuple[TransactionLine, ...]

    @property
    def balanced(self) -> bool:
        return sum(line.debit for line in self.lines) == sum(line.credit for line in self.lines)


class SessionState(_Answer):
    session: UUID
    caisse_session_id: StrictInt
    status: Literal["open", "closed"]
    opened_at: str | None
    closed_at: str | None
    tickets: StrictInt
    result: StrictInt | None
    balances: tuple[SessionBalance, ...]
    transaction: AccountingTransaction | None
    vat_transaction: AccountingTransaction | None = None
    replayed: StrictBool


class AccountingYear(_Answer):
    id: StrictInt
    label: str
    start_date: date
    end_date: date


class Chart(_Answer):
    id: StrictInt
    code: str | None
    label: str


class Health(_Answer):
    """Whether this Paheko can take tickets and sync sessions, and what stands in the way."""

    ready: StrictBool
    problems: tuple[str, ...]
    plugin_version: str
    paheko_version: str
    caisse_version: str | None
    caisse_enabled: StrictBool
    currency: str
    year: AccountingYear | None
    chart: Chart | None
    missing_accounts: tuple[str, ...]
    categories_without_account: tuple[str, ...]
    methods_without_account: tuple[str, ...]
    provisioned: StrictBool


class Token(_Answer):
    token: str
    token_type: Literal["Bearer"]
    expires_in: StrictInt
    expires_at: AwareDatetime


class DepositLine(_Request):
    """A credit of the deposit's entry: the cash, or one cheque (its number as reference)."""

    account: Account
    amount: Annotated[StrictInt, Field(ge=1, le=100_000_000_000)]
    label: Annotated[str, Field(min_length=1, max_length=200)]
    reference: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class DepositRequest(_Request):
    """A closed session's bank deposit: `bank_account` debited with the lines' total on `date`."""

    session: UUID
    date: date
    reference: Annotated[str, Field(min_length=1, max_length=100)]
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    bank_account: Account
    project: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    lines: tuple[DepositLine, ...] = Field(min_length=1, max_length=10_000)


class DepositResult(_Answer):
    """The entry `POS-DEPOSIT-<caisse session id>` a deposit became; `replayed` when answered from the first push."""

    deposit: UUID
    session: UUID
    caisse_session_id: StrictInt
    transaction: AccountingTransaction
    replayed: StrictBool
