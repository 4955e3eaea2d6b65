"""The demo of `make up`: the demo shops and tills, then a sale recorded by pos-api and counted by session-service."""

from __future__ import annotations

import sys
import time
import uuid

import httpx

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.ids import new_id
from caisse_contracts.snapshots import load_example
from caisse_stack import demo_data
from caisse_stack.demo_data import Demo
from caisse_stack.layout import Instance
from caisse_stack.services import BY_NAME, admin_token, card_terminal_port, service_token


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def ensure_demo_data(inst: Instance) -> Demo:
    """Load the demo hierarchy and catalogue once per instance; the tills' secrets are kept beside it."""
    path = inst.folder / "demo.json"
    if path.is_file():
        return Demo.load(path)
    demo = demo_data.load(
        f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}",
        admin_token(inst),
        card_terminal_port=card_terminal_port(inst),
    )
    demo.save(path)
    return demo


def run(inst: Instance, timeout_s: float = 30.0) -> dict[str, object]:
    """Record the example ticket (10.00 €, two second-hand items, cash) from a demo till; wait until counted."""
    demo = ensure_demo_data(inst)
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    session_service = f"http://127.0.0.1:{BY_NAME['session-service'].port(inst)}"
    # the second till of the shop: the first is hw-proxy's own (`services.demo_till`), whose numbers stay its own
    till = demo.tills[1]
    headers = {"X-Device-Serial": till.serial, "X-Device-Secret": till.secret}
    boot = httpx.get(f"{pos_api}/v1/pos-data", headers=headers, timeout=10).raise_for_status().json()
    ticket = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": new_id(),
            "session_id": new_id(),
            "pos_id": uuid.UUID(till.pos_id),
            "shop_id": uuid.UUID(till.shop_id),
            "company_id": uuid.UUID(boot["company"]["id"]),
            "territory_id": uuid.UUID(boot["territory"]["id"]),
            "number": (boot["last_ticket_number"] or 0) + 1,
            # a ticket names a cashier of its shop, or nobody: the example's operator is none of the demo's
            "operator_id": uuid.UUID(demo.cashiers[till.shop_id]) if till.shop_id in demo.cashiers else None,
        }
    )
    httpx.post(
        f"{pos_api}/v1/tickets", json=ticket.model_dump(mode="json"), headers=headers, timeout=10
    ).raise_for_status()
    as_pos_api = {"Authorization": f"Bearer {service_token(inst)}"}  # session-service answers pos-api only
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counted = httpx.get(f"{session_service}/v1/tickets/{ticket.ticket_id}", headers=as_pos_api, timeout=5)
        if counted.status_code == 200:
            totals = httpx.get(
                f"{session_service}/v1/sessions/{ticket.session_id}/totals", headers=as_pos_api, timeout=5
            ).json()
            _say(
                f"demo: {len(demo.tills)} tills in {len(demo.shops)} shops; back-office token in {inst.folder / 'admin-token'}"
            )
            _say(f"      till secrets in {inst.folder / 'demo.json'}; {boot['shop']['name']} boots {boot['status']}")
            _say(f"      ticket {ticket.number} of {till.serial} recorded by pos-api and counted by session-service:")
            _say(
                f"      {session_service}/v1/sessions/{ticket.session_id}/totals → {totals['ticket_count']} ticket, {totals['total_incl_tax']} cents"
            )
            result: dict[str, object] = counted.json()
            return result
        time.sleep(0.2)
    raise SystemExit(f"demo: ticket {ticket.ticket_id} was not counted within {timeout_s:.0f}s")
