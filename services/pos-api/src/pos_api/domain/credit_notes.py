"""Credit notes, as pos-api answers them.

The builder is shared with the till (`caisse_contracts.credit_notes`): a credit note made on a till offline is the
ticket pos-api makes online. Here a credit note it refuses becomes pos-api's own `TicketInconsistentError` (a 422
`ticket-inconsistent` naming every field), as before the builder moved to the contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from caisse_contracts import credit_notes
from caisse_contracts.config import Company, Territory
from caisse_contracts.credit_notes import CreditNoteParts, CreditNoteRefusedError, RefundLine, RefundTender
from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.money import CashRoundingRule
from caisse_contracts.tills import CreditNoteIn
from pos_api.domain.pricing import inconsistent

__all__ = ["CreditNoteParts", "RefundLine", "RefundTender", "credit_note_parts", "credit_note_ticket"]


def credit_note_parts(
    original: TicketFinalizedV1,
    earlier: Sequence[TicketFinalizedV1],
    refunds: Sequence[RefundLine],
    tenders: Sequence[RefundTender],
    rounding: CashRoundingRule,
) -> CreditNoteParts:
    """`caisse_contracts.credit_notes.credit_note_parts`, refusing with `TicketInconsistentError`."""
    try:
        return credit_notes.credit_note_parts(original, earlier, refunds, tenders, rounding)
    except CreditNoteRefusedError as refused:
        raise inconsistent(refused) from None


def credit_note_ticket(
    sale: TicketFinalizedV1,
    earlier: Sequence[TicketFinalizedV1],
    request: CreditNoteIn,
    *,
    pos_id: UUID,
    session_id: UUID,
    now: datetime,
    territory: Territory,
    company: Company,
) -> TicketFinalizedV1:
    """`caisse_contracts.credit_notes.credit_note_ticket`, refusing with `TicketInconsistentError`."""
    try:
        return credit_notes.credit_note_ticket(
            sale, earlier, request, pos_id=pos_id, session_id=session_id, now=now, territory=territory, company=company
        )
    except CreditNoteRefusedError as refused:
        raise inconsistent(refused) from None
