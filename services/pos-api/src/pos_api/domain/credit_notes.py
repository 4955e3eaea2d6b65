"""Credit notes, as pos-api answers them.

The builder is shared with the till (`caisse_contracts.credit_notes`): a credit note made on a till offline is the
ticket pos-api makes online. Here a credit note it refuses becomes pos-api's own `TicketInconsistentError` (a 422
`ticket-inconsistent` naming every field), as before the builder moved to the contracts.

A credit note the till made and numbered itself reaches pos-api as a finished ticket (`POST /v1/tickets`, online or
from the till's queue): `check_till_credit_note` holds it to the very ticket the builder makes of its sale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from caisse_contracts import credit_notes
from caisse_contracts.config import Company, Territory
from caisse_contracts.credit_notes import (
    CreditNoteIdentity,
    CreditNoteParts,
    CreditNoteRefusedError,
    RefundLine,
    RefundTender,
    credit_note_of,
)
from caisse_contracts.events import TicketFinalizedV1, TicketKind
from caisse_contracts.money import CashRoundingRule
from caisse_contracts.tills import CreditNoteIn
from pos_api.domain.errors import FieldProblem, TicketInconsistentError
from pos_api.domain.pricing import inconsistent

__all__ = [
    "CreditNoteParts",
    "RefundLine",
    "RefundTender",
    "check_till_credit_note",
    "credit_note_parts",
    "credit_note_ticket",
]


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


def check_till_credit_note(
    ticket: TicketFinalizedV1,
    sale: TicketFinalizedV1,
    earlier: Sequence[TicketFinalizedV1],
    *,
    territory: Territory,
    company: Company,
) -> None:
    """A credit note the till made itself is the one the online route would make: the lines and units it gives back
    within what `sale` sold less what its `earlier` credit notes gave back, and every amount, tax and payment of it
    what the builder computes from them (its own id, number, till, session, operator and time are the till's).

    `TicketInconsistentError` names every field that is not (`lines[0].quantity` beyond what is left, `payments`
    not matching, `lines[0].total_incl_tax` computed otherwise…). The rounding account is the company's at the
    time the till made it: a till that held an older version of its company names its account then.
    """
    if sale.kind is not TicketKind.SALE:
        raise TicketInconsistentError(
            [FieldProblem("original_ticket_id", "is a credit note: only a sale can be credited")]
        )
    parts = credit_note_parts(
        sale,
        earlier,
        [RefundLine(line.line_id, -line.quantity) for line in ticket.lines],
        [RefundTender(p.payment_id, p.method, -p.amount, p.reference) for p in ticket.payments],
        territory.cash_rounding,
    )
    who = CreditNoteIdentity(ticket.ticket_id, ticket.number, ticket.pos_id, ticket.session_id, ticket.operator_id)
    expected = credit_note_of(sale, parts, who, now=ticket.finalized_at, territory=territory, company=company)
    if expected.rounding_account is not None and ticket.rounding_account is not None:
        expected = expected.model_copy(update={"rounding_account": ticket.rounding_account})
    problems = _differences(ticket, expected)
    if problems:
        raise TicketInconsistentError(problems)


def _differences(sent: TicketFinalizedV1, expected: TicketFinalizedV1) -> list[FieldProblem]:
    """Every field of `sent` that is not `expected`'s, down to a line's, a tax's or a payment's own field."""
    problems: list[FieldProblem] = []
    for name in TicketFinalizedV1.model_fields:
        theirs, ours = getattr(sent, name), getattr(expected, name)
        if theirs == ours:
            continue
        if isinstance(ours, tuple) and isinstance(theirs, tuple) and len(ours) == len(theirs):
            for i, (one, other) in enumerate(zip(theirs, ours, strict=True)):
                if one != other:
                    problems.extend(_item_differences(f"{name}[{i}]", one, other))
        else:
            problems.append(FieldProblem(name, _reason(theirs, ours)))
    return problems


def _item_differences(where: str, theirs: BaseModel, ours: BaseModel) -> list[FieldProblem]:
    return [
        FieldProblem(f"{where}.{name}", _reason(getattr(theirs, name), getattr(ours, name)))
        for name in type(ours).model_fields
        if getattr(theirs, name) != getattr(ours, name)
    ]


def _reason(theirs: object, ours: object) -> str:
    if isinstance(ours, int | str | None) and isinstance(theirs, int | str | None):
        return f"is {theirs}; its sale and the credit notes already on it make {ours}"
    return "is not what its sale and the credit notes already on it make"
