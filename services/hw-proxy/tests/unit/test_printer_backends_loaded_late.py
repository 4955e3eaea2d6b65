"""A till's agent starts light (issue 18: hw-proxy's idle memory): python-escpos and the USB and serial back ends it
brings (pyusb, pyserial) are installed with hw-proxy, but loaded only when the till prints, never at its start."""

from __future__ import annotations

import subprocess
import sys


def test_the_agent_s_start_loads_neither_python_escpos_nor_the_usb_and_serial_back_ends() -> None:
    probe = (
        "import sys, hw_proxy.bootstrap\n"
        "print(sorted(m for m in ('escpos', 'usb', 'serial', 'PIL') if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


def test_the_usb_and_serial_back_ends_are_installed_for_the_printers_that_need_them() -> None:
    probe = "import escpos.printer as p; print(p.Usb.is_usable(), p.Serial.is_usable())"
    usable = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert usable.stdout.strip() == "True True"
