"""Examples shared by hw-proxy's unit tests: a sale as the till makes it, valid against the contracts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from caisse_contracts.basket import PaymentIn
from caisse_contracts.events import LineKind, PaymentMethod, TicketFinalizedV1, TicketKind
from caisse_contracts.events.tickets import PaymentV1, TaxTotalV1, TicketLineV1
from caisse_contracts.sync import OfflineLine, OfflineSale

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def example_sale() -> tuple[OfflineSale, TicketFinalizedV1]:
    """One chair at 12.00 € TTC (20 %), paid in cash: the offline sale and its ticket, numbered 1."""
    ids = [uuid.uuid4() for _ in range(8)]
    ticket_id, shop, pos, session, category, line_id, payment, territory = ids
    sale = OfflineSale(
        ticket_id=ticket_id,
        number=1,
        shop_id=shop,
        pos_id=pos,
        session_id=session,
        finalized_at=AT,
        timezone="Europe/Paris",
        territory_version=1,
        company_version=1,
        lines=(OfflineLine(line_id=line_id, category_id=category, category_version=1, unit_price=1200),),
        payments=(PaymentIn(payment_id=payment, method=PaymentMethod.CASH, amount=1200),),
        total_excl_tax=1000,
        total_tax=200,
        total_incl_tax=1200,
    )
    ticket = TicketFinalizedV1(
        ticket_id=ticket_id,
        number=1,
        kind=TicketKind.SALE,
        territory_id=territory,
        company_id=uuid.uuid4(),
        shop_id=shop,
        pos_id=pos,
        session_id=session,
        finalized_at=AT,
        local_date=date(2026, 12, 4),
        currency="EUR",
        prices_include_tax=True,
        lines=(
            TicketLineV1(
                line_id=line_id,
                kind=LineKind.CATEGORY_ITEM,
                label="Chaise",
                category_id=category,
                category_label="Mobilier",
                revenue_account="7070",
                quantity=1,
                unit_price=1200,
                discount=0,
                tax_rate_bp=2000,
                total_excl_tax=1000,
                tax=200,
                total_incl_tax=1200,
            ),
        ),
        taxes=(TaxTotalV1(rate_bp=2000, total_excl_tax=1000, tax=200, total_incl_tax=1200),),
        payments=(PaymentV1(payment_id=payment, method=PaymentMethod.CASH, amount=1200),),
        total_excl_tax=1000,
        total_tax=200,
        total_incl_tax=1200,
    )
    return sale, ticket
