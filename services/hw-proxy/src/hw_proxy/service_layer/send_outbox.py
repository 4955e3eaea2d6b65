"""Send what the till owes pos-api, oldest first: a run of session operations through `POST /v1/sync/sessions`, a
run of sales through `POST /v1/sync/sales`, or a run of credit notes through `POST /v1/tickets` one by one (the sync
route takes sales only), then the next run. One queue for both keeps a session's open before
its sales and its close after them.

Each answer settles its entry in one transaction: `created` and `already_exists` mark it sent; `conflict` and a
refusal (`failed` with a 4xx) keep it aside with the reason, visible on the till and to ops, and the queue goes on;
an entry not processed (pos-api or session-service out of reach, a 5xx) stays pending and is sent again later, so
every retry is a replay pos-api recognises by the entry's own ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.session_api import SessionSyncOut
from caisse_contracts.sync import OfflineSale, SyncAnswer
from hw_proxy.domain.outbox import OutboxEntry, Settled, head_run
from hw_proxy.service_layer.ports import CentralApi, CentralRefusedError, CentralUnreachableError, TillStore

log = logging.getLogger(__name__)

SENT = frozenset({"created", "already_exists"})


@dataclass(frozen=True, slots=True)
class Round:
    """What one request did: how many entries it sent, kept aside, and whether pos-api was reached at all."""

    sent: int = 0
    aside: int = 0
    reached: bool = True
    empty: bool = False
    held: bool = False
    """The head of the queue is being sent online right now (`in_flight`): nothing sent, the forward's end wakes
    the sender again."""


async def send_next(
    store: TillStore,
    central: CentralApi,
    *,
    batch_max: int,
    now: datetime,
    in_flight: AbstractSet[str] = frozenset(),
) -> Round:
    """Send the head run of the queue in one request and settle every entry of it. The run stops before an entry
    that is being forwarded online at this moment (`in_flight`: the ids of those tickets), so that a sale is not
    sent twice at once, and the queue keeps its order."""
    run = head_run(await store.pending(batch_max), batch_max)
    if not run:
        return Round(empty=True)
    held = next((n for n, entry in enumerate(run) if entry.ref in in_flight), None)
    if held is not None:
        run = run[:held]
        if not run:
            return Round(held=True)
    try:
        if run[0].kind == "credit_note":
            settled = await _credit_notes_settled(run, central)
        elif run[0].kind == "session":
            settled = _sessions_settled(run, await central.sync_sessions([json.loads(e.payload) for e in run]))
        else:
            sales = [OfflineSale.model_validate_json(e.payload) for e in run]
            settled = _sales_settled(run, await central.sync_sales(sales))
    except CentralUnreachableError as exc:
        await store.settle([Settled(e.seq, "pending", None, str(exc)) for e in run], now)
        return Round(reached=False)
    except CentralRefusedError as refused:  # the whole request refused (413, 401…): nothing of it was written
        log.error("pos-api refuses the till's sync: %s", refused)
        await store.settle([Settled(e.seq, "pending", "refused", str(refused)) for e in run], now)
        return Round(reached=False)
    await store.settle(settled, now)
    sent = sum(s.state == "sent" for s in settled)
    aside = sum(s.state == "aside" for s in settled)
    if aside:
        log.warning("%d entr(ies) of the till's queue kept aside for ops", aside)
    return Round(sent=sent, aside=aside, reached=all(s.state != "pending" for s in settled))


async def _credit_notes_settled(run: list[OutboxEntry], central: CentralApi) -> list[Settled]:
    """Credit notes, one `POST /v1/tickets` each (the sync route takes sales only), in order: one out of reach
    leaves it and those after it pending; a refusal keeps it aside with the reason."""
    settled: list[Settled] = []
    for entry in run:
        try:
            outcome = await central.post_ticket(TicketFinalizedV1.model_validate_json(entry.payload))
        except CentralRefusedError as refused:
            conflict = refused.status == 409
            settled.append(Settled(entry.seq, "aside", "conflict" if conflict else "failed", refused.detail))
            continue
        except CentralUnreachableError:
            if not settled:
                raise
            settled.extend(Settled(e.seq, "pending", None, "pos-api out of reach") for e in run[len(settled) :])
            break
        settled.append(Settled(entry.seq, "sent", outcome))
    return settled


def _sales_settled(run: list[OutboxEntry], answer: SyncAnswer) -> list[Settled]:
    by_index = {r.index: r for r in answer.results}
    settled = []
    for index, entry in enumerate(run):
        result = by_index.get(index)
        if result is None:
            settled.append(Settled(entry.seq, "pending", None, "no answer for this sale"))
        elif result.outcome in SENT:
            settled.append(Settled(entry.seq, "sent", result.outcome))
        else:
            problem = result.problem
            reason = (problem.detail or problem.title) if problem is not None else result.outcome
            settled.append(Settled(entry.seq, "aside", result.outcome, reason))
    return settled


def _sessions_settled(run: list[OutboxEntry], answer: SessionSyncOut) -> list[Settled]:
    by_index = {r.index: r for r in answer.results}
    settled = []
    for index, entry in enumerate(run):
        result = by_index.get(index)
        if result is None:
            settled.append(Settled(entry.seq, "pending", None, "no answer for this operation"))
            continue
        reason = (result.problem.detail or result.problem.title) if result.problem is not None else None
        if result.outcome in SENT:
            settled.append(Settled(entry.seq, "sent", result.outcome))
        elif result.outcome == "failed" and result.status >= 500:
            settled.append(Settled(entry.seq, "pending", None, reason))
        else:
            settled.append(Settled(entry.seq, "aside", result.outcome, reason))
    return settled
