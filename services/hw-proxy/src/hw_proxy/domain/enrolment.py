"""Who the till is to the central side: its device serial and secret, as pos-api enrolled it.

The serial names the till; the secret proves it (`X-Device-Serial` / `X-Device-Secret`). The secret is a `SecretStr`
everywhere it travels, so that no log line, repr or traceback shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """The till's serial and secret; `headers` is the only place the secret is revealed, for pos-api's calls."""

    serial: str
    secret: SecretStr

    def headers(self) -> dict[str, str]:
        """The device headers every till route of pos-api asks for."""
        return {"X-Device-Serial": self.serial, "X-Device-Secret": self.secret.get_secret_value()}


class DeviceIdentity:
    """The till's credentials once known: empty until the enrolment is loaded at start (or given at first boot).

    The adapters that call pos-api hold this and read it at each call, so that a till enrolled after it was
    built needs no restart.
    """

    def __init__(self, credentials: DeviceCredentials | None = None) -> None:
        self.credentials = credentials

    @property
    def enrolled(self) -> bool:
        return self.credentials is not None
