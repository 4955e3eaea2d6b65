"""Where the launcher keeps things: the repository root, `.stack/`, and the ports of each named instance."""

from __future__ import annotations

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


def instance(name: str) -> Instance:
    try:
        return INSTANCES[name]
    except KeyError:
        raise SystemExit(f"unknown instance {name!r}; choose one of {', '.join(INSTANCES)}") from None


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
