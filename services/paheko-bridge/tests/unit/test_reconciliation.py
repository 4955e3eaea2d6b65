"""What Paheko's books must hold for a closed session: the FEC's bookings summed over it (VAT split per rate, the
company's variance accounts), and every difference named — per account, per VAT rate, in the ticket count."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from caisse_contracts.config import AccountMapping
from caisse_contracts.events import (
    CategoryTotalV1,
    MethodTotalV1,
    PaymentMethod,
    SessionClosedV1,
    TicketFinalizedV1,
    TicketKind,
)
from caisse_contracts.snapshots import load_example
from paheko_bridge.domain.fec import FecBooks, session_variance_entry, ticket_entry
from paheko_bridge.domain.reconciliation import differences, expected_ledger, expected_vat, session_vat

BOOKED_AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def tickets() -> list[TicketFinalizedV1]:
    """The example sale (a coat at 20 %, a book at 5.5 %, 10.00 € cash), the same sale again, and a credit note
    giving the book back in cash."""
    sale = load_example(TicketFinalizedV1).data
    again = sale.model_copy(update={"ticket_id": uuid.uuid4(), "number": sale.number + 1})
    book = sale.lines[1]
    refund = sale.payments[0].model_copy(update={"amount": -200, "tendered": None})
    credit_note = sale.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "number": sale.number + 2,
            "kind": TicketKind.CREDIT_NOTE,
            "lines": (
                book.model_copy(update={"quantity": -1, "total_excl_tax": -190, "tax": -10, "total_incl_tax": -200}),
            ),
            "taxes": (sale.taxes[0].model_copy(update={"total_excl_tax": -190, "tax": -10, "total_incl_tax": -200}),),
            "payments": (refund,),
            "total_excl_tax": -190,
            "total_tax": -10,
            "total_incl_tax": -200,
            "change_given": 0,
        }
    )
    return [sale, again, credit_note]


def closed_session(sold: list[TicketFinalizedV1], variance: int = -100) -> SessionClosedV1:
    """The session of `sold`, its totals summed from them, its cash counted `variance` off."""
    by_method: dict[PaymentMethod, int] = defaultdict(int)
    by_category: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for t in sold:
        for p in t.payments:
            by_method[p.method] += p.amount
        for line in t.lines:
            by_category[line.category_id, line.revenue_account] += line.total_incl_tax
    return load_example(SessionClosedV1).data.model_copy(
        update={
            "first_ticket_number": sold[0].number,
            "last_ticket_number": sold[-1].number,
            "ticket_count": len(sold),
            "totals_by_method": tuple(MethodTotalV1(method=m, amount=a, count=1) for m, a in by_method.items()),
            "totals_by_category": tuple(
                CategoryTotalV1(category_id=c, revenue_account=account, amount=a)
                for (c, account), a in by_category.items()
            ),
            "cash_rounding": 0,
            "variance": variance,
        }
    )


def fec_net(sold: list[TicketFinalizedV1], closed: SessionClosedV1, books: FecBooks) -> dict[str, int]:
    """The FEC's entries of the session (one per ticket, one for the variance) summed per account."""
    net: dict[str, int] = defaultdict(int)
    for entry in [*(ticket_entry(t, books, BOOKED_AT) for t in sold), session_variance_entry(closed, books, BOOKED_AT)]:
        for line in entry.lines:
            net[line.account] += line.amount
    return {account: amount for account, amount in net.items() if amount}


def test_a_vat_subject_session_in_paheko_books_what_the_fec_books_vat_apart_per_rate() -> None:
    sold = tickets()
    closed = closed_session(sold)
    books = FecBooks(company_id=closed.company_id, vat_subject=True)
    expected = expected_ledger(closed, books.accounts, None, session_vat(sold))
    assert expected == fec_net(sold, closed, books)
    assert expected["44571"] == -(133 + 10) * 2 + 10  # EUR: Paheko's hundredths are cents
    assert expected_vat(closed, session_vat(sold)) == {2000: 266, 550: 10}


def test_a_session_that_is_not_vat_subject_books_revenue_tax_included_as_the_fec_does() -> None:
    sold = tickets()
    closed = closed_session(sold)
    books = FecBooks(company_id=closed.company_id, vat_subject=False)
    expected = expected_ledger(closed, books.accounts)
    assert expected == fec_net(sold, closed, books)
    assert "44571" not in expected
    assert expected_vat(closed, None) == {}


def test_a_cash_variance_is_expected_on_the_company_s_variance_accounts_not_caisse_s() -> None:
    sold = tickets()
    mapping = AccountMapping(variance_shortage="6581", variance_surplus="7581")
    short = expected_ledger(closed_session(sold, variance=-100), mapping)
    over = expected_ledger(closed_session(sold, variance=250), mapping)
    assert (short.get("6581"), short.get("678")) == (100, None)
    assert (over.get("7581"), over.get("778")) == (-250, None)


def test_vat_missing_from_paheko_is_reported_per_rate() -> None:
    found = differences({}, {}, tickets_ours=3, tickets_theirs=3, vat_ours={2000: 266, 550: 10}, vat_theirs={2000: 266})
    assert [(d.what, d.ours, d.theirs) for d in found] == [("vat:550", 10, 0)]
