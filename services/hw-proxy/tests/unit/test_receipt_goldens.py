"""Golden receipts (STYLE.md rule 10): a receipt laid out by the domain and rendered by python-escpos's `Dummy`,
compared byte for byte with the committed `.escpos` file and, decoded by the virtual printer, with the committed
`.txt` file; the lines the spec asks for (PRODUCT.md capability 6, PRODUCT.md §11 duplicata) are asserted on their
own. `CAISSE_WRITE_GOLDENS=1` writes the files again after a deliberate change of layout."""

from __future__ import annotations

import io
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from till_examples import example_sale

from caisse_contracts.config import NetworkPrinter, PrinterFields, ReceiptCodePage
from caisse_contracts.events import PaymentMethod, TicketFinalizedV1
from caisse_contracts.events.tickets import PaymentV1
from caisse_contracts.tills import Receipt, ReceiptLine, ReceiptPayment, ReceiptTax
from caisse_devices.printer import decode
from hw_proxy.adapters.escpos_printer import EscposRenderer
from hw_proxy.domain.receipts import ReceiptPrint, document_of, money, opens_drawer, receipt_print

GOLDENS = Path(__file__).parent / "goldens"
LOGO = (GOLDENS / "logo_48x16.png").read_bytes()
"""A shop's small logo: 48 × 16 pixels, black and white (a frame and five bars)."""
TICKET = uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab")


def receipt(**changes: object) -> Receipt:
    """Ticket 42 of the Grenier's till 1 at 10:30 in Paris (09:30 UTC in December): a chair by weight, two
    glasses with a discount, taxes at 20 % and 5.5 %, paid 20 € in cash with the change given."""
    base = Receipt(
        ticket_id=TICKET,
        number=42,
        kind="sale",
        header="Ressourcerie du Grenier",
        footer="Merci de votre visite !\nÉchange sous 15 jours avec ce ticket.",
        shop="Le Grenier",
        pos="Caisse 1",
        currency="EUR",
        currency_exponent=2,
        local_datetime="2026-12-04 10:30",
        finalized_at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
        lines=(
            ReceiptLine(
                label="Théière émaillée",
                quantity=1,
                unit_price=850,
                weight_grams=1250,
                discount=0,
                total=850,
                tax_code="TN",
            ),
            ReceiptLine(
                label="Verres à pied (lot)",
                quantity=2,
                unit_price=400,
                weight_grams=None,
                discount=100,
                total=700,
                tax_code="TR",
            ),
        ),
        discounts=100,
        taxes=(
            ReceiptTax(code="TN", rate_bp=2000, total_excl_tax=708, tax=142, total_incl_tax=850),
            ReceiptTax(code="TR", rate_bp=550, total_excl_tax=664, tax=36, total_incl_tax=700),
        ),
        total_incl_tax=1550,
        cash_rounding=0,
        total_due=1550,
        payments=(ReceiptPayment(method=PaymentMethod.CASH, amount=1550, tendered=2000, reference=None),),
        change_given=450,
    )
    return base.model_copy(update=changes)


def printer(width: int) -> PrinterFields:
    return PrinterFields(connection=NetworkPrinter(host="127.0.0.1"), paper_width_mm=80 if width == 80 else 58)


def rendered(job: ReceiptPrint, width: int = 80) -> bytes:
    return EscposRenderer().render(document_of(job, paper_width_mm=width), printer(width))


def golden(name: str, data: bytes) -> str:
    text = decode(data).text
    if os.environ.get("CAISSE_WRITE_GOLDENS"):
        (GOLDENS / f"{name}.escpos").write_bytes(data)
        (GOLDENS / f"{name}.txt").write_text(text, encoding="utf-8")
    assert data == (GOLDENS / f"{name}.escpos").read_bytes()
    assert text == (GOLDENS / f"{name}.txt").read_text(encoding="utf-8")
    return text


@pytest.mark.parametrize(("width", "columns"), [(80, 48), (58, 32)])
def test_a_cash_sale_receipt_for_80_and_58_mm_paper(width: int, columns: int) -> None:
    data = rendered(ReceiptPrint(receipt=receipt(), address="12 rue des Lilas, 75020 Paris", kick_drawer=True), width)
    text = golden(f"sale_{width}mm", data)
    job = decode(data)
    assert (job.cuts, job.drawer_pulses, job.code_pages, job.unknown) == (1, [0], [19], [])
    assert job.qr_codes == [str(TICKET)]  # the QR code carries the ticket's id
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "Ressourcerie du Grenier" in lines[0]
    assert any(line.startswith("Ticket n° 42") and line.endswith("04/12/2026 10:30") for line in lines)
    assert "  1 x 8,50 € (1,250 kg)" in text
    assert any(line.startswith("  Remise") and line.endswith("-1,00 €") for line in lines)
    assert any(line.startswith("TOTAL TTC") and line.endswith("15,50 €") for line in lines)
    assert any(line.startswith("  Reçu") and line.endswith("20,00 €") for line in lines)
    assert any(line.startswith("Rendu") and line.endswith("4,50 €") for line in lines)
    assert any(line.startswith("TVA 5,5 % sur 6,64 €") and line.endswith("0,36 €") for line in lines)
    assert any("Échange sous 15 jours" in line for line in lines)


def test_the_euro_sign_and_french_accents_print_in_the_configured_table() -> None:
    data = rendered(ReceiptPrint(receipt=receipt(header="Déjà vu — Noël à 5 €")))
    assert "Théière émaillée".encode("cp858") in data  # PC858: é is 0x82, è 0x8A
    assert "15,50 €".encode("cp858") in data  # € is 0xD5 in PC858
    assert "Déjà vu" in decode(data).text
    cp1252 = EscposRenderer().render(
        document_of(ReceiptPrint(receipt=receipt()), paper_width_mm=80),
        printer(80).model_copy(update={"code_page": ReceiptCodePage.CP1252}),
    )
    assert decode(cp1252).code_pages == [16]
    assert "15,50 €".encode("cp1252") in cp1252


def test_a_credit_note_says_avoir_and_names_its_sale() -> None:
    note = receipt(
        kind="credit_note",
        number=43,
        original_number=42,
        lines=(
            ReceiptLine(
                label="Théière émaillée",
                quantity=-1,
                unit_price=850,
                weight_grams=None,
                discount=0,
                total=-850,
                tax_code="TN",
            ),
        ),
        discounts=0,
        taxes=(ReceiptTax(code="TN", rate_bp=2000, total_excl_tax=-708, tax=-142, total_incl_tax=-850),),
        total_incl_tax=-850,
        total_due=-850,
        payments=(ReceiptPayment(method=PaymentMethod.CASH, amount=-850, tendered=None, reference=None),),
        change_given=0,
    )
    text = golden("credit_note_80mm", rendered(ReceiptPrint(receipt=note, kick_drawer=True)))
    assert "AVOIR" in text
    assert "sur le ticket n° 42" in text
    assert any(line.startswith("TOTAL TTC") and line.endswith("-8,50 €") for line in text.splitlines())


def test_a_reprint_is_marked_duplicata_with_its_counter_and_opens_no_drawer() -> None:
    _, ticket = example_sale()
    job = receipt_print(ticket, receipt(), duplicate=1)
    assert not job.kick_drawer
    data = rendered(job)
    text = golden("duplicate_80mm", data)
    assert "DUPLICATA n° 1" in text
    assert decode(data).drawer_pulses == []


def test_the_shop_s_logo_prints_as_a_raster_image_above_the_header() -> None:
    job = ReceiptPrint(receipt=receipt(), kick_drawer=True)
    data = EscposRenderer().render(document_of(job, paper_width_mm=80, logo=LOGO), printer(80))
    text = golden("sale_logo_80mm", data)
    decoded = decode(data)
    assert (decoded.images, decoded.unknown, decoded.cuts) == ([(48, 16)], [], 1)
    raster = data.index(b"\x1dv0")  # GS v 0: the raster image, 6 bytes × 16 rows
    assert data[raster + 4 : raster + 8] == bytes([6, 0, 16, 0])
    assert raster < data.index("Ressourcerie du Grenier".encode("cp858"))
    assert text.splitlines()[0].strip() == "Ressourcerie du Grenier"
    assert text == decode(rendered(job)).text, "the logo adds no text"


def test_a_logo_wider_than_the_paper_is_scaled_down_to_it() -> None:
    wide = io.BytesIO()
    Image.new("1", (1000, 100), 0).save(wide, format="PNG")
    data = EscposRenderer().render(
        document_of(ReceiptPrint(receipt=receipt()), paper_width_mm=58, logo=wide.getvalue()), printer(58)
    )
    [(width, height)] = decode(data).images
    assert (width, height) == (384, 38)  # 58 mm: 384 dots, the height in proportion


def test_a_job_printed_again_after_a_cut_says_so() -> None:
    text = decode(
        EscposRenderer().render(
            document_of(ReceiptPrint(receipt=receipt()), paper_width_mm=80, resumed=True), printer(80)
        )
    ).text
    assert "Impression reprise en entier" in text


def test_the_drawer_opens_when_cash_changes_hands_and_never_on_a_card_only_sale() -> None:
    _, ticket = example_sale()  # paid in cash
    card = ticket.model_copy(
        update={"payments": (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=1200),)}
    )
    assert opens_drawer(ticket)
    assert not opens_drawer(card)
    assert receipt_print(card, receipt()).kick_drawer is False


def test_a_card_payment_s_slip_is_printed_after_the_receipt() -> None:
    _, ticket = example_sale()
    slip = "CARTE BANCAIRE\nSANS CONTACT\nA0000000421010\nMONTANT 12,00 EUR\nDEBIT"
    paid: TicketFinalizedV1 = ticket.model_copy(
        update={"payments": (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CARD, amount=1200),)}
    )
    job = receipt_print(paid, receipt(), slips=(slip, " "))
    assert job.slips == (slip,), "a blank slip prints nothing"
    text = decode(rendered(job)).text
    assert text.index("SANS CONTACT") > text.index("Merci de votre visite")


def test_money_is_formatted_from_minor_units_with_the_territory_s_exponent() -> None:
    assert money(1250, 2, "EUR") == "12,50 €"
    assert money(-5, 2, "EUR") == "-0,05 €"
    assert money(1200, 0, "XPF") == "1200 XPF"
