"""What the till knows on this run only, besides its store: its identity, the cashier logged in, whether the open
session was opened or continued on this run (WORKING), a number clash found at boot, and the card operations being
sent to the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from hw_proxy.domain.config_views import ConfigViews
from hw_proxy.domain.enrolment import DeviceIdentity
from hw_proxy.domain.login import Cashier


@dataclass
class TillState:
    """The till's in-memory state; a restart starts it over (the session then waits to be continued)."""

    identity: DeviceIdentity = field(default_factory=DeviceIdentity)
    working: bool = False
    cashier: Cashier | None = None
    number_clash: str | None = None
    views: ConfigViews = field(default_factory=ConfigViews)
    """The place and catalogue parsed from the config cache, kept while it stays the same."""
    card_in_flight: set[UUID] = field(default_factory=set)
    """The card operations with the terminal right now (a pending one not in it was cut short by a restart)."""
