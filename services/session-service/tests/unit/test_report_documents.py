"""The Z report and the deposit slip as people read them: ESC/POS bytes against a golden file, PDFs rendered
to an image (pdftoppm) and read back as text (pdftotext), the HTML page escaped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from caisse_contracts.events import PaymentMethod, PaymentV1, TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from session_service.adapters.documents import ReportDocuments
from session_service.domain.report import Names, ZReport, z_report
from session_service.domain.sessions import (
    CashMovement,
    Cheque,
    CloseRequest,
    Count,
    MovementKind,
    TillPlace,
    add_movement,
    close_session,
    open_session,
)
from session_service.domain.totals import RunningTotals, apply_ticket

GOLDEN = Path(__file__).parent / "golden"
OPENED = datetime(2026, 11, 21, 8, 2, tzinfo=UTC)
CLOSED = datetime(2026, 11, 21, 17, 45, tzinfo=UTC)
CASHIER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
CHEQUE_ID = uuid.UUID("00000000-0000-4000-8000-0000000000d1")


def report() -> ZReport:
    """The example ticket paid in cash, plus one paid by cheque; 5.00 € to the safe; 0.50 € short."""
    example = load_example(TicketFinalizedV1).data
    place = TillPlace(
        pos_id=example.pos_id,
        pos_name="Caisse 1",
        shop_id=example.shop_id,
        company_id=example.company_id,
        territory_id=example.territory_id,
        currency="EUR",
        exponent=2,
        denominations=(5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
    )
    session = open_session(
        session_id=uuid.UUID("00000000-0000-4000-8000-0000000000a1"),
        place=place,
        operator_ids=[CASHIER],
        float_counts=[(1000, 5), (200, 10)],
        first_ticket_number=1,
        now=OPENED,
    )
    session = add_movement(
        session, CashMovement(uuid.uuid4(), MovementKind.WITHDRAWAL, 500, "billet au coffre", CASHIER, OPENED)
    )
    cash = example.model_copy(update={"session_id": session.session_id, "number": 1})
    by_cheque = example.model_copy(
        update={
            "session_id": session.session_id,
            "number": 2,
            "change_given": 0,
            "payments": (
                PaymentV1(
                    payment_id=CHEQUE_ID, method=PaymentMethod.CHEQUE, amount=1000, reference="0001234", bank="La Poste"
                ),
            ),
        }
    )
    totals = apply_ticket(apply_ticket(RunningTotals.empty_for(cash), cash), by_cheque)
    # expected: 70.00 float + 20.00 received − 10.00 change − 5.00 withdrawn = 75.00; counted 74.50
    request = CloseRequest(
        closed_by=CASHIER,
        last_ticket_number=2,
        counts=(Count(2000, 1), Count(1000, 5), Count(200, 2), Count(50, 1)),
        float_kept=(Count(1000, 5),),
        cheques_ticked=frozenset({CHEQUE_ID}),
        card_terminal_total=0,
        comment=None,
    )
    cheques = [Cheque(CHEQUE_ID, by_cheque.ticket_id, "0001234", "La Poste", 1000)]
    closed = close_session(session, request, totals, cheques, comment_threshold=500, now=CLOSED)
    names = Names(
        company="Ressourcerie du Bocage",
        shop="Bocage — Bressuire",
        shop_address="1 rue du Réemploi",
        pos="Caisse 1",
        bank_account="FR76 3000 4000 0500 0000 0000 001",
        timezone="Europe/Paris",
        operators={CASHIER: "Alice"},
        categories={line.category_id: line.category_label for line in example.lines},
    )
    return z_report(closed, totals, names)


def test_the_report_holds_the_figures_of_the_close() -> None:
    z = report()
    assert (z.expected_cash, z.counted_cash, z.variance) == (7500, 7450, -50)
    assert (z.deposit_cash, z.cheque_total, z.deposit_total) == (2450, 1000, 3450)
    assert [(line.value, line.count) for line in z.deposit] == [(2000, 1), (200, 2), (50, 1)]
    assert [(m.method, m.amount, m.count) for m in z.by_method] == [("cash", 1000, 1), ("cheque", 1000, 1)]
    assert [(c.name, c.weight_grams) for c in z.by_category] == [("Textile", 2500), ("Livres", 360)]


def test_the_deposit_slip_prints_on_the_till_as_the_golden_bytes() -> None:
    printed = ReportDocuments().deposit_slip_escpos(report())
    golden = GOLDEN / "deposit_slip.escpos"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(printed)
    assert printed == golden.read_bytes()
    assert b"TOTAL REMIS" in printed
    assert b"34,50 EUR" in printed


def _read_pdf(pdf: bytes, folder: Path, name: str) -> str:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(path), str(folder / name)], check=True)
    pages = sorted(folder.glob(f"{name}*.png"))
    assert pages, "pdftoppm rendered the PDF"
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_the_deposit_slip_pdf_lists_the_cash_by_denomination_the_cheques_and_signature_boxes(tmp_path: Path) -> None:
    text = _read_pdf(ReportDocuments().deposit_slip_pdf(report()), tmp_path, "slip")
    assert "Bordereau de remise en banque" in text
    assert "Ressourcerie du Bocage" in text
    assert "Bocage - Bressuire" in text  # the core fonts have no em dash: a plain dash stands for it
    assert "FR76 3000 4000 0500 0000 0000 001" in text
    assert "21/11/2026 18:45" in text  # closed at 17:45 UTC, shown in Paris time
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "20,00 EUR 1 20,00 EUR" in lines
    assert "2,00 EUR 2 4,00 EUR" in lines
    assert "Total espèces 24,50 EUR" in lines
    assert "0001234 La Poste 10,00 EUR" in lines
    assert "Total chèques (1) 10,00 EUR" in lines
    assert "Total remis : 34,50 EUR" in lines
    assert "Signature du déposant" in text
    assert "Visa de la banque" in text


def test_the_z_report_pdf_shows_totals_weights_float_and_variance(tmp_path: Path) -> None:
    text = _read_pdf(ReportDocuments().report_pdf(report()), tmp_path, "z")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Rapport Z" in text
    assert "2 tickets (n° 1 à 2), dont 0 avoirs (0,00 EUR)" in lines
    assert "Textile (7071) 2,500 kg 16,00 EUR" in lines
    assert "Total 2,860 kg 20,00 EUR" in lines
    assert "Fond de caisse 70,00 EUR" in lines
    assert "Espèces attendues 75,00 EUR" in lines
    assert "Écart -0,50 EUR" in lines


def test_the_html_report_escapes_what_people_typed() -> None:
    z = report()
    html = ReportDocuments().report_html(
        ZReport(**{**{f: getattr(z, f) for f in z.__dataclass_fields__}, "comment": "<script>alert(1)</script>"})
    )
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "Écart" in html
    assert "-0,50 EUR" in html


def test_the_document_libraries_load_on_warm_up_not_at_import() -> None:
    """Idle memory stays low (nothing loaded at import); a session's open warms them up before its close."""
    probe = (
        "import sys\n"
        "from session_service.adapters.documents import ReportDocuments\n"
        "assert 'fpdf' not in sys.modules and 'jinja2' not in sys.modules, 'loaded at import'\n"
        "ReportDocuments().warm_up()\n"
        "assert 'fpdf' in sys.modules and 'jinja2' in sys.modules, 'not loaded by warm_up'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
