"""Event payloads by type and version; `PAYLOADS` is the registry that snapshots, examples and decoders use."""

from __future__ import annotations

from typing import Final

from caisse_contracts.envelope import Payload
from caisse_contracts.events.config import ConfigChangedV1, EntityType, PatchOperationV1
from caisse_contracts.events.paheko import (
    PahekoReconciliationFailedV1,
    PahekoSessionSyncedV1,
    PahekoTicketPushedV1,
    ReconciledAmountV1,
)
from caisse_contracts.events.presence import PresenceKind, TillPresenceV1
from caisse_contracts.events.sessions import (
    CashMovementV1,
    CategoryTotalV1,
    ChequeV1,
    DenominationCountV1,
    MethodTotalV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    SessionOpenedV1,
)
from caisse_contracts.events.stock import StockMovedV1, StockReason
from caisse_contracts.events.tickets import (
    CategoryWeightV1,
    LineKind,
    PaymentMethod,
    PaymentV1,
    TaxTotalV1,
    TicketFinalizedV1,
    TicketKind,
    TicketLineV1,
)

PAYLOADS: Final[tuple[type[Payload], ...]] = (
    TicketFinalizedV1,
    SessionOpenedV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    ConfigChangedV1,
    StockMovedV1,
    PahekoTicketPushedV1,
    PahekoSessionSyncedV1,
    PahekoReconciliationFailedV1,
    TillPresenceV1,
)


def payload_class(event_type: str, version: int) -> type[Payload]:
    for cls in PAYLOADS:
        if event_type == cls.EVENT_TYPE and version == cls.VERSION:
            return cls
    raise KeyError(f"{event_type} v{version}")


__all__ = [
    "PAYLOADS",
    "CashMovementV1",
    "CategoryTotalV1",
    "CategoryWeightV1",
    "ChequeV1",
    "ConfigChangedV1",
    "DenominationCountV1",
    "EntityType",
    "LineKind",
    "MethodTotalV1",
    "PahekoReconciliationFailedV1",
    "PahekoSessionSyncedV1",
    "PahekoTicketPushedV1",
    "PatchOperationV1",
    "PaymentMethod",
    "PaymentV1",
    "PresenceKind",
    "ReconciledAmountV1",
    "SessionClosedV1",
    "SessionDepositConfirmedV1",
    "SessionOpenedV1",
    "StockMovedV1",
    "StockReason",
    "TaxTotalV1",
    "TicketFinalizedV1",
    "TicketKind",
    "TicketLineV1",
    "TillPresenceV1",
    "payload_class",
]
