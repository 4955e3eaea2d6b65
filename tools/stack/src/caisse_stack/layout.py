"""Where the launcher keeps things: the repository root, `.stack/`, and the ports of each named instance."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

KAFKA_VERSION: Final = "4.1.1"


@dataclass(frozen=True, slots=True)
class Instance:
    """A named, independent set of infrastructure: `dev` for `make up`, `test` for the test suite."""

    name: str
    kafka_port: int
    controller_port: int
    pg_port: int
    service_port_base: int

    @property
    def folder(self) -> Path:
        return stack_folder() / self.name

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"


INSTANCES: Final = {
    "dev": Instance("dev", kafka_port=19092, controller_port=19093, pg_port=15432, service_port_base=8100),
    "test": Instance("test", kafka_port=29092, controller_port=29093, pg_port=25432, service_port_base=28100),
}


PORT_SHIFT_VARIABLE: Final = "CAISSE_STACK_PORT_SHIFT"


def instance(name: str) -> Instance:
    """The named instance, its ports moved by `CAISSE_STACK_PORT_SHIFT` so that two checkouts can run side by side."""
    try:
        base = INSTANCES[name]
    except KeyError:
        raise SystemExit(f"unknown instance {name!r}; choose one of {', '.join(INSTANCES)}") from None
    raw = os.environ.get(PORT_SHIFT_VARIABLE, "0") or "0"
    try:
        shift = int(raw)
    except ValueError:
        raise SystemExit(f"{PORT_SHIFT_VARIABLE} must be a whole number of ports, not {raw!r}") from None
    if not 0 <= shift <= 20_000:  # keeps every shifted port below 65536
        raise SystemExit(f"{PORT_SHIFT_VARIABLE} must be between 0 and 20000, not {shift}")
    if shift == 0:
        return base
    return dataclasses.replace(
        base,
        kafka_port=base.kafka_port + shift,
        controller_port=base.controller_port + shift,
        pg_port=base.pg_port + shift,
        service_port_base=base.service_port_base + shift,
    )


def repo_root() -> Path:
    """The checkout this launcher belongs to: `CAISSE_STACK_ROOT`, else the folder holding `tools/stack`."""
    if env := os.environ.get("CAISSE_STACK_ROOT"):
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "tools" / "stack" / "pom.xml").is_file():
                return folder
    raise SystemExit("cannot find the Caisse checkout (set CAISSE_STACK_ROOT)")


def stack_folder() -> Path:
    return repo_root() / ".stack"


def pom_path() -> Path:
    packaged = Path(__file__).resolve().parent / "pom.xml"
    return packaged if packaged.is_file() else repo_root() / "tools" / "stack" / "pom.xml"


def kafka_jars() -> Path:
    return stack_folder() / "kafka-jars" / KAFKA_VERSION
