"""Exclusive file locks, so that concurrent launches (make, fixtures, xdist workers) start each process once."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from caisse_stack.layout import Instance


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold `<folder>/.lock` (waiting for it) for the duration of the block."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def instance_lock(inst: Instance) -> AbstractContextManager[None]:
    """The lock of one instance's folder: held while starting or stopping what it runs."""
    return folder_lock(inst.folder)
