"""The cash session's HTTP shapes as a till sees them through pos-api: what it sends to open, move cash and close,
and the session and Z report session-service answers (pos-api passes them through unchanged).

The rules behind the figures (a count's value is one of the territory's denominations, a comment is needed above
the variance threshold…) are session-service's, which names the field it refuses. Money is int minor units.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt


class _In(BaseModel):
    # Upper bounds only: session-service refuses what is below its rules (a negative count…) naming the field.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    # session-service may add fields to its answers (additive changes): a till ignores those it does not know.
    model_config = ConfigDict(extra="allow", frozen=True)


class CountIn(_In):
    """How many of one note or coin; the value is in minor units and must be one of the territory's."""

    value: StrictInt = Field(le=100_000_000)
    count: StrictInt = Field(le=1_000_000)


TILL_TIME = (
    " by the till's clock, with its UTC offset (e.g. 2026-11-21T09:00:00+01:00): given when the till did it offline"
    " and syncs it later; left out, session-service's clock at receipt. Not in the future (beyond a small"
    " tolerance)"
)


class OpenSessionIn(_In):
    session_id: UUID = Field(
        description="Chosen by the till, so that a retried open is recognised: the same id with other content is a"
        " 409 naming the field."
    )
    operator_ids: list[UUID] = Field(min_length=1, max_length=20)
    float_counts: list[CountIn] = Field(max_length=50)
    opened_at: AwareDatetime | None = Field(default=None, description=f"When the session opened,{TILL_TIME}.")


class MovementIn(_In):
    movement_id: UUID = Field(description="Chosen by the till: a retried movement is recorded once.")
    kind: Literal["withdrawal", "addition"]
    amount: StrictInt = Field(le=100_000_000)
    reason: str = Field(max_length=500)
    operator_id: UUID
    occurred_at: AwareDatetime | None = Field(
        default=None, description=f"When the cash moved,{TILL_TIME}, nor before the session opened."
    )


class CloseSessionIn(_In):
    closed_by: UUID
    last_ticket_number: StrictInt | None = Field(
        le=2**63 - 1, description="The last ticket the till issued; null if none."
    )
    counts: list[CountIn] = Field(max_length=50)
    float_kept: list[CountIn] = Field(default_factory=list, max_length=50)
    cheques_ticked: list[UUID] = Field(default_factory=list, max_length=10_000)
    card_terminal_total: StrictInt | None = Field(default=None, le=100_000_000_000)
    comment: str | None = Field(default=None, max_length=2000)
    closed_at: AwareDatetime | None = Field(
        default=None,
        description=f"When the till closed,{TILL_TIME}, nor before the session opened or moved cash. A close that"
        " carries it is the session's one close: the same again answers it, any other is a 409 naming the field.",
    )


class DepositIn(_In):
    """The bank deposit slip of a closed session as it went to the bank."""

    cash: StrictInt = Field(
        le=100_000_000_000, description="Cash deposited, in minor units (at most what the close left)"
    )
    cheques: list[UUID] = Field(default_factory=list, max_length=10_000, description="Payment ids of the cheques")
    reference: str = Field(max_length=100, description="The deposit slip's number")
    deposited_on: date = Field(description="The day of the deposit at the bank")


class CountOut(_Out):
    value: StrictInt
    count: StrictInt
    amount: StrictInt


class MovementOut(_Out):
    movement_id: UUID
    kind: Literal["withdrawal", "addition"]
    amount: StrictInt
    reason: str
    operator_id: UUID
    at: datetime


class ChequeOut(_Out):
    payment_id: UUID
    number: str | None
    bank: str | None
    amount: StrictInt


class ClosingOut(_Out):
    """The figures of the close: what was expected, what was counted, what goes to the bank."""

    last_ticket_number: StrictInt | None
    expected_cash: StrictInt
    counted_cash: StrictInt
    variance: StrictInt
    comment: str | None
    counts: list[CountOut]
    float_kept: StrictInt
    deposit: list[CountOut]
    deposit_cash: StrictInt
    cheques: list[ChequeOut]
    cheque_total: StrictInt
    card_total: StrictInt
    card_terminal_total: StrictInt | None
    card_difference: StrictInt | None


class LateTicketOut(_Out):
    """A ticket that reached its session after the close: counted nowhere, for ops and the treasurer to settle."""

    ticket_id: UUID
    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    number: StrictInt
    kind: str
    total_incl_tax: StrictInt
    currency: str
    by_method: dict[str, StrictInt] = Field(description="What was paid per payment method, in minor units.")
    finalized_at: datetime
    event_id: UUID
    received_at: datetime = Field(description="When session-service received it (after the close).")


class DepositChequeOut(_Out):
    payment_id: UUID
    ticket_id: UUID
    number: str
    bank: str | None
    amount: int


class DepositOut(_Out):
    """A closed session's confirmed bank deposit."""

    deposit_id: UUID
    session_id: UUID
    cash: int
    cheques: list[DepositChequeOut]
    total: int = Field(description="cash + the cheques")
    reference: str
    deposited_on: date
    confirmed_at: datetime
    confirmed_by: UUID | None = Field(description="The operator who confirmed it; none for a till")


class SessionOut(_Out):
    """A cash session, its status and its figures so far."""

    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    territory_id: UUID
    currency: str
    status: Literal["open", "closing", "closed"]
    status_text: str
    waiting_for: list[list[StrictInt]] = Field(description="Ranges of ticket numbers a closing session waits for.")
    opened_at: datetime
    operator_ids: list[UUID]
    denominations: list[StrictInt]
    float_counts: list[CountOut]
    opening_float: StrictInt
    first_ticket_number: StrictInt | None
    movements: list[MovementOut]
    cash_added: StrictInt
    cash_withdrawn: StrictInt
    ticket_count: StrictInt
    last_counted_number: StrictInt | None
    expected_cash: StrictInt
    closed_at: datetime | None
    closing: ClosingOut | None
    late_tickets: list[LateTicketOut] = Field(
        default_factory=list, description="Tickets that reached the session after its close: in none of its figures."
    )
    deposit: DepositOut | None = Field(default=None, description="The bank deposit, once confirmed.")


class MethodLineOut(_Out):
    method: str
    amount: StrictInt
    count: StrictInt


class CategoryLineOut(_Out):
    category_id: UUID
    name: str
    revenue_account: str
    amount: StrictInt
    weight_grams: StrictInt


class ReportChequeOut(_Out):
    number: str
    bank: str | None
    amount: StrictInt


class ReportMovementOut(_Out):
    kind: str
    amount: StrictInt
    reason: str
    operator: str
    at: datetime


class ZReportOut(_Out):
    """The Z report of a closed session, as computed once at the close (JSON of `…/report`)."""

    session_id: UUID
    pos_id: UUID
    shop_id: UUID
    company_id: UUID
    currency: str
    exponent: StrictInt
    timezone: str
    company: str
    shop: str
    shop_address: str
    pos: str
    bank_account: str
    opened_at: datetime
    closed_at: datetime
    operators: list[str]
    closed_by: str
    first_ticket_number: StrictInt | None
    last_ticket_number: StrictInt | None
    ticket_count: StrictInt
    credit_note_count: StrictInt
    credit_note_total: StrictInt
    total_incl_tax: StrictInt
    by_method: list[MethodLineOut]
    by_category: list[CategoryLineOut]
    total_weight_grams: StrictInt
    cash_rounding: StrictInt
    cash_received: StrictInt
    change_given: StrictInt
    cash_added: StrictInt
    cash_withdrawn: StrictInt
    movements: list[ReportMovementOut]
    opening_float: StrictInt
    float_counts: list[CountOut]
    expected_cash: StrictInt
    counted_cash: StrictInt
    variance: StrictInt
    counted: list[CountOut]
    comment: str | None
    float_kept: StrictInt
    deposit: list[CountOut]
    deposit_cash: StrictInt
    cheques: list[ReportChequeOut]
    cheque_total: StrictInt
    card_total: StrictInt
    card_terminal_total: StrictInt | None
    card_difference: StrictInt | None


# The offline sync of a till's cash sessions (`POST /v1/sync/sessions`): the operations the till queued while
# pos-api was out of reach, sent in the order they happened, each with its own id and the till's time.


class OpenOperationIn(OpenSessionIn):
    """The open of a session, made offline: the session id is the operation's id."""

    op: Literal["open"]
    opened_at: AwareDatetime = Field(description=f"When the session opened,{TILL_TIME}.")
    first_ticket_number: StrictInt | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The number the session's first ticket carries, as the till numbered it; left out, the POS's next"
        " number as pos-api has received its tickets.",
    )


class MovementOperationIn(MovementIn):
    """A cash movement made offline: the movement id is the operation's id."""

    op: Literal["movement"]
    session_id: UUID
    occurred_at: AwareDatetime = Field(description=f"When the cash moved,{TILL_TIME}.")


class CloseOperationIn(CloseSessionIn):
    """The close of a session made offline: the session id is the operation's id (a session closes once)."""

    op: Literal["close"]
    session_id: UUID
    closed_at: AwareDatetime = Field(description=f"When the till closed,{TILL_TIME}.")


SessionOperationIn = Annotated[OpenOperationIn | MovementOperationIn | CloseOperationIn, Field(discriminator="op")]
"""One queued operation of a till's cash session, told apart by `op`."""

SYNC_SESSIONS_MAX = 500
"""Operations in one sync request at most (a day of a till is a handful)."""


class SessionSyncIn(_In):
    """A till's queued session operations, in the order they happened on the till."""

    operations: list[SessionOperationIn] = Field(min_length=1, description="In the order they happened on the till.")


SyncOutcome = Literal["created", "already_exists", "conflict", "failed"]


class InvalidParamOut(_Out):
    name: str = Field(description="The field refused, as a JSON path into the operation")
    reason: str


class SyncProblemOut(_Out):
    """The RFC 9457 problem session-service (or pos-api) answered for one operation; members of its own kept."""

    type: str
    title: str
    status: StrictInt
    detail: str | None = None
    invalid_params: list[InvalidParamOut] = Field(default_factory=list)


class SessionOperationOut(_Out):
    """What became of one queued operation: `created` (recorded now), `already_exists` (recorded before with the
    same content: nothing changed), `conflict` (its id was recorded before with other content: the first is kept,
    `problem` names the field), `failed` (refused: `problem` names the field and the reason; nothing written)."""

    index: StrictInt = Field(description="Its place in the request's `operations`.")
    op: Literal["open", "movement", "close"]
    id: UUID = Field(description="The operation's id: the session's for an open or a close, the movement's.")
    session_id: UUID
    outcome: SyncOutcome
    status: StrictInt = Field(description="The HTTP status session-service answered for it.")
    session: SessionOut | None = Field(
        default=None,
        description="The session after it (created, already_exists). A close whose tickets have not all arrived"
        " leaves it `closing`, waiting for them (`waiting_for`): it closes on its own once they are in.",
    )
    problem: SyncProblemOut | None = Field(default=None, description="Why (conflict, failed).")


class SessionSyncOut(_Out):
    """One answer per operation, in the request's order; `counts` per outcome."""

    results: list[SessionOperationOut]
    counts: dict[SyncOutcome, StrictInt]
