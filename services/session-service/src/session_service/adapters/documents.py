"""The Z report and the bank deposit slip for people: HTML (jinja2), plain text, PDF (fpdf2), ESC/POS bytes.

The PDF, template and printer libraries load on the first document rendered, not at the service's start:
most of a day the service renders nothing, and idle memory counts.

Amounts print in major units with a decimal comma and the currency code (the PDF core fonts have no euro
sign); times print in the territory's time zone. Every renderer reads the same stored `ZReport`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from caisse_contracts.money import Currency, format_major
from session_service.domain.report import CountLine, ZReport

if TYPE_CHECKING:
    from jinja2 import Template

REPORT_JSON: Final = TypeAdapter(ZReport)
METHODS: Final = {"cash": "Espèces", "cheque": "Chèques", "card": "Carte", "voucher": "Bons d'achat"}


def money(amount: int, report: ZReport) -> str:
    text = format_major(amount, Currency(report.currency, 0, report.exponent))
    return f"{text.replace('.', ',')} {report.currency}"


def local(at: datetime, report: ZReport) -> str:
    try:
        zone = ZoneInfo(report.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def kilos(grams: int) -> str:
    return f"{grams / 1000:.3f} kg".replace(".", ",")


def _numbers(report: ZReport) -> str:
    if report.first_ticket_number is None:
        return "aucun ticket"
    return f"n° {report.first_ticket_number} à {report.last_ticket_number}"


_HTML: Final = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Rapport Z {{ r.shop }} {{ r.pos }}</title>
<style>body{font-family:sans-serif;max-width:42em}td.n{text-align:right}table{border-collapse:collapse}
td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style></head><body>
<h1>Rapport Z</h1>
<p><strong>{{ r.company }}</strong> — {{ r.shop }}{% if r.shop_address %}, {{ r.shop_address }}{% endif %}<br>
{{ r.pos }} · session {{ r.session_id }}<br>
Ouverte le {{ local(r.opened_at) }} par {{ r.operators|join(", ") }} · fermée le {{ local(r.closed_at) }}
par {{ r.closed_by }}</p>
<h2>Ventes</h2>
<p>{{ r.ticket_count }} tickets ({{ numbers }}), dont {{ r.credit_note_count }} avoirs ({{ money(r.credit_note_total) }}).
Total TTC : <strong>{{ money(r.total_incl_tax) }}</strong> · arrondis espèces : {{ money(r.cash_rounding) }}</p>
<table><tr><th>Moyen de paiement</th><th>Nombre</th><th>Montant</th></tr>
{% for m in r.by_method %}<tr><td>{{ methods.get(m.method, m.method) }}</td><td class="n">{{ m.count }}</td>
<td class="n">{{ money(m.amount) }}</td></tr>{% endfor %}</table>
<table><tr><th>Catégorie</th><th>Compte</th><th>Poids</th><th>Montant</th></tr>
{% for c in r.by_category %}<tr><td>{{ c.name }}</td><td>{{ c.revenue_account }}</td><td class="n">{{ kilos(c.weight_grams) }}</td>
<td class="n">{{ money(c.amount) }}</td></tr>{% endfor %}
<tr><th>Total</th><th></th><th class="n">{{ kilos(r.total_weight_grams) }}</th><th class="n">{{ money(r.total_incl_tax) }}</th></tr></table>
<h2>Caisse</h2>
<table>
<tr><td>Fond de caisse</td><td class="n">{{ money(r.opening_float) }}</td></tr>
<tr><td>Espèces reçues</td><td class="n">{{ money(r.cash_received) }}</td></tr>
<tr><td>Monnaie rendue</td><td class="n">{{ money(r.change_given) }}</td></tr>
<tr><td>Apports</td><td class="n">{{ money(r.cash_added) }}</td></tr>
<tr><td>Retraits</td><td class="n">{{ money(r.cash_withdrawn) }}</td></tr>
<tr><td>Espèces attendues</td><td class="n">{{ money(r.expected_cash) }}</td></tr>
<tr><td>Espèces comptées</td><td class="n">{{ money(r.counted_cash) }}</td></tr>
<tr><td><strong>Écart</strong></td><td class="n"><strong>{{ money(r.variance) }}</strong></td></tr>
</table>
{% if r.comment %}<p>Commentaire : {{ r.comment }}</p>{% endif %}
{% if r.movements %}<h3>Mouvements</h3><ul>{% for m in r.movements %}<li>{{ m.kind }} {{ money(m.amount) }} —
{{ m.reason }} ({{ m.operator }}, {{ local(m.at) }})</li>{% endfor %}</ul>{% endif %}
<h3>Comptage</h3><table><tr><th>Valeur</th><th>Nombre</th><th>Montant</th></tr>
{% for c in r.counted %}<tr><td class="n">{{ money(c.value) }}</td><td class="n">{{ c.count }}</td>
<td class="n">{{ money(c.amount) }}</td></tr>{% endfor %}</table>
<p>Chèques : {{ r.cheques|length }} pour {{ money(r.cheque_total) }} · carte : {{ money(r.card_total) }}
{% if r.card_terminal_total is not none %}(terminal : {{ money(r.card_terminal_total) }},
écart {{ money(r.card_difference) }}){% endif %}</p>
<p>Remise en banque : espèces {{ money(r.deposit_cash) }} + chèques {{ money(r.cheque_total) }} ;
fond conservé {{ money(r.float_kept) }}.</p>
</body></html>
"""


class ReportDocuments:
    """Renders a stored Z report; stateless, so one instance serves every request."""

    def warm_up(self) -> None:
        """Load the template and PDF libraries now (in a worker thread, when a session opens) rather than during
        the close: idle memory stays low while no session is open, and no close pays for the first load."""
        self._html  # noqa: B018 - building the cached template is the point
        pdf = _Pdf("warm-up")  # every style the documents use: fpdf loads each font's metrics once
        pdf.heading("Z")
        pdf.section("Z")
        pdf.line_text("Z")
        pdf.rows(("a", "b", "c"), [("1", "2", "3")])
        pdf.signatures(("a", "b"))
        pdf.bytes()

    @cached_property
    def _html(self) -> Template:
        from jinja2 import Environment, select_autoescape  # noqa: PLC0415  loaded on first use (see above)

        return Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string(_HTML)

    def report_json(self, report: ZReport) -> bytes:
        return REPORT_JSON.dump_json(report)

    def report_html(self, report: ZReport) -> str:
        return self._html.render(
            r=report,
            money=lambda a: money(a, report),
            local=lambda t: local(t, report),
            kilos=kilos,
            methods=METHODS,
            numbers=_numbers(report),
        )

    def report_text(self, report: ZReport) -> str:
        return "\n".join(_report_lines(report)) + "\n"

    def report_pdf(self, report: ZReport) -> bytes:
        pdf = _Pdf(f"Rapport Z - {report.shop} - {report.pos}")
        pdf.heading("Rapport Z")
        pdf.line_text(f"{report.company} - {report.shop}")
        if report.shop_address:
            pdf.line_text(report.shop_address)
        pdf.line_text(f"{report.pos} - session {report.session_id}")
        pdf.line_text(f"Ouverte le {local(report.opened_at, report)} par {', '.join(report.operators)}")
        pdf.line_text(f"Fermée le {local(report.closed_at, report)} par {report.closed_by}")
        pdf.section("Ventes")
        pdf.line_text(
            f"{report.ticket_count} tickets ({_numbers(report)}), dont {report.credit_note_count} avoirs"
            f" ({money(report.credit_note_total, report)})"
        )
        pdf.rows(
            ("Moyen de paiement", "Nombre", "Montant"),
            [(METHODS.get(m.method, m.method), str(m.count), money(m.amount, report)) for m in report.by_method],
        )
        pdf.rows(
            ("Catégorie", "Poids", "Montant"),
            [
                (f"{c.name} ({c.revenue_account})", kilos(c.weight_grams), money(c.amount, report))
                for c in report.by_category
            ]
            + [("Total", kilos(report.total_weight_grams), money(report.total_incl_tax, report))],
        )
        pdf.line_text(f"Arrondis espèces : {money(report.cash_rounding, report)}")
        pdf.section("Caisse")
        pdf.rows(
            ("", "", "Montant"),
            [
                ("Fond de caisse", "", money(report.opening_float, report)),
                ("Espèces reçues", "", money(report.cash_received, report)),
                ("Monnaie rendue", "", money(report.change_given, report)),
                ("Apports", "", money(report.cash_added, report)),
                ("Retraits", "", money(report.cash_withdrawn, report)),
                ("Espèces attendues", "", money(report.expected_cash, report)),
                ("Espèces comptées", "", money(report.counted_cash, report)),
                ("Écart", "", money(report.variance, report)),
            ],
        )
        if report.comment:
            pdf.line_text(f"Commentaire : {report.comment}")
        for m in report.movements:
            pdf.line_text(f"{m.kind} {money(m.amount, report)} - {m.reason} ({m.operator}, {local(m.at, report)})")
        pdf.rows(("Valeur", "Nombre", "Montant"), _count_rows(report.counted, report))
        card = f"Carte : {money(report.card_total, report)}"
        if report.card_terminal_total is not None and report.card_difference is not None:
            card += f" (terminal {money(report.card_terminal_total, report)}, écart {money(report.card_difference, report)})"
        pdf.line_text(card)
        pdf.line_text(f"Chèques : {len(report.cheques)} pour {money(report.cheque_total, report)}")
        pdf.line_text(
            f"Remise en banque : espèces {money(report.deposit_cash, report)} + chèques"
            f" {money(report.cheque_total, report)} ; fond conservé {money(report.float_kept, report)}"
        )
        return pdf.bytes()

    def deposit_slip_pdf(self, report: ZReport) -> bytes:
        pdf = _Pdf(f"Bordereau de remise - {report.shop}")
        pdf.heading("Bordereau de remise en banque")
        pdf.line_text(report.company)
        pdf.line_text(f"{report.shop}{' - ' + report.shop_address if report.shop_address else ''}")
        pdf.line_text(f"Compte : {report.bank_account or 'non renseigné'}")
        pdf.line_text(f"Date : {local(report.closed_at, report)} - {report.pos} - session {report.session_id}")
        pdf.section("Espèces")
        pdf.rows(
            ("Valeur", "Nombre", "Montant"),
            [*_count_rows(report.deposit, report), ("Total espèces", "", money(report.deposit_cash, report))],
        )
        pdf.section("Chèques")
        pdf.rows(
            ("Numéro", "Banque", "Montant"),
            [(c.number, c.bank or "", money(c.amount, report)) for c in report.cheques]
            + [(f"Total chèques ({len(report.cheques)})", "", money(report.cheque_total, report))],
        )
        pdf.section(f"Total remis : {money(report.deposit_total, report)}")
        pdf.signatures(("Signature du déposant", "Visa de la banque"))
        return pdf.bytes()

    def deposit_slip_escpos(self, report: ZReport) -> bytes:
        from escpos.printer import Dummy  # noqa: PLC0415  loaded on first use (see above)

        printer = Dummy()
        printer.set(align="center", bold=True, double_height=True)
        printer.textln("BORDEREAU DE REMISE")
        printer.set(align="center", bold=False, normal_textsize=True)
        printer.textln(report.company)
        printer.textln(report.shop)
        printer.set(align="left")
        for line in _slip_lines(report):
            printer.textln(line)
        printer.ln(2)
        printer.textln("Signature deposant :")
        printer.ln(3)
        printer.cut()
        output: bytes = printer.output
        return output


WIDTH: Final = 42


def _pair(left: str, right: str) -> str:
    return f"{left[: WIDTH - len(right) - 1]:<{WIDTH - len(right)}}{right}"


def _slip_lines(report: ZReport) -> list[str]:
    lines = [
        f"Compte : {report.bank_account or '-'}",
        f"Date : {local(report.closed_at, report)}",
        f"Caisse : {report.pos}",
        "-" * WIDTH,
        "ESPECES",
    ]
    lines += [_pair(f"{c.count} x {money(c.value, report)}", money(c.amount, report)) for c in report.deposit]
    lines += [_pair("Total especes", money(report.deposit_cash, report)), "-" * WIDTH, "CHEQUES"]
    lines += [_pair(f"{c.number} {c.bank or ''}", money(c.amount, report)) for c in report.cheques]
    lines += [
        _pair(f"Total cheques ({len(report.cheques)})", money(report.cheque_total, report)),
        "=" * WIDTH,
        _pair("TOTAL REMIS", money(report.deposit_total, report)),
    ]
    return lines


def _count_rows(counts: tuple[CountLine, ...], report: ZReport) -> list[tuple[str, str, str]]:
    return [(money(c.value, report), str(c.count), money(c.amount, report)) for c in counts]


def _report_lines(report: ZReport) -> list[str]:
    lines = [
        f"Rapport Z - {report.company} - {report.shop} - {report.pos}",
        f"Session {report.session_id}",
        f"Ouverte le {local(report.opened_at, report)} par {', '.join(report.operators)}",
        f"Fermée le {local(report.closed_at, report)} par {report.closed_by}",
        "",
        f"{report.ticket_count} tickets ({_numbers(report)}), {report.credit_note_count} avoirs",
        f"Total TTC : {money(report.total_incl_tax, report)} ; poids vendu : {kilos(report.total_weight_grams)}",
    ]
    lines += [f"  {METHODS.get(m.method, m.method)} : {money(m.amount, report)} ({m.count})" for m in report.by_method]
    lines += [f"  {c.name} : {money(c.amount, report)}, {kilos(c.weight_grams)}" for c in report.by_category]
    lines += [
        "",
        f"Fond de caisse : {money(report.opening_float, report)}",
        f"Espèces attendues : {money(report.expected_cash, report)}",
        f"Espèces comptées : {money(report.counted_cash, report)}",
        f"Écart : {money(report.variance, report)}",
    ]
    if report.comment:
        lines.append(f"Commentaire : {report.comment}")
    lines.append(f"Remise en banque : {money(report.deposit_total, report)}")
    return lines


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1: French accents pass, anything else becomes '?'."""
    return text.replace("\u2019", "'").replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


class _Pdf:
    """A4 portrait pages with a title, sections, three-column tables and signature boxes."""

    def __init__(self, title: str) -> None:
        from fpdf import FPDF  # noqa: PLC0415  loaded on first use (see above)

        self._pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self._pdf.set_title(_latin1(title))
        self._pdf.set_creator("Caisse session-service")
        self._pdf.set_creation_date(datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
        self._pdf.set_auto_page_break(auto=True, margin=15)
        self._pdf.add_page()
        self._pdf.set_font("Helvetica", size=10)

    def heading(self, text: str) -> None:
        self._pdf.set_font("Helvetica", style="B", size=16)
        self._pdf.cell(0, 10, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self._pdf.set_font("Helvetica", size=10)

    def section(self, text: str) -> None:
        self._pdf.ln(3)
        self._pdf.set_font("Helvetica", style="B", size=12)
        self._pdf.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self._pdf.set_font("Helvetica", size=10)

    def line_text(self, text: str) -> None:
        self._pdf.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def rows(self, header: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> None:
        widths = (95, 40, 45)
        self._pdf.set_font("Helvetica", style="B", size=10)
        for width, text, align in zip(widths, header, ("L", "R", "R"), strict=True):
            self._pdf.cell(width, 6, _latin1(text), border="B", align=align)
        self._pdf.ln()
        self._pdf.set_font("Helvetica", size=10)
        for row in rows:
            for width, text, align in zip(widths, row, ("L", "R", "R"), strict=True):
                self._pdf.cell(width, 6, _latin1(text), align=align)
            self._pdf.ln()
        self._pdf.ln(2)

    def signatures(self, labels: tuple[str, str]) -> None:
        self._pdf.ln(6)
        y = self._pdf.get_y()
        for index, label in enumerate(labels):
            x = 15 + index * 95
            self._pdf.set_xy(x, y)
            self._pdf.cell(85, 6, _latin1(label))
            self._pdf.rect(x, y + 7, 85, 30)
        self._pdf.set_xy(15, y + 40)

    def bytes(self) -> bytes:
        return bytes(self._pdf.output())
