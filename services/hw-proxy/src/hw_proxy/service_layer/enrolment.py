"""The till's enrolment at start: credentials given to it are kept (serial in the store, secret in its 0600 file);
without them, the ones kept before are used. A till enrolled once boots with no secret in its environment."""

from __future__ import annotations

import logging
from datetime import datetime

from hw_proxy.domain.enrolment import DeviceCredentials
from hw_proxy.service_layer.ports import EnrolmentStore, SecretKeeper

log = logging.getLogger(__name__)


async def load_enrolment(
    store: EnrolmentStore, secrets: SecretKeeper, *, given: DeviceCredentials | None, now: datetime
) -> DeviceCredentials | None:
    """The till's credentials: `given` (then kept for the next starts), else those kept, else None (not enrolled).

    The secret is written before the serial: a till stopped between the two has the new secret and, at its next
    start with the same settings, writes both again."""
    if given is not None:
        secrets.write(given.secret)
        await store.enrol(given.serial, now)
        log.info("till enrolled as %s", given.serial)
        return given
    serial = await store.enrolled_serial()
    secret = secrets.read()
    if serial is None or secret is None:
        log.warning("the till is not enrolled: no serial and secret kept, none given")
        return None
    return DeviceCredentials(serial, secret)
