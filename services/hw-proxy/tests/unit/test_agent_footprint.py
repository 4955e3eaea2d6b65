"""What the till's agent holds in memory (issue 17: under 80 MB idle, once it has printed): the modules its process
keeps out, python-escpos's printer database cut down to the profile the till prints with, and one text encoder for
every receipt. Each receipt's bytes stay the golden ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from test_receipt_goldens import GOLDENS, printer, receipt

from caisse_contracts.config import ReceiptCodePage
from hw_proxy.adapters.escpos_capabilities import CAPABILITIES_FILE, PROFILE, cut_down
from hw_proxy.adapters.escpos_printer import EscposRenderer
from hw_proxy.domain.receipts import ReceiptPrint, document_of


def in_a_fresh_process(code: str, tmp_path: Path) -> dict[str, object]:
    """Run `code` in a new interpreter (as the till starts its agent) and return the JSON it prints last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HW_PROXY_", "ESCPOS_"))}
    env.update(HW_PROXY_STORE_PATH=str(tmp_path / "till.sqlite3"), PYTHONPATH=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_the_agent_s_process_never_loads_httpx_s_command_line_nor_pydantic_v1_nor_unexported_tracing(
    tmp_path: Path,
) -> None:
    code = """
import json, sys
from hw_proxy.__main__ import keep_unused_modules_out
keep_unused_modules_out()
from hw_proxy.bootstrap import build_app
app = build_app()
print(json.dumps({"modules": sorted(n for n, m in sys.modules.items() if m is not None), "routes": len(app.routes)}))
"""
    answer = in_a_fresh_process(code, tmp_path)
    loaded = set(answer["modules"])  # type: ignore[call-overload]
    assert answer["routes"]
    never = {"httpx._main", "rich", "pygments", "pydantic.v1", "watchfiles", "opentelemetry.instrumentation.fastapi"}
    assert loaded.isdisjoint(never), loaded & never
    assert "escpos" not in loaded, "python-escpos is loaded at the first print, not at the start"


def test_the_cut_down_printer_database_is_python_escpos_s_own_for_the_default_profile() -> None:
    installed = json.loads((files("escpos") / "capabilities.json").read_text(encoding="utf-8"))
    kept = json.loads(CAPABILITIES_FILE.read_text(encoding="utf-8"))
    assert kept == cut_down(installed), "python-escpos's data changed: write the file again with cut_down()"
    assert list(kept["profiles"]) == [PROFILE]
    assert set(kept["encodings"]) == set(installed["profiles"][PROFILE]["codePages"].values())
    assert {"CP858", "CP1252", "CP437"} <= set(kept["encodings"])  # the code pages a till may be set to


def test_a_fresh_agent_prints_from_the_cut_down_database_and_its_receipts_stay_the_golden_ones(
    tmp_path: Path,
) -> None:
    code = """
import json
from test_receipt_goldens import printer, receipt
from hw_proxy.adapters.escpos_printer import EscposRenderer
from hw_proxy.domain.receipts import ReceiptPrint, document_of
renderer = EscposRenderer()
job = ReceiptPrint(receipt=receipt(), address="12 rue des Lilas, 75020 Paris", kick_drawer=True)
data = renderer.render(document_of(job, paper_width_mm=80), printer(80))
import escpos.capabilities
print(json.dumps({"database": escpos.capabilities.capabilities_path, "receipt": data.hex()}))
"""
    answer = in_a_fresh_process(code, tmp_path)
    assert answer["database"] == str(CAPABILITIES_FILE)
    assert bytes.fromhex(str(answer["receipt"])) == (GOLDENS / "sale_80mm.escpos").read_bytes()


def test_one_renderer_gives_every_receipt_its_own_code_page_switch() -> None:
    renderer = EscposRenderer()
    job = ReceiptPrint(receipt=receipt(), address="12 rue des Lilas, 75020 Paris", kick_drawer=True)
    golden = (GOLDENS / "sale_80mm.escpos").read_bytes()
    cp1252 = printer(80).model_copy(update={"code_page": ReceiptCodePage.CP1252})

    first = renderer.render(document_of(job, paper_width_mm=80), printer(80))
    other = renderer.render(document_of(job, paper_width_mm=80), cp1252)
    again = renderer.render(document_of(job, paper_width_mm=80), printer(80))

    assert first == golden
    assert again == golden, "the receipt after another one is the same bytes, its code page chosen again"
    assert other == EscposRenderer().render(document_of(job, paper_width_mm=80), cp1252)
