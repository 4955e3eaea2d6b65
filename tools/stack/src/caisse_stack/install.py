"""Installs what a fresh Debian machine lacks to run the stack: PostgreSQL's server, Java 17, Maven, poppler's
PDF tools (for the tests), php-cli (the Paheko plugin's checks); then Kafka's jars."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from caisse_stack.kafka import ensure_jars


def missing_packages() -> list[str]:
    missing = []
    if not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        missing.append("postgresql")
    if shutil.which("java") is None:
        missing.append("openjdk-17-jre-headless")
    if shutil.which("mvn") is None:
        missing.append("maven")
    if shutil.which("runuser") is None:
        missing.append("util-linux")
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        missing.append("poppler-utils")  # the tests read the PDFs of session-service as images and as text
    return missing + missing_php()


def missing_php() -> list[str]:
    """php-cli lints the Paheko plugin and runs its pure tests; nothing else of PHP is needed outside Paheko."""
    return [] if shutil.which("php") else ["php-cli"]


def install(*, php_only: bool = False) -> None:
    packages = missing_php() if php_only else missing_packages()
    if packages:
        apt = shutil.which("apt-get")
        if apt is None:
            raise SystemExit(f"missing {', '.join(packages)} and no apt-get to install them")
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sys.stdout.write(f"installing {' '.join(packages)} from Debian's packages\n")
        subprocess.run([*prefix, apt, "-q", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*prefix, apt, "-q", "install", "-y", "--no-install-recommends", *packages],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    if not php_only:
        ensure_jars()
