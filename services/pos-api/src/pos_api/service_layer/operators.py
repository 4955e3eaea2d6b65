"""Use cases of cashiers: a PIN set from the back office, and the cashier's login on a till of their shop."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from caisse_contracts.config import Role
from caisse_contracts.events import EntityType
from caisse_contracts.pins import hash_pin, locked_until_after_failure, pin_matches, valid_pin
from pos_api.domain.config import Actor, authorize
from pos_api.domain.errors import InvalidReferenceError, NotFoundError, OperatorLockedError, UnauthenticatedError
from pos_api.domain.till import Device
from pos_api.service_layer.services import Services


@dataclass(frozen=True, slots=True)
class LoggedIn:
    operator_id: UUID
    name: str
    role: Role


async def set_pin(operator_id: UUID, pin: str, actor: Actor, services: Services) -> None:
    if not valid_pin(pin):
        raise InvalidReferenceError("pin", "is 4 to 8 digits")
    async with services.uow() as work:
        operator = await work.config.get(operator_id, for_update=True)
        if operator is None or operator.deleted or operator.entity_type is not EntityType.OPERATOR:
            raise NotFoundError("operator", str(operator_id))
        authorize(actor, EntityType.OPERATOR, operator.hierarchy, write=True)
        if Role(operator.item["role"]) is Role.FEDERATION_ADMIN:
            raise InvalidReferenceError("operator_id", "a federation admin works in the back office, not at a till")
        await work.credentials.set_pin(operator_id, hash_pin(pin), services.clock())
        await work.commit()


async def cashier_login(device: Device, operator_id: UUID, pin: str, services: Services) -> LoggedIn:
    """The operator, if they work in this till's shop and typed their PIN; five wrong PINs lock them a while."""
    now = services.clock()
    async with services.uow() as work:
        operator = await work.config.get(operator_id)
        if operator is None or operator.deleted or operator.hierarchy.shop_id != device.shop_id:
            raise UnauthenticatedError("no such operator in this shop")
        if not operator.item.get("active", True):
            raise UnauthenticatedError("this operator is deactivated")
        state = await work.credentials.pin_state(operator_id)
        if state is None or state.pin_hash is None:
            raise UnauthenticatedError("this operator has no PIN yet")
        if state.locked_until is not None and state.locked_until > now:
            raise OperatorLockedError(operator_id, state.locked_until)
        if not pin_matches(pin, state.pin_hash):
            failures = state.failed_pins + 1
            locked = locked_until_after_failure(failures, now)
            await work.credentials.pin_tried(operator_id, failed_pins=0 if locked else failures, locked_until=locked)
            await work.commit()
            if locked is not None:
                raise OperatorLockedError(operator_id, locked)
            raise UnauthenticatedError("wrong PIN")
        if state.failed_pins or state.locked_until:
            await work.credentials.pin_tried(operator_id, failed_pins=0, locked_until=None)
            await work.commit()
    return LoggedIn(operator_id, operator.item["name"], Role(operator.item["role"]))
