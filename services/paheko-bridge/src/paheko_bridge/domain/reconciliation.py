"""Reconciliation of a closed session: what Caisse's accounting sync must have written, against what Paheko holds.

From our `session.closed` we derive the books of the session in Paheko, which are the FEC's (domain/fec.py) summed
over the session: each payment method's account is debited with what it took, each revenue account credited with
what it sold, cash rounding credited to its own account, the cash variance booked against the company's variance
accounts (the plugin moves Caisse's 678/778 lines to them), and for a VAT-subject company the VAT included in the
sales moved from the revenue accounts to the VAT account (the plugin's `POS-SESSION-<id>-TVA` entry). Both sides
are compared as a net amount per account (debit − credit, in Paheko's hundredths) over the session's entries, so
that how Caisse splits lines (one per cheque number, say) does not matter; the VAT per rate and the number of
tickets are compared too. A confirmed bank deposit's entry is compared the same way with the deposit it books (the
bank debited with the slip's total, the cash and the cheques credited). Any difference is reported, never corrected
here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from caisse_contracts.config import AccountMapping
from caisse_contracts.events import PaymentMethod, SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from caisse_contracts.money import currency

CAISSE_SHORTAGE_ACCOUNT: Final = "678"
CAISSE_SURPLUS_ACCOUNT: Final = "778"
"""Caisse books every cash variance to these two, hard-coded in its sync (PAHEKO.md §3); the plugin moves those
lines to the company's variance accounts."""


@dataclass(frozen=True, slots=True)
class SessionVat:
    """The VAT included in a session's sales, in minor units: per category and the account its lines were sold
    under (the revenue it leaves), and per rate (basis points); both add up to the same total."""

    by_category: Mapping[tuple[UUID, str], int]
    by_rate: Mapping[int, int]


def session_vat(tickets: Iterable[TicketFinalizedV1]) -> SessionVat:
    """The VAT of the session's tickets (sales and credit notes), as their lines carry it."""
    by_category: dict[tuple[UUID, str], int] = defaultdict(int)
    by_rate: dict[int, int] = defaultdict(int)
    for ticket in tickets:
        for line in ticket.lines:
            by_category[line.category_id, line.revenue_account] += line.tax
            by_rate[line.tax_rate_bp] += line.tax
    return SessionVat(dict(by_category), {rate: tax for rate, tax in by_rate.items() if tax})


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One line as Paheko stores it: amounts in hundredths."""

    account: str
    debit: int
    credit: int


@dataclass(frozen=True, slots=True)
class Difference:
    """Where Paheko and we disagree: `what` names the account or the count, amounts in Paheko's hundredths."""

    what: str
    ours: int
    theirs: int

    def as_dict(self) -> dict[str, object]:
        return {"what": self.what, "ours": self.ours, "theirs": self.theirs}


def hundredths_per_unit(currency_code: str) -> int:
    """Paheko keeps every amount in hundredths: 1 per EUR cent, 100 per XPF franc."""
    exponent = currency(currency_code).exponent
    if exponent > 2:
        raise ValueError(f"{currency_code} has {exponent} decimals: Paheko keeps two")
    return int(10 ** (2 - exponent))


def method_account(method: PaymentMethod, accounts: AccountMapping) -> str:
    return {
        PaymentMethod.CASH: accounts.cash,
        PaymentMethod.CHEQUE: accounts.cheque,
        PaymentMethod.CARD: accounts.card,
        PaymentMethod.VOUCHER: accounts.voucher,
    }[method]


def expected_ledger(
    closed: SessionClosedV1,
    accounts: AccountMapping,
    category_accounts: Mapping[UUID, str] | None = None,
    vat: SessionVat | None = None,
) -> dict[str, int]:
    """Net amount (debit − credit, hundredths) per account of the session's entries in Paheko.

    Caisse books a category's sales to the account the category has at sync time (its triggers rewrite past
    items when a category's account changes), so `category_accounts` — the company's categories as configured
    now — wins over the account a ticket line was sold under. `vat` is the VAT of a VAT-subject company's
    session: its revenue reads tax excluded, the VAT goes to `vat_collected`.
    """
    current = category_accounts or {}
    scale = hundredths_per_unit(closed.currency)
    net: dict[str, int] = defaultdict(int)
    for total in closed.totals_by_method:
        net[method_account(total.method, accounts)] += total.amount * scale
    for category in closed.totals_by_category:
        net[current.get(category.category_id, category.revenue_account)] -= category.amount * scale
    if vat is not None:
        for (category_id, sold_under), tax in vat.by_category.items():
            net[current.get(category_id, sold_under)] += tax * scale
            net[accounts.vat_collected] -= tax * scale
    if closed.cash_rounding:
        net[accounts.cash_rounding] -= closed.cash_rounding * scale
    if closed.variance:
        variance = closed.variance * scale
        net[accounts.cash] += variance
        net[accounts.variance_surplus if variance > 0 else accounts.variance_shortage] -= variance
    return {account: amount for account, amount in net.items() if amount != 0}


def expected_deposit(deposit: SessionDepositConfirmedV1, accounts: AccountMapping) -> dict[str, int]:
    """Net amount (debit − credit, hundredths) per account of a deposit's entry in Paheko."""
    scale = hundredths_per_unit(deposit.currency)
    net: dict[str, int] = defaultdict(int)
    cheques = sum(cheque.amount for cheque in deposit.cheques)
    net[accounts.bank] += (deposit.cash + cheques) * scale
    net[accounts.cash] -= deposit.cash * scale
    net[accounts.cheque] -= cheques * scale
    return {account: amount for account, amount in net.items() if amount != 0}


def expected_vat(closed: SessionClosedV1, vat: SessionVat | None) -> dict[int, int]:
    """VAT collected per rate (basis points), in hundredths, credit positive; empty when not VAT-subject."""
    if vat is None:
        return {}
    scale = hundredths_per_unit(closed.currency)
    return {rate: tax * scale for rate, tax in vat.by_rate.items() if tax}


def actual_ledger(lines: Iterable[LedgerLine]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for line in lines:
        net[line.account] += line.debit - line.credit
    return {account: amount for account, amount in net.items() if amount != 0}


def differences(
    expected: Mapping[str, int],
    actual: Mapping[str, int],
    *,
    tickets_ours: int,
    tickets_theirs: int,
    vat_ours: Mapping[int, int] | None = None,
    vat_theirs: Mapping[int, int] | None = None,
) -> list[Difference]:
    """Every account whose net amount differs, then every VAT rate whose VAT collected differs (`vat:<rate in
    basis points>`), then the ticket count if it differs; empty when all agree."""
    found = [
        Difference(f"account:{account}", expected.get(account, 0), actual.get(account, 0))
        for account in sorted(set(expected) | set(actual))
        if expected.get(account, 0) != actual.get(account, 0)
    ]
    ours, theirs = vat_ours or {}, vat_theirs or {}
    found.extend(
        Difference(f"vat:{rate}", ours.get(rate, 0), theirs.get(rate, 0))
        for rate in sorted(set(ours) | set(theirs))
        if ours.get(rate, 0) != theirs.get(rate, 0)
    )
    if tickets_ours != tickets_theirs:
        found.append(Difference("ticket_count", tickets_ours, tickets_theirs))
    return found
