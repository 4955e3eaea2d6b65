"""Reconciliation of a closed session: what Caisse's accounting sync must have written, against what Paheko holds.

From our `session.closed` we derive the entry Caisse books for the session (PAHEKO.md §3): each payment
method's account is debited with what it took, each revenue account credited with what it sold, cash rounding
credited to its own account, and the cash variance booked against 678 (shortage) or 778 (surplus) — Caisse's
own accounts, whatever our mapping says for the FEC. Both sides are compared as a net amount per account
(debit − credit, in Paheko's hundredths), so that how Caisse splits lines (one per cheque number, say) does
not matter; the number of tickets is compared too. Any difference is reported, never corrected here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from caisse_contracts.config import AccountMapping
from caisse_contracts.events import PaymentMethod, SessionClosedV1
from caisse_contracts.money import currency

CAISSE_SHORTAGE_ACCOUNT: Final = "678"
CAISSE_SURPLUS_ACCOUNT: Final = "778"
"""Caisse books every cash variance to these two, hard-coded in its sync (PAHEKO.md §3)."""


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
    closed: SessionClosedV1, accounts: AccountMapping, category_accounts: Mapping[UUID, str] | None = None
) -> dict[str, int]:
    """Net amount (debit − credit, hundredths) per account of the entry Caisse books for this session.

    Caisse books a category's sales to the account the category has at sync time (its triggers rewrite past
    items when a category's account changes), so `category_accounts` — the company's categories as configured
    now — wins over the account a ticket line was sold under.
    """
    current = category_accounts or {}
    scale = hundredths_per_unit(closed.currency)
    net: dict[str, int] = defaultdict(int)
    for total in closed.totals_by_method:
        net[method_account(total.method, accounts)] += total.amount * scale
    for category in closed.totals_by_category:
        net[current.get(category.category_id, category.revenue_account)] -= category.amount * scale
    if closed.cash_rounding:
        net[accounts.cash_rounding] -= closed.cash_rounding * scale
    if closed.variance:
        variance = closed.variance * scale
        net[accounts.cash] += variance
        net[CAISSE_SURPLUS_ACCOUNT if variance > 0 else CAISSE_SHORTAGE_ACCOUNT] -= variance
    return {account: amount for account, amount in net.items() if amount != 0}


def actual_ledger(lines: Iterable[LedgerLine]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for line in lines:
        net[line.account] += line.debit - line.credit
    return {account: amount for account, amount in net.items() if amount != 0}


def differences(
    expected: Mapping[str, int], actual: Mapping[str, int], *, tickets_ours: int, tickets_theirs: int
) -> list[Difference]:
    """Every account whose net amount differs, then the ticket count if it differs; empty when all agree."""
    found = [
        Difference(f"account:{account}", expected.get(account, 0), actual.get(account, 0))
        for account in sorted(set(expected) | set(actual))
        if expected.get(account, 0) != actual.get(account, 0)
    ]
    if tickets_ours != tickets_theirs:
        found.append(Difference("ticket_count", tickets_ours, tickets_theirs))
    return found
