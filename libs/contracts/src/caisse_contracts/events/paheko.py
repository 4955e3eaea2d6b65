"""`paheko.*` v1: what the bridge did in Paheko: a ticket pushed, a session synced, a reconciliation that failed."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from caisse_contracts.envelope import Payload
from caisse_contracts.events.tickets import Minor


class PahekoTicketPushedV1(Payload):
    """A ticket is in Paheko (as a Caisse tab), or in the FEC file when the company has no Paheko."""

    EVENT_TYPE: ClassVar[str] = "paheko.ticket.pushed"
    VERSION: ClassVar[int] = 1

    ticket_id: UUID
    pos_id: UUID
    session_id: UUID
    number: StrictInt
    target: str = Field(pattern="^(paheko|fec)$")
    paheko_session_id: StrictInt | None = None
    paheko_tab_id: StrictInt | None = None
    attempts: StrictInt = Field(ge=1)
    replayed: bool = Field(default=False, description="The plugin answered with a stored earlier result.")
    pushed_at: AwareDatetime


class ReconciledAmountV1(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    what: str = Field(description="e.g. method:cash, account:7070, variance, ticket_count, total")
    ours: Minor
    theirs: Minor


class PahekoSessionSyncedV1(Payload):
    """A session is closed and synced in Paheko, and Paheko's totals equal ours."""

    EVENT_TYPE: ClassVar[str] = "paheko.session.synced"
    VERSION: ClassVar[int] = 1

    session_id: UUID
    pos_id: UUID
    target: str = Field(pattern="^(paheko|fec)$")
    paheko_session_id: StrictInt | None = None
    transaction_reference: str | None = Field(default=None, description="POS-SESSION-<id> in Paheko.")
    transaction_id: StrictInt | None = None
    checked: tuple[ReconciledAmountV1, ...] = ()
    synced_at: AwareDatetime


class PahekoReconciliationFailedV1(Payload):
    """Paheko's totals for a session differ from ours: ops must look."""

    EVENT_TYPE: ClassVar[str] = "paheko.reconciliation.failed"
    VERSION: ClassVar[int] = 1

    session_id: UUID
    pos_id: UUID
    paheko_session_id: StrictInt | None = None
    transaction_reference: str | None = None
    differences: tuple[ReconciledAmountV1, ...] = Field(min_length=1)
    checked_at: AwareDatetime
