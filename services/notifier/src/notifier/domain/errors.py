"""The notifier's refusals."""

from __future__ import annotations


class TokenRefusedError(Exception):
    """A stream token that is missing, forged, signed by an unknown key, of another audience, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
