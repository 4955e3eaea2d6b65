"""What the plugin is sent for our events and configuration: a finalized ticket as a push, a closed session as a
close, a company's categories and accounts as provisioning. Pure functions; amounts move to Paheko's hundredths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from caisse_contracts.config import AccountMapping, Category
from caisse_contracts.events import PaymentMethod, SessionClosedV1, TicketFinalizedV1, TicketKind, TicketLineV1
from caisse_contracts.money import currency
from paheko_bridge.adapters.plugin_models import (
    CashCount,
    CategoryMapping,
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


def provisioning_request(categories: Iterable[Category], accounts: AccountMapping) -> ProvisioningRequest:
    """Our company's categories (keyed by id) and our four payment methods, with the company's accounts."""
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
    return ProvisioningRequest(categories=tuple(mapped), methods=methods)


def ticket_push(ticket: TicketFinalizedV1, *, label: str | None = None) -> TicketPush:
    """A finalized ticket as the plugin takes it: one line per ticket line (tax included), cash rounding as a line
    of its own, one payment per tender (a reference only on tracked methods). `label` names the tab (the POS)."""
    scale = paheko_scale(ticket.currency)
    lines = [_line(line, scale) for line in ticket.lines]
    if ticket.cash_rounding:
        amount = ticket.cash_rounding * scale
        lines.append(
            TicketLine(
                label="Arrondi de caisse", category=ROUNDING_CATEGORY, quantity=1, unit_price=amount, total=amount
            )
        )
    payments = tuple(
        TicketPayment(
            method=p.method.value,
            amount=p.amount * scale,
            reference=None if p.method is PaymentMethod.CASH or not p.reference else p.reference[:100],
        )
        for p in ticket.payments
    )
    return TicketPush(
        session=ticket.session_id,
        number=ticket.number,
        kind="credit_note" if ticket.kind is TicketKind.CREDIT_NOTE else "sale",
        label=label[:100] if label else None,
        finalized_at=ticket.finalized_at,
        lines=tuple(lines),
        payments=payments,
    )


def _line(line: TicketLineV1, scale: int) -> TicketLine:
    category = str(line.category_id)
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
        )
    return TicketLine(
        label=f"{label} (× {quantity})"[:200],
        category=category,
        quantity=1,
        unit_price=total,
        total=total,
        weight_grams=weight,
    )


def session_close(closed: SessionClosedV1, *, closed_by: str | None = None) -> SessionCloseRequest:
    """A closed session as the plugin's close. Caisse expects opening + cash payments in the drawer, without our
    cash added or withdrawn during the session: the count is shifted by those, so Caisse's variance is ours.
    Every numbered ticket of the session (sales and credit notes, gap-free from first to last) must be pushed."""
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
    )
