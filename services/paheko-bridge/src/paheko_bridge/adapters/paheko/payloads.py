"""What the plugin is sent for our events and configuration: a finalized ticket as a push, a closed session as a
close, a confirmed bank deposit as its entry, a company's categories and accounts as provisioning. Pure functions; amounts move to Paheko's hundredths,
times to the wall time of the territory's time zone (Paheko's dates are local-time strings)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from caisse_contracts.config import AccountMapping, Category
from caisse_contracts.events import (
    PaymentMethod,
    PaymentV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    TicketFinalizedV1,
    TicketKind,
    TicketLineV1,
)
from caisse_contracts.money import currency
from paheko_bridge.adapters.paheko.models import (
    CashCount,
    CategoryMapping,
    CompanyAccounts,
    DepositLine,
    DepositRequest,
    MethodMapping,
    ProvisioningRequest,
    SessionCloseRequest,
    TicketLine,
    TicketPayment,
    TicketPush,
)

ROUNDING_CATEGORY: Final = "cash-rounding"
"""The key of the category that cash rounding is booked to (the company's `cash_rounding` account)."""

CASH_METHOD: Final = PaymentMethod.CASH.value

_METHOD_NAMES: Final = {
    PaymentMethod.CASH: "Espèces",
    PaymentMethod.CHEQUE: "Chèque",
    PaymentMethod.CARD: "Carte bancaire",
    PaymentMethod.VOUCHER: "Bon d'achat",
}


def paheko_scale(currency_code: str) -> int:
    """Paheko keeps every amount in hundredths: 1 for EUR cents, 100 for XPF francs."""
    exponent = currency(currency_code).exponent
    if exponent > 2:
        raise ValueError(f"{currency_code} has {exponent} decimals: Paheko keeps two")
    return int(10 ** (2 - exponent))


def local_time(moment: datetime, timezone: str) -> datetime:
    """`moment` in the territory's time zone: the plugin writes its wall time, so a sale at 23:50 on 31 December
    in Nouméa stays on that day and in that year whenever it is pushed."""
    return moment.astimezone(ZoneInfo(timezone))


def provisioning_request(
    categories: Iterable[Category], accounts: AccountMapping, *, vat_subject: bool = False
) -> ProvisioningRequest:
    """Our company's categories (keyed by id) and our four payment methods, with the company's accounts; the
    variance accounts (Caisse books 678/778) and, for a VAT-subject company, the VAT account."""
    mapped = [CategoryMapping(key=str(c.id), name=c.name[:200], account=c.revenue_account) for c in categories]
    mapped.append(CategoryMapping(key=ROUNDING_CATEGORY, name="Arrondis de caisse", account=accounts.cash_rounding))
    method_accounts = {
        PaymentMethod.CASH: accounts.cash,
        PaymentMethod.CHEQUE: accounts.cheque,
        PaymentMethod.CARD: accounts.card,
        PaymentMethod.VOUCHER: accounts.voucher,
    }
    methods = tuple(
        MethodMapping(
            key=method.value,
            name=_METHOD_NAMES[method],
            kind="cash" if method is PaymentMethod.CASH else "tracked",
            account=account,
        )
        for method, account in method_accounts.items()
    )
    company = CompanyAccounts(
        variance_shortage=accounts.variance_shortage,
        variance_surplus=accounts.variance_surplus,
        vat_collected=accounts.vat_collected if vat_subject else None,
    )
    return ProvisioningRequest(accounts=company, categories=tuple(mapped), methods=methods)


def ticket_push(
    ticket: TicketFinalizedV1,
    *,
    label: str | None = None,
    timezone: str = "Europe/Paris",
    vat_subject: bool = False,
    cashier: str | None = None,
    card_batches: bool = False,
) -> TicketPush:
    """A finalized ticket as the plugin takes it: one line per ticket line (tax included, and for a VAT-subject
    company the VAT it includes), cash rounding as a line of its own, one payment per tender, dated with the sale
    in the territory's time zone. `label` (the till) and `cashier` name the tab.

    Caisse books one line per payment reference: a cheque's reference carries its bank, so both reach the books;
    with `card_batches` a card payment goes without its authorisation, so that the session's card payments make
    one line, the terminal's batch."""
    scale = paheko_scale(ticket.currency)
    lines = [_line(line, scale, vat_subject=vat_subject) for line in ticket.lines]
    if ticket.cash_rounding:
        amount = ticket.cash_rounding * scale
        lines.append(
            TicketLine(
                label="Arrondi de caisse", category=ROUNDING_CATEGORY, quantity=1, unit_price=amount, total=amount
            )
        )
    payments = tuple(
        TicketPayment(method=p.method.value, amount=p.amount * scale, reference=_reference(p, card_batches))
        for p in ticket.payments
    )
    return TicketPush(
        session=ticket.session_id,
        number=ticket.number,
        kind="credit_note" if ticket.kind is TicketKind.CREDIT_NOTE else "sale",
        label=label[:100] if label else None,
        cashier=cashier[:100] if cashier else None,
        finalized_at=local_time(ticket.finalized_at, timezone),
        lines=tuple(lines),
        payments=payments,
    )


def _reference(payment: PaymentV1, card_batches: bool) -> str | None:
    if payment.method is PaymentMethod.CASH or (card_batches and payment.method is PaymentMethod.CARD):
        return None
    parts = [part for part in (payment.reference, payment.bank) if part]
    return " — ".join(parts)[:100] or None


def session_label(shop: str | None, till: str | None, closed_at: datetime, timezone: str) -> str:
    """The session entry's label as a treasurer looks for it: "Boutique du centre — Caisse 2 — 31/12/2026", the
    day of the close in the territory's time zone."""
    day = local_time(closed_at, timezone).strftime("%d/%m/%Y")
    return " — ".join([*(name for name in (shop, till) if name), day])[:200]


def _line(line: TicketLineV1, scale: int, *, vat_subject: bool) -> TicketLine:
    category = str(line.category_id)
    tax = line.tax * scale if vat_subject else None
    rate = line.tax_rate_bp if vat_subject else None
    quantity = line.quantity
    unit_price = line.unit_price * scale
    discount = line.discount * scale
    total = line.total_incl_tax * scale
    weight = line.weight_grams
    label = line.label[:200] or "Article"
    if quantity * unit_price - discount == total:
        return TicketLine(
            label=label,
            category=category,
            quantity=quantity,
            unit_price=unit_price,
            discount=discount,
            total=total,
            weight_grams=weight,
            tax=tax,
            tax_rate_bp=rate,
        )
    # Prices before tax (the unit price does not include what the customer paid): keep the quantity when the
    # total divides evenly, else one unit carrying the total.
    if total % quantity == 0:
        return TicketLine(
            label=label,
            category=category,
            quantity=quantity,
            unit_price=total // quantity,
            total=total,
            weight_grams=weight,
            tax=tax,
            tax_rate_bp=rate,
        )
    return TicketLine(
        label=f"{label} (× {quantity})"[:200],
        category=category,
        quantity=1,
        unit_price=total,
        total=total,
        weight_grams=weight,
        tax=tax,
        tax_rate_bp=rate,
    )


def session_close(
    closed: SessionClosedV1,
    *,
    closed_by: str | None = None,
    opened_by: str | None = None,
    timezone: str = "Europe/Paris",
    label: str | None = None,
    project: str | None = None,
) -> SessionCloseRequest:
    """A closed session as the plugin's close. Caisse expects opening + cash payments in the drawer, without our
    cash added or withdrawn during the session: the count is shifted by those, so Caisse's variance is ours.
    Every numbered ticket of the session (sales and credit notes, gap-free from first to last) must be pushed.
    The till's opening and close, in the territory's time zone, date the session and its entry."""
    scale = paheko_scale(closed.currency)
    if closed.first_ticket_number is None or closed.last_ticket_number is None:
        ticket_count = 0
    else:
        ticket_count = closed.last_ticket_number - closed.first_ticket_number + 1
    counted = closed.counted_cash - closed.cash_added + closed.cash_withdrawn
    return SessionCloseRequest(
        ticket_count=ticket_count,
        closed_by=closed_by[:100] if closed_by else None,
        cash=(CashCount(method=CASH_METHOD, counted=max(counted, 0) * scale, opening=closed.opening_float * scale),),
        opened_at=local_time(closed.opened_at, timezone),
        closed_at=local_time(closed.closed_at, timezone),
        opened_by=opened_by[:100] if opened_by else None,
        label=label[:200] if label else None,
        project=project,
    )


def deposit_request(
    deposit: SessionDepositConfirmedV1,
    accounts: AccountMapping,
    *,
    label: str | None = None,
    project: str | None = None,
) -> DepositRequest:
    """A confirmed deposit as the plugin books it, the same entry as the FEC's: the bank debited with the slip's
    total, the cash account credited with the cash, the cheques account with each cheque (its number and bank)."""
    scale = paheko_scale(deposit.currency)
    lines = [DepositLine(account=accounts.cash, amount=deposit.cash * scale, label="Espèces")] if deposit.cash else []
    lines.extend(
        DepositLine(
            account=accounts.cheque,
            amount=cheque.amount * scale,
            label=" — ".join(part for part in (f"Chèque n°{cheque.number}", cheque.bank) if part)[:200],
            reference=cheque.number[:100],
        )
        for cheque in deposit.cheques
        if cheque.amount
    )
    return DepositRequest(
        session=deposit.session_id,
        date=deposit.deposited_on,
        reference=deposit.reference,
        label=label[:200] if label else None,
        bank_account=accounts.bank,
        project=project,
        lines=tuple(lines),
    )
