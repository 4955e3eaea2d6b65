"""One company's FEC file of one fiscal year on disk: opened whole (its header, no partial line), appended to durably.

Crash safety of the file: each entry is written with one `write` and then `fsync`ed. On opening, a trailing
partial line is cut off, and the last entry is compared byte for byte with the table: if a crash left only its
first lines, its other lines are appended. Nothing complete is ever rewritten, so the file only grows; a file
whose last entry is not the table's is refused (`FecFileMismatchError`) rather than patched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from paheko_bridge.domain.fec import FEC_ENCODING, FEC_HEADER, FEC_SEPARATOR, FecError

_TAIL_BYTES: Final = 1 << 20
"""How far back from the end the last entry is looked for: far more than the few lines of one ticket."""
_NUMBER_FIELD: Final = 2


class FecFileMismatchError(FecError):
    """The file's last entry is not (the beginning of) the one the database holds under its number: the file
    belongs to another database (a restored backup?) or was edited. Nothing is written to it."""

    def __init__(self, path: Path, number: int) -> None:
        super().__init__(f"entry {number} of {path} differs from the database's")
        self.path = path
        self.number = number


@dataclass(frozen=True, slots=True)
class Tail:
    last_number: int
    """EcritureNum of the file's last entry; 0 when the file has only its header."""
    last_entry: bytes
    """The complete lines of that entry, as on disk."""


def encode(lines: str) -> bytes:
    return lines.encode(FEC_ENCODING, errors="replace")


def _sync_directory(directory: Path) -> None:
    # A new file's name survives a power cut only once its directory is on disk too.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_tail(path: Path) -> Tail:
    """Make `path` exist with its header, cut a trailing partial line, and find its last entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a+b") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - _TAIL_BYTES)
        file.seek(start)
        tail = file.read()
        complete = tail.rfind(b"\n") + 1
        if start + complete != size:
            file.truncate(start + complete)
            size = start + complete
            tail = tail[:complete]
        if size == 0:
            # A new file, or one cut short inside its header: the header again, alone.
            tail = encode(FEC_HEADER)
            file.write(tail)
        file.flush()
        os.fsync(file.fileno())
    if created:
        _sync_directory(path.parent)

    lines = tail.splitlines(keepends=True)
    if start > 0:
        lines = lines[1:]  # the chunk may start inside a line
    last_number = 0
    entry_start = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        fields = lines[index].decode(FEC_ENCODING).split(FEC_SEPARATOR)
        number_field = fields[_NUMBER_FIELD] if len(fields) > _NUMBER_FIELD else ""
        if not number_field.isdigit():
            break  # the header
        if last_number and int(number_field) != last_number:
            break
        last_number = int(number_field)
        entry_start = index
    return Tail(last_number, b"".join(lines[entry_start:]))


def append(path: Path, entries: list[bytes]) -> None:
    # One write and one fsync for the lot: a crash can only cut the last entry, which the next open completes.
    with path.open("ab") as file:
        file.write(b"".join(entries))
        file.flush()
        os.fsync(file.fileno())
