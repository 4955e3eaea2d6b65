"""The shared credit-note builder: the ticket a credit note makes (its kind, original, negative quantities and the
money given back), and its refusals naming every field, for pos-api and the till alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from caisse_contracts.config import Company, Denomination, DenominationKind, TaxRate, Territory
from caisse_contracts.credit_notes import CreditNoteRefusedError, credit_note_ticket
from caisse_contracts.events import TicketFinalizedV1, TicketKind
from caisse_contracts.snapshots import load_example
from caisse_contracts.tills import CreditNoteIn

SALE = load_example(TicketFinalizedV1).data
"""8.00 € coat at 20 % and 2.00 € book at 5.5 %, paid in cash."""
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
TERRITORY = Territory(
    id=SALE.territory_id,
    version=1,
    updated_at=NOW,
    name="France métropolitaine",
    currency="EUR",
    currency_exponent=2,
    tax_rates=(TaxRate(code="TVA20", label="TVA 20 %", rate_bp=2000),),
    denominations=(Denomination(value=500, kind=DenominationKind.NOTE),),
)
COMPANY = Company(id=SALE.company_id, version=1, updated_at=NOW, territory_id=SALE.territory_id, name="Ressourcerie")


def request(quantity: int, amount: int) -> CreditNoteIn:
    return CreditNoteIn.model_validate(
        {
            "credit_note_id": str(uuid.uuid4()),
            "number": SALE.number + 1,
            "lines": [{"line_id": str(SALE.lines[0].line_id), "quantity": quantity}],
            "payments": [{"payment_id": str(uuid.uuid4()), "method": "cash", "amount": amount}],
        }
    )


def make(note: CreditNoteIn) -> TicketFinalizedV1:
    return credit_note_ticket(
        SALE, [], note, pos_id=SALE.pos_id, session_id=SALE.session_id, now=NOW, territory=TERRITORY, company=COMPANY
    )


def test_a_credit_note_is_a_new_ticket_cancelling_the_line_with_the_money_given_back() -> None:
    coat = SALE.lines[0]
    note = request(coat.quantity, coat.total_incl_tax)
    ticket = make(note)
    assert (ticket.ticket_id, ticket.number, ticket.kind) == (note.credit_note_id, note.number, TicketKind.CREDIT_NOTE)
    assert ticket.original_ticket_id == SALE.ticket_id
    assert [line.quantity for line in ticket.lines] == [-coat.quantity]
    assert ticket.total_incl_tax == -coat.total_incl_tax
    assert [p.amount for p in ticket.payments] == [-coat.total_incl_tax]


def test_more_than_was_sold_is_refused_naming_the_line() -> None:
    coat = SALE.lines[0]
    with pytest.raises(CreditNoteRefusedError) as caught:
        make(request(coat.quantity + 1, coat.total_incl_tax))
    assert [p.field for p in caught.value.problems] == ["lines[0].quantity"]
