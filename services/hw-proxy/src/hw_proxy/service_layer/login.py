"""A cashier logs in on the till with their PIN: pos-api checks it when it answers (and the till learns the PIN's
hash); when it does not, the till checks the PIN against what it learned, with pos-api's lock rules
(`domain.login`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from uuid import UUID

from caisse_contracts.events.config import EntityType
from caisse_contracts.pins import hash_pin, locked_until_after_failure, pin_matches
from hw_proxy.domain.errors import LoginRefusedError, OperatorLockedError
from hw_proxy.domain.login import Cashier, cashier_of
from hw_proxy.domain.till_status import TillStatus
from hw_proxy.service_layer.boot import ready_to
from hw_proxy.service_layer.ports import CentralApi, CentralRefusedError, CentralUnreachableError, TillStore
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)


async def log_in(
    store: TillStore, central: CentralApi, state: TillState, operator_id: UUID, pin: str, now: datetime
) -> Cashier:
    """The cashier, logged in on this till; `LoginRefusedError` or `OperatorLockedError` otherwise."""
    view = await ready_to(store, state, TillStatus.READY_OPEN, TillStatus.READY_CONTINUE, TillStatus.WORKING)
    assert view.place is not None  # noqa: S101 (a till past BOOTING knows its place)
    operators = {i.key.entity_id: i.item for i in await store.items() if i.key.entity_type is EntityType.OPERATOR}
    cashier = cashier_of(operators.get(operator_id), operator_id, view.place.shop.id)
    try:
        await central.cashier_login(operator_id, pin)
    except CentralRefusedError as refused:
        if refused.status == 429:
            until = refused.body.get("locked_until")
            raise OperatorLockedError(operator_id, datetime.fromisoformat(until) if until else now) from None
        raise LoginRefusedError(refused.detail or "pos-api refuses the login") from None
    except CentralUnreachableError:
        await _check_offline(store, operator_id, pin, now)
    else:
        await store.learn_pin(operator_id, await asyncio.to_thread(hash_pin, pin), now)
    state.cashier = cashier
    log.info("cashier %s logged in", operator_id)
    return cashier


async def _check_offline(store: TillStore, operator_id: UUID, pin: str, now: datetime) -> None:
    known = await store.pin_state(operator_id)
    if known is None:
        raise LoginRefusedError("pos-api is out of reach and this cashier never logged in on this till online")
    if known.locked_until is not None and known.locked_until > now:
        raise OperatorLockedError(operator_id, known.locked_until)
    if not await asyncio.to_thread(pin_matches, pin, known.pin_hash):
        failures = known.failed_pins + 1
        locked = locked_until_after_failure(failures, now)
        await store.pin_tried(operator_id, failed_pins=0 if locked else failures, locked_until=locked)
        if locked is not None:
            raise OperatorLockedError(operator_id, locked)
        raise LoginRefusedError("wrong PIN")
    if known.failed_pins or known.locked_until:
        await store.pin_tried(operator_id, failed_pins=0, locked_until=None)
