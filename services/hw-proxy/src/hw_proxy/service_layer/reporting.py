"""What the till tells pos-api of itself, for ops: its own last number, a number clash, how much it still owes,
and the entries of its queue that pos-api refused and that it keeps aside (`PUT /v1/till/report`)."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from caisse_contracts.till_reports import ASIDE_REPORTED_MAX, AsideEntry, TillReport
from hw_proxy.domain.outbox import OutboxEntry
from hw_proxy.service_layer.ports import CentralApi, CentralRefusedError, CentralUnreachableError, TillStore
from hw_proxy.service_layer.till_state import TillState

log = logging.getLogger(__name__)

REASON_MAX = 2000


def _aside_entry(entry: OutboxEntry) -> AsideEntry:
    number = json.loads(entry.payload).get("number") if entry.kind != "session" else None
    return AsideEntry(
        seq=entry.seq,
        kind=entry.kind,
        ref=entry.ref,
        number=number if isinstance(number, int) and number >= 1 else None,
        outcome="conflict" if entry.outcome == "conflict" else "failed",
        reason=(entry.reason or entry.outcome or "")[:REASON_MAX],
        enqueued_at=entry.enqueued_at,
    )


async def till_report(store: TillStore, state: TillState, now: datetime) -> TillReport:
    """The till's report as of `now`, from its store and its in-memory state."""
    counts = await store.queue_counts()
    aside = await store.aside()
    return TillReport(
        reported_at=now,
        local_last_number=await store.last_number(),
        number_clash=state.number_clash,
        pending=counts.pending_sessions + counts.pending_sales,
        aside_count=len(aside),
        aside=tuple(_aside_entry(e) for e in aside[:ASIDE_REPORTED_MAX]),
    )


async def report_to_ops(store: TillStore, central: CentralApi, state: TillState, now: datetime) -> bool:
    """Send the till's report; False when pos-api could not take it (it is sent again at the next occasion)."""
    report = await till_report(store, state, now)
    try:
        await central.report(report)
    except CentralUnreachableError as exc:
        log.info("the till's report waits for pos-api (%s)", exc)
        return False
    except CentralRefusedError as refused:
        log.error("pos-api refuses the till's report: %s", refused)
        return False
    return True
