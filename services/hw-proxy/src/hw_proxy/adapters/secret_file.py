"""The till's device secret, in a file of its own that only the agent's user may read or write (mode 0600).

The secret is kept out of the SQLite file on purpose: a copy of the store (a backup, a support bundle) then carries
no credential. The file is written whole or not at all (a temporary file made 0600 from its creation, synced,
then renamed over the old one), and a file that others may read is refused rather than used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from pydantic import SecretStr

MODE: Final = 0o600


class SecretFileError(Exception):
    """The secret file cannot be trusted: it is readable or writable by others than the agent's user."""


class SecretFile:
    """The device secret on disk (`HW_PROXY_SECRET_PATH`)."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def write(self, secret: SecretStr) -> None:
        """Store the secret, replacing any old one atomically; the file is 0600 from the moment it exists."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(self._path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
        try:
            os.fchmod(fd, MODE)  # whatever the umask
            os.write(fd, secret.get_secret_value().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        temporary.replace(self._path)
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def read(self) -> SecretStr | None:
        """The secret, or None when there is no file; `SecretFileError` when others may read or write it."""
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & 0o077:
                raise SecretFileError(f"{self._path} has mode {mode:o}: only the agent may read it (0600)")
            data = b""
            while chunk := os.read(fd, 4096):
                data += chunk
        finally:
            os.close(fd)
        return SecretStr(data.decode().strip())
