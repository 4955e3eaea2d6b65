"""Cashier PINs: four to eight digits, kept as a salted scrypt hash, locked after five wrong tries in a row.

A PIN has little entropy, so unlike device secrets it gets a deliberately slow hash, and guessing is
bounded by the lock rather than by the hash alone. pos-api checks a login against its own hash; a till (hw-proxy)
keeps a hash of its own, made with the same rules at the cashier's last online login, so that the cashier logs in
offline too and meets the same lock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Final

MAX_FAILURES: Final = 5
LOCK: Final = timedelta(minutes=5)
_N, _R, _P = 2**14, 8, 1
_PIN = re.compile(r"^[0-9]{4,8}$")


def valid_pin(pin: str) -> bool:
    return bool(_PIN.fullmatch(pin))


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


def locked_until_after_failure(failures: int, now: datetime) -> datetime | None:
    """When the `failures`-th wrong PIN in a row locks the operator, until when."""
    return now + LOCK if failures >= MAX_FAILURES else None
