"""The demo of the spine: a sale recorded by pos-api is counted by session-service through Kafka, once."""

from __future__ import annotations

import sys
import time
import uuid

import httpx

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.snapshots import load_example
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME


def run(inst: Instance, timeout_s: float = 30.0) -> dict[str, object]:
    """Record the example ticket (10.00 €, two second-hand items, cash) and wait until it is counted."""
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    session_service = f"http://127.0.0.1:{BY_NAME['session-service'].port(inst)}"
    ticket = load_example(TicketFinalizedV1).data.model_copy(
        update={"ticket_id": uuid.uuid4(), "session_id": uuid.uuid4(), "pos_id": uuid.uuid4(), "number": 1}
    )
    response = httpx.post(f"{pos_api}/v1/tickets", json=ticket.model_dump(mode="json"), timeout=10)
    response.raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counted = httpx.get(f"{session_service}/v1/tickets/{ticket.ticket_id}", timeout=5)
        if counted.status_code == 200:
            totals = httpx.get(f"{session_service}/v1/sessions/{ticket.session_id}/totals", timeout=5).json()
            sys.stdout.write(
                f"demo: ticket {ticket.ticket_id} recorded by pos-api and counted by session-service\n"
                f"      {session_service}/v1/tickets/{ticket.ticket_id}\n"
                f"      {session_service}/v1/sessions/{ticket.session_id}/totals "
                f"→ {totals['ticket_count']} ticket, {totals['total_incl_tax']} cents\n"
            )
            result: dict[str, object] = counted.json()
            return result
        time.sleep(0.2)
    raise SystemExit(f"demo: ticket {ticket.ticket_id} was not counted within {timeout_s:.0f}s")
