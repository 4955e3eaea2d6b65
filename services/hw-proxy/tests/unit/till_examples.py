"""Examples shared by hw-proxy's unit tests: a sale as the till makes it, valid against the contracts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from caisse_contracts.basket import PaymentIn
from caisse_contracts.events import LineKind, PaymentMethod, TicketFinalizedV1, TicketKind
from caisse_contracts.events.config import EntityType
from caisse_contracts.events.tickets import PaymentV1, TaxTotalV1, TicketLineV1
from caisse_contracts.session_api import SessionSyncOut
from caisse_contracts.sync import OfflineLine, OfflineSale, SaleResult, SyncAnswer
from caisse_contracts.till_reports import Numbering, NumberingRelease, TillReport
from hw_proxy.service_layer.ports import CentralRefusedError, CentralUnreachableError

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


SERIAL = "TILL-0001"
TERRITORY = uuid.UUID("00000000-0000-4000-8000-000000000001")
COMPANY = uuid.UUID("00000000-0000-4000-8000-000000000002")
SHOP = uuid.UUID("00000000-0000-4000-8000-000000000003")
POS = uuid.UUID("00000000-0000-4000-8000-000000000004")
CASHIER = uuid.UUID("00000000-0000-4000-8000-000000000005")
OTHER_SHOP_CASHIER = uuid.UUID("00000000-0000-4000-8000-000000000006")
CATEGORY = uuid.UUID("00000000-0000-4000-8000-000000000007")
PRODUCT = uuid.UUID("00000000-0000-4000-8000-000000000008")


def _base(ident: uuid.UUID, version: int = 1) -> dict[str, Any]:
    return {"id": str(ident), "version": version, "updated_at": AT.isoformat()}


def place_items() -> list[tuple[EntityType, uuid.UUID, dict[str, Any]]]:
    """The config a till holds once synced: its territory (EUR, 20 %, notes and coins), company, shop, POS, two
    cashiers (one of another shop), a category and a product at 12.00 €."""
    return [
        (
            EntityType.TERRITORY,
            TERRITORY,
            {
                **_base(TERRITORY),
                "name": "France",
                "currency": "EUR",
                "currency_exponent": 2,
                "tax_rates": [{"code": "TN", "label": "Normal", "rate_bp": 2000}],
                "denominations": [
                    {"value": 5000, "kind": "note"},
                    {"value": 1000, "kind": "note"},
                    {"value": 200, "kind": "coin"},
                    {"value": 50, "kind": "coin"},
                ],
            },
        ),
        (EntityType.COMPANY, COMPANY, {**_base(COMPANY), "territory_id": str(TERRITORY), "name": "Ressourcerie"}),
        (EntityType.SHOP, SHOP, {**_base(SHOP), "company_id": str(COMPANY), "name": "Le Grenier"}),
        (
            EntityType.POS,
            POS,
            {**_base(POS), "shop_id": str(SHOP), "name": "Caisse 1", "hostname": "till-1", "device_serial": SERIAL},
        ),
        (
            EntityType.OPERATOR,
            CASHIER,
            {**_base(CASHIER), "name": "Alice", "role": "cashier", "shop_id": str(SHOP)},
        ),
        (
            EntityType.OPERATOR,
            OTHER_SHOP_CASHIER,
            {**_base(OTHER_SHOP_CASHIER), "name": "Bob", "role": "cashier", "shop_id": str(uuid.uuid4())},
        ),
        (
            EntityType.CATEGORY,
            CATEGORY,
            {
                **_base(CATEGORY),
                "company_id": str(COMPANY),
                "name": "Mobilier",
                "revenue_account": "7070",
                "default_tax_code": "TN",
            },
        ),
        (
            EntityType.PRODUCT,
            PRODUCT,
            {
                **_base(PRODUCT, 3),
                "company_id": str(COMPANY),
                "category_id": str(CATEGORY),
                "name": "Chaise",
                "price": 1200,
            },
        ),
    ]


@dataclass
class FakeCentral:
    """pos-api as the till sees it, in memory: reachable or not, with the PINs it knows and what it was sent."""

    reachable: bool = True
    pins: dict[uuid.UUID, str] = field(default_factory=dict)
    last_number: int | None = None
    release: NumberingRelease | None = None
    reports: list[TillReport] = field(default_factory=list)
    tickets: list[TicketFinalizedV1] = field(default_factory=list)
    sales: list[OfflineSale] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    deposit_slips: dict[uuid.UUID, bytes] = field(default_factory=dict)

    def _reach(self) -> None:
        if not self.reachable:
            raise CentralUnreachableError("pos-api does not answer (ConnectError)")

    async def numbering(self) -> Numbering:
        self._reach()
        return Numbering(last_ticket_number=self.last_number, release=self.release)

    async def report(self, report: TillReport) -> None:
        self._reach()
        self.reports.append(report)

    async def cashier_login(self, operator_id: uuid.UUID, pin: str) -> None:
        self._reach()
        if self.pins.get(operator_id) != pin:
            raise CentralRefusedError(401, "wrong PIN")

    async def post_ticket(self, ticket: TicketFinalizedV1) -> str:
        self._reach()
        known = {t.ticket_id for t in self.tickets}
        if ticket.ticket_id in known:
            return "already_exists"
        self.tickets.append(ticket)
        return "created"

    async def sync_sales(self, sales: list[OfflineSale]) -> SyncAnswer:
        self._reach()
        results = []
        for index, sale in enumerate(sales):
            known = sale.ticket_id in {s.ticket_id for s in self.sales} | {t.ticket_id for t in self.tickets}
            if not known:
                self.sales.append(sale)
            results.append(
                SaleResult(
                    index=index,
                    outcome="already_exists" if known else "created",
                    ticket_id=sale.ticket_id,
                    number=sale.number,
                )
            )
        created = sum(r.outcome == "created" for r in results)
        return SyncAnswer(
            results=tuple(results), created=created, already_exists=len(results) - created, conflicts=0, failed=0
        )

    async def sync_sessions(self, operations: list[dict[str, Any]]) -> SessionSyncOut:
        self._reach()
        self.operations.extend(operations)
        return SessionSyncOut.model_validate(
            {
                "results": [
                    {
                        "index": i,
                        "op": o["op"],
                        "id": o.get("movement_id") or o["session_id"],
                        "session_id": o["session_id"],
                        "outcome": "created",
                        "status": 201,
                    }
                    for i, o in enumerate(operations)
                ],
                "counts": {"created": len(operations)},
            }
        )

    async def deposit_slip(self, session_id: uuid.UUID) -> bytes:
        self._reach()
        if session_id not in self.deposit_slips:
            raise CentralRefusedError(404, "no such session")
        return self.deposit_slips[session_id]
