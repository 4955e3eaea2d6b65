"""The runtime's frozen SQL never changes: an old migration must replay exactly what it ran when it was written."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from caisse_runtime.frozen_sql import frozen

PINNED = {
    "inbox_1": "221cc8148f437e570d5852dbde4b89b21387c9e451e6d26a19b9d5446039831c",
    "outbox_1": "84fef1c57c0f8d4221f43e16cadf2377c7232330bff080500ef8bf3ab278726a",
    "outbox_2_lean": "cfc1ad2021a6b2aca6f27ec917700a59644a62c03ac8257423aa5946c4c97899",
    "outbox_2_lean.undo": "2b599113c24948bd7ba976d0c77b2ccd442a80213edcc313ca9ea25581f89ceb",
    "outbox_3_notify_newest": "5c028312071a852f72dc787ffaa08174d39d792d51f24c7836ae9e2c0d854f2f",
    "outbox_3_notify_newest.undo": "1d9000282c99460fac36bc6fffd067ec13333fd56390b05d6e956bbfcac100ac",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_frozen_revision_keeps_its_digest(name: str) -> None:
    assert hashlib.sha256(frozen(name).encode()).hexdigest() == PINNED[name], (
        f"{name}.sql was edited: write a new revision (a new file and a new migration in every service) instead"
    )


def test_every_frozen_file_is_pinned() -> None:
    package = resources.files("caisse_runtime.frozen_sql")
    names = {p.name.removesuffix(".sql") for p in package.iterdir() if p.name.endswith(".sql")}
    assert names == set(PINNED)
