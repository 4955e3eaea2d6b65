"""python-escpos's printer database as the till uses it: the one profile it prints with (`default`, a standard
ESC/POS printer) and the code pages of that profile, instead of the library's 35 printer profiles and 69 encodings.

python-escpos reads its database once, when it is first imported (at the till's first receipt), from the file its
documented setting `ESCPOS_CAPABILITIES_FILE` names, with PyYAML's pure-Python parser: its own file (96 kB) costs
the agent about 0.3 s of CPU and leaves about 3 MB of resident memory behind (issue 17: the till's agent stays under
80 MB); this one is 5 kB. It is the library's data cut down by `cut_down`, never edited by hand: a unit test checks
it against the installed python-escpos, so an upgrade that changes the data says so (write it again with
`cut_down`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

PROFILE: Final = "default"
"""The python-escpos profile every printer of the till is driven with (its `Dummy`, `Network`, `Usb` and `Serial`
printers take it when given none)."""

CAPABILITIES_FILE: Final = Path(__file__).with_name("escpos_capabilities.json")


def cut_down(database: dict[str, Any]) -> dict[str, Any]:
    """python-escpos's database (its `capabilities.json`) with only `PROFILE` and the encodings of its code pages."""
    profile = database["profiles"][PROFILE]
    used = set(profile["codePages"].values())
    return {
        "encodings": {name: data for name, data in database["encodings"].items() if name in used},
        "profiles": {PROFILE: profile},
    }


def use_cut_down_capabilities() -> None:
    """Have python-escpos read the cut-down database, unless the till's environment names a database already.

    Effective only before python-escpos is first imported in the process (it reads the setting then), which is why
    the printer adapters call it when they are built."""
    os.environ.setdefault("ESCPOS_CAPABILITIES_FILE", str(CAPABILITIES_FILE))
