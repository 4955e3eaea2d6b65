"""The printed receipt as a document: what goes on the paper, line by line, laid out for the printer's width.

Pure: built from the receipt of a finalized ticket (`caisse_contracts.pricing.receipt_of`: the ticket in the
shop's local time, with its header and footer) and what the print job adds (the shop's address, a duplicate's
counter, the card slips); money is formatted from minor units with the territory's exponent. The adapter
(`adapters/escpos_printer.py`) renders it to ESC/POS bytes with python-escpos.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caisse_contracts.events import PaymentMethod, TicketFinalizedV1
from caisse_contracts.tills import Receipt
from hw_proxy.domain.printing import JobKind, NewPrintJob

Align = Literal["left", "center", "right"]

COLUMNS = {58: 32, 80: 48}
"""Characters per line in the printer's standard font (12 × 24 dots) by paper width: 384 and 576 dots."""

METHODS = {
    PaymentMethod.CASH: "Espèces",
    PaymentMethod.CHEQUE: "Chèque",
    PaymentMethod.CARD: "Carte bancaire",
    PaymentMethod.VOUCHER: "Bon d'achat",
}
SYMBOLS = {"EUR": "€"}


@dataclass(frozen=True, slots=True)
class Text:
    """One printed line (never wider than the paper)."""

    text: str
    align: Align = "left"
    bold: bool = False
    tall: bool = False


@dataclass(frozen=True, slots=True)
class QrCode:
    """A QR code, printed by the printer itself (ESC/POS GS ( k), centred."""

    data: str


@dataclass(frozen=True, slots=True)
class Logo:
    """The shop's logo (PNG bytes), printed as a raster image, centred."""

    png: bytes


Block = Text | QrCode | Logo


@dataclass(frozen=True, slots=True)
class PrintDocument:
    """What one print job puts on the paper: its blocks, then a cut; `kick_drawer` opens the cash drawer first."""

    blocks: tuple[Block, ...]
    kick_drawer: bool = False
    cut: bool = True


class ReceiptPrint(BaseModel):
    """A receipt's print job as the store keeps it (JSON): the receipt as it was at the sale, and what the paper
    adds. Laid out only when printed, for the printer configured then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receipt: Receipt
    address: str = ""
    duplicate: int | None = Field(default=None, ge=1, description="A reprint: its DUPLICATA counter.")
    slips: tuple[str, ...] = Field(default=(), description="The card terminal's slip of each card payment.")
    kick_drawer: bool = False


def opens_drawer(ticket: TicketFinalizedV1) -> bool:
    """Cash changes hands (paid, or given back on a credit note): the drawer opens. Never on a card-only sale."""
    return any(payment.method is PaymentMethod.CASH for payment in ticket.payments)


def receipt_print(
    ticket: TicketFinalizedV1,
    receipt: Receipt,
    *,
    address: str = "",
    duplicate: int | None = None,
    slips: tuple[str, ...] = (),
) -> ReceiptPrint:
    """The print job of a ticket's receipt (a reprint when `duplicate` is its counter: no drawer), with the card
    terminal's slip of each of its card payments or refunds (`slips`, printed after the receipt)."""
    return ReceiptPrint(
        receipt=receipt,
        address=address,
        duplicate=duplicate,
        slips=tuple(slip for slip in slips if slip.strip()),
        kick_drawer=duplicate is None and opens_drawer(ticket),
    )


def receipt_job(
    kind: JobKind,
    ticket: TicketFinalizedV1,
    receipt: Receipt,
    *,
    address: str = "",
    duplicate: int | None = None,
    slips: tuple[str, ...] = (),
) -> NewPrintJob:
    """The print job of a ticket's receipt, to store with the ticket (or the reprint) in its transaction."""
    job = receipt_print(ticket, receipt, address=address, duplicate=duplicate, slips=slips)
    return NewPrintJob(kind, str(ticket.ticket_id), job.model_dump_json())


def money(amount: int, exponent: int, currency: str) -> str:
    """`1250, 2, EUR` → `12,50 €`; `1200, 0, XPF` → `1200 XPF` (French decimal comma, from minor units)."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 10**exponent)
    number = f"{units},{cents:0{exponent}d}" if exponent else str(units)
    return f"{sign}{number} {SYMBOLS.get(currency, currency)}"


def _rate(rate_bp: int) -> str:
    whole, part = divmod(rate_bp, 100)
    return f"{whole} %" if part == 0 else f"{whole},{part:02d}".rstrip("0") + " %"


def _weight(grams: int) -> str:
    kilos, rest = divmod(grams, 1000)
    return f"{kilos},{rest:03d} kg"


def _local(local_datetime: str) -> str:
    """`2026-12-04 10:30` (the receipt's shop-local time) → `04/12/2026 10:30`."""
    day, _, time = local_datetime.partition(" ")
    year, month, date = day.split("-")
    return f"{date}/{month}/{year} {time}"


def document_of(
    job: ReceiptPrint, *, paper_width_mm: int, logo: bytes | None = None, resumed: bool = False
) -> PrintDocument:
    """The receipt laid out for the paper: header, lines, totals, taxes per rate, payments and change, ticket
    number and local date, footer, the QR code of the ticket's id, the card slips; AVOIR on a credit note,
    DUPLICATA with its counter on a reprint. `resumed`: printed again whole after an interrupted attempt."""
    width = COLUMNS[paper_width_mm]
    receipt = job.receipt

    def amount(value: int) -> str:
        return money(value, receipt.currency_exponent, receipt.currency)

    def pair(left: str, right: str, *, bold: bool = False, tall: bool = False) -> Text:
        room = width - len(right) - 1
        return Text(f"{left[:room]:<{room}} {right}", bold=bold, tall=tall)

    def wrapped(text: str, align: Align = "center") -> list[Text]:
        return [Text(line, align) for part in text.splitlines() for line in textwrap.wrap(part, width) or [""]]

    rule = Text("-" * width)
    blocks: list[Block] = []
    if logo:
        blocks.append(Logo(logo))
    blocks += [Text(line.text, "center", bold=True, tall=True) for line in wrapped(receipt.header)]
    if receipt.header != receipt.shop:
        blocks += wrapped(receipt.shop)
    blocks += wrapped(job.address)
    if resumed:
        blocks.append(Text("* Impression reprise en entier *", "center", bold=True))
    if receipt.kind == "credit_note":
        blocks.append(Text("AVOIR", "center", bold=True, tall=True))
        if receipt.original_number is not None:
            blocks.append(Text(f"sur le ticket n° {receipt.original_number}", "center"))
    if job.duplicate is not None:
        blocks.append(Text(f"DUPLICATA n° {job.duplicate}", "center", bold=True, tall=True))
    blocks += [pair(f"Ticket n° {receipt.number}", _local(receipt.local_datetime)), Text(receipt.pos), rule]
    for line in receipt.lines:
        blocks.append(Text(line.label[:width]))
        detail = f"  {line.quantity} x {amount(line.unit_price)}"
        if line.weight_grams is not None:
            detail += f" ({_weight(line.weight_grams)})"
        blocks.append(pair(detail, amount(line.total + line.discount)))
        if line.discount:
            blocks.append(pair("  Remise", amount(-line.discount)))
    blocks.append(rule)
    if receipt.discounts:
        blocks.append(pair("Dont remises", amount(-receipt.discounts)))
    blocks.append(pair("TOTAL TTC", amount(receipt.total_incl_tax), bold=True, tall=True))
    if receipt.cash_rounding:
        blocks += [pair("Arrondi espèces", amount(receipt.cash_rounding)), pair("A payer", amount(receipt.total_due))]
    for payment in receipt.payments:
        blocks.append(pair(METHODS[payment.method], amount(payment.amount)))
        if payment.tendered is not None and payment.tendered != payment.amount:
            blocks.append(pair("  Reçu", amount(payment.tendered)))
    if receipt.change_given:
        blocks.append(pair("Rendu", amount(receipt.change_given), bold=True))
    blocks.append(rule)
    for tax in receipt.taxes:
        blocks.append(pair(f"TVA {_rate(tax.rate_bp)} sur {amount(tax.total_excl_tax)}", amount(tax.tax)))
    if receipt.pickup_number:
        blocks.append(Text(f"Retrait n° {receipt.pickup_number}", "center", bold=True, tall=True))
    blocks += wrapped(receipt.footer)
    blocks.append(QrCode(str(receipt.ticket_id)))
    for slip in job.slips:
        blocks += [rule, *wrapped(slip, "left")]
    return PrintDocument(tuple(blocks), kick_drawer=job.kick_drawer)


def drawer_document() -> PrintDocument:
    """Open the cash drawer, print nothing."""
    return PrintDocument((), kick_drawer=True, cut=False)
