"""`session.opened`, `session.closed` and `session.deposit_confirmed` v1: a till's cash session, from counted float to
counted close, and its takings deposited at the bank."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from caisse_contracts.envelope import Payload
from caisse_contracts.events.tickets import Minor, PaymentMethod


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DenominationCountV1(_Part):
    """How many of one note or coin (value in minor units) were counted."""

    value: Minor = Field(gt=0)
    count: StrictInt = Field(ge=0)


class _PosSessionV1(Payload):
    """What every event of a session opened on a POS starts with: the session, where it runs, when it opened.

    Times are the till's: a session opened, moved and closed offline and synced later carries the times it
    happened at on the till, never those of the sync (the `…received_at` fields say when session-service heard)."""

    session_id: UUID
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID
    opened_at: AwareDatetime


class SessionOpenedV1(_PosSessionV1):
    """A cash session was opened on a POS with a counted float."""

    EVENT_TYPE: ClassVar[str] = "session.opened"
    VERSION: ClassVar[int] = 1

    operator_ids: tuple[UUID, ...] = Field(min_length=1)
    currency: str = Field(min_length=3, max_length=3)
    opening_float: Minor
    float_counts: tuple[DenominationCountV1, ...] = ()
    received_at: AwareDatetime | None = Field(
        default=None,
        description="When session-service recorded the open: later than `opened_at`, the till's own time, when the"
        " till opened offline and synced the open afterwards.",
    )


class CashMovementV1(_Part):
    """Cash taken out of the drawer (`withdrawal`, to the safe) or added to the float (`addition`) in a session."""

    movement_id: UUID
    kind: Literal["withdrawal", "addition"]
    amount: Minor = Field(gt=0)
    reason: str
    operator_id: UUID
    at: AwareDatetime = Field(description="When the cash moved, by the till's clock.")


class MethodTotalV1(_Part):
    method: PaymentMethod
    amount: Minor
    count: StrictInt


class CategoryTotalV1(_Part):
    category_id: UUID
    revenue_account: str
    amount: Minor
    weight_grams: StrictInt = 0


class ChequeV1(_Part):
    ticket_id: UUID
    number: str
    bank: str | None = None
    amount: Minor


class SessionClosedV1(_PosSessionV1):
    """A cash session was closed: its totals include every ticket up to `last_ticket_number`."""

    EVENT_TYPE: ClassVar[str] = "session.closed"
    VERSION: ClassVar[int] = 1

    closed_at: AwareDatetime
    currency: str = Field(min_length=3, max_length=3)
    first_ticket_number: StrictInt | None = None
    last_ticket_number: StrictInt | None = Field(description="Last ticket the till issued in the session.")
    ticket_count: StrictInt
    credit_note_count: StrictInt = 0
    credit_note_total: Minor = 0
    totals_by_method: tuple[MethodTotalV1, ...]
    totals_by_category: tuple[CategoryTotalV1, ...]
    total_weight_grams: StrictInt = 0
    cash_received: Minor
    change_given: Minor
    cash_rounding: Minor = 0
    cash_added: Minor = 0
    cash_withdrawn: Minor = 0
    opening_float: Minor
    expected_cash: Minor
    counted_cash: Minor
    variance: Minor = Field(description="counted_cash - expected_cash; negative is a shortage.")
    counted: tuple[DenominationCountV1, ...] = ()
    cheques: tuple[ChequeV1, ...] = ()
    card_terminal_total: Minor | None = None
    comment: str | None = None
    closed_by: UUID | None = None
    opened_by: UUID | None = Field(default=None, description="The cashier who opened the session (counted the float).")
    movements: tuple[CashMovementV1, ...] = Field(
        default=(),
        description="Each cash movement of the session, in the order of its time (sum: cash_added and cash_withdrawn).",
    )
    close_received_at: AwareDatetime | None = Field(
        default=None,
        description="When session-service received the till's close: later than `closed_at`, the till's own time,"
        " when the till closed offline and synced the close afterwards.",
    )


class SessionDepositConfirmedV1(Payload):
    """The bank deposit of a closed session was confirmed as the slip was handed to the bank: the cash and the
    cheques it carries leave the till's accounts for the bank's on `deposited_on`."""

    EVENT_TYPE: ClassVar[str] = "session.deposit_confirmed"
    VERSION: ClassVar[int] = 1

    deposit_id: UUID
    session_id: UUID
    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID
    currency: str = Field(min_length=3, max_length=3)
    closed_at: AwareDatetime = Field(description="When the session closed (its takings are booked on that day).")
    deposited_on: date = Field(description="The day of the deposit at the bank, as written on the slip.")
    reference: str = Field(min_length=1, max_length=100, description="The bank deposit slip's number.")
    cash: Minor = Field(ge=0, description="Cash deposited, in minor units.")
    cheques: tuple[ChequeV1, ...] = ()
    total: Minor = Field(ge=0, description="cash + the cheques' amounts.")
    confirmed_at: AwareDatetime
    confirmed_by: UUID | None = Field(default=None, description="The operator who confirmed it (none for a till).")
