"""A cashier's login on the till: the PIN checked against what this till learned, with pos-api's lock rules.

pos-api keeps the PIN hashes and never sends them (config items carry no secret). So a login goes to pos-api
when it answers; on success the till keeps a hash of its own of that PIN (`caisse_contracts.pins`, salted scrypt),
and when pos-api is out of reach it checks the PIN against that hash, five wrong PINs in a row locking the cashier
a while as pos-api would. The cashier must also be one of the synced operators: of this shop, and active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from caisse_contracts.config import Role
from hw_proxy.domain.errors import LoginRefusedError


@dataclass(frozen=True, slots=True)
class PinState:
    """The till's hash of a cashier's PIN, and the wrong tries in a row since the last good one."""

    pin_hash: str
    failed_pins: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class Cashier:
    """A cashier logged in on this till."""

    operator_id: UUID
    name: str
    role: Role


def cashier_of(operator: dict[str, Any] | None, operator_id: UUID, shop_id: UUID) -> Cashier:
    """The synced operator, if they may work on a till of this shop; `LoginRefusedError` otherwise."""
    if operator is None or str(operator.get("shop_id")) != str(shop_id):
        raise LoginRefusedError("no such operator in this shop")
    if not operator.get("active", True):
        raise LoginRefusedError("this operator is deactivated")
    role = Role(operator["role"])
    if role is Role.FEDERATION_ADMIN:
        raise LoginRefusedError("a federation admin works in the back office, not at a till")
    return Cashier(operator_id, str(operator["name"]), role)
