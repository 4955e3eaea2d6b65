"""Pushing into one real Paheko through the pos_bridge plugin with token auth: tickets per second, then close + sync of a
1,000-ticket session.

Needs a Paheko 1.3 with Caisse and the plugin (paheko-plugin/README.md) named by CAISSE_PAHEKO_URL,
CAISSE_PAHEKO_API_USER and CAISSE_PAHEKO_API_PASSWORD; without them it says so and measures nothing. Each ticket has
three lines and one payment (70 % cash, 20 % card, 10 % cheque with its number), as in PAHEKO.md §7. Tickets go one
at a time per session, several sessions at once (tills in parallel), as the bridge pushes them.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

from pydantic import SecretStr

from bench.report import Figure
from caisse_contracts.events import SessionClosedV1
from caisse_contracts.snapshots import load_example
from paheko_bridge.adapters.paheko.client import PahekoPluginClient
from paheko_bridge.adapters.paheko.models import (
    CashCount,
    CategoryMapping,
    MethodMapping,
    ProvisioningRequest,
    SessionCloseRequest,
    TicketLine,
    TicketPayment,
    TicketPush,
)
from paheko_bridge.adapters.paheko.target import PahekoSqlReader, PluginTarget, breakers

TICKETS = 1000
STREAMS = 4
SUSTAINED = 6000
"""Tickets of the throughput phase, about half a minute at the target."""
"""Sessions pushed at once (one per till), each one ticket after the other."""

PROVISIONING = ProvisioningRequest(
    categories=(
        CategoryMapping(key="bench-books", name="Livres (bench)", account="707"),
        CategoryMapping(key="bench-clothes", name="Textile (bench)", account="707"),
        CategoryMapping(key="bench-furniture", name="Mobilier (bench)", account="706"),
    ),
    methods=(
        MethodMapping(key="bench-cash", name="Espèces (bench)", kind="cash", account="530"),
        MethodMapping(key="bench-card", name="Carte (bench)", kind="tracked", account="5115"),
        MethodMapping(key="bench-cheque", name="Chèque (bench)", kind="tracked", account="5112"),
    ),
)


def a_ticket(session: uuid.UUID, number: int, rng: random.Random) -> tuple[TicketPush, int]:
    lines = []
    for category in ("bench-books", "bench-clothes", "bench-furniture"):
        quantity = rng.randint(1, 3)
        unit_price = rng.randint(50, 3000)
        lines.append(
            TicketLine(
                label=category.removeprefix("bench-"),
                category=category,
                quantity=quantity,
                unit_price=unit_price,
                total=quantity * unit_price,
                weight_grams=quantity * rng.randint(100, 5000),
            )
        )
    total = sum(line.total for line in lines)
    draw = rng.random()
    if draw < 0.7:
        payment = TicketPayment(method="bench-cash", amount=total)
    elif draw < 0.9:
        payment = TicketPayment(method="bench-card", amount=total)
    else:
        payment = TicketPayment(method="bench-cheque", amount=total, reference=f"CHQ-{number:06}")
    push = TicketPush(
        session=session,
        number=number,
        label="Bench",
        finalized_at=datetime.now(UTC),
        lines=tuple(lines),
        payments=(payment,),
    )
    return push, total if payment.method == "bench-cash" else 0


async def push_stream(
    plugin: PahekoPluginClient, session: uuid.UUID, count: int, rng: random.Random, latencies: list[float]
) -> int:
    """Push `count` tickets of one session in order; answer the cash they took."""
    cash = 0
    for number in range(1, count + 1):
        push, cash_part = a_ticket(session, number, rng)
        started = time.perf_counter()
        await plugin.push_ticket(uuid.uuid4(), push)
        latencies.append(time.perf_counter() - started)
        cash += cash_part
    return cash


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, user: str, password: str) -> list[Figure]:
    rng = random.Random(6)
    async with PahekoPluginClient(url, user, SecretStr(password), timeout_s=60) as plugin:
        started = time.perf_counter()
        await plugin.health()
        exchange_s = time.perf_counter() - started
        await plugin.provision(PROVISIONING)

        # Throughput: STREAMS sessions at once, TICKETS tickets in all.
        latencies: list[float] = []
        sessions = [uuid.uuid4() for _ in range(STREAMS)]
        started = time.perf_counter()
        cash = await asyncio.gather(*(push_stream(plugin, s, SUSTAINED // STREAMS, rng, latencies) for s in sessions))
        elapsed = time.perf_counter() - started
        rate = len(latencies) / elapsed
        closes = [
            plugin.close_session(
                s,
                SessionCloseRequest(
                    ticket_count=SUSTAINED // STREAMS, cash=(CashCount(method="bench-cash", counted=c, opening=0),)
                ),
            )
            for s, c in zip(sessions, cash, strict=True)
        ]
        for close in closes:
            await close

        # Close + sync of one session of TICKETS tickets.
        big = uuid.uuid4()
        sequential: list[float] = []
        big_cash = await push_stream(plugin, big, TICKETS, rng, sequential)
        started = time.perf_counter()
        closed = await plugin.close_session(
            big,
            SessionCloseRequest(
                ticket_count=TICKETS, cash=(CashCount(method="bench-cash", counted=big_cash, opening=0),)
            ),
        )
        close_s = time.perf_counter() - started
        assert closed.transaction is not None
        assert closed.transaction.balanced
        # The bridge's reconciliation reads the entry back through /api/sql (one query, one credential check).
        reader = PahekoSqlReader(url, user, SecretStr(password), transport=None)
        target = PluginTarget(plugin, reader, breakers(), circuit="bench")
        started = time.perf_counter()
        ledger = await target.ledger(load_example(SessionClosedV1).data.model_copy(update={"session_id": big}))
        reconcile_s = time.perf_counter() - started
        await reader.aclose()
        assert ledger.tickets == TICKETS
        assert sum(line.debit for line in ledger.lines) == sum(line.credit for line in ledger.lines)
        sys.stdout.write(
            f"  token exchange (one bcrypt) {exchange_s * 1000:.0f} ms; {STREAMS} streams: {rate:.0f} tickets/s, "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms p99 {percentile(latencies, 99) * 1000:.1f} ms; "
            f"1 stream: {len(sequential) / sum(sequential):.0f} tickets/s p50 {statistics.median(sequential) * 1000:.1f} ms; "
            f"close + sync of {TICKETS} tickets {close_s * 1000:.0f} ms, {len(closed.transaction.lines)} lines, "
            f"{closed.transaction.reference}\n"
        )
    return [
        Figure(
            f"Paheko push, token auth, {STREAMS} tills",
            rate,
            "tickets/s",
            200,
            higher_is_better=True,
            runs=len(latencies),
            spread=f"{len(latencies)} tickets in {elapsed:.0f} s, p99 {percentile(latencies, 99) * 1000:.0f} ms",
        ),
        Figure(
            f"Paheko close + sync + reconcile, {TICKETS} tickets",
            (close_s + reconcile_s) * 1000,
            "ms",
            1000,
            spread=f"close + sync {close_s * 1000:.0f} ms, reconcile {reconcile_s * 1000:.0f} ms",
        ),
    ]


def run() -> list[Figure]:
    url = os.environ.get("CAISSE_PAHEKO_URL", "")
    user = os.environ.get("CAISSE_PAHEKO_API_USER", "")
    password = os.environ.get("CAISSE_PAHEKO_API_PASSWORD", "")
    if not (url and user and password):
        sys.stdout.write(
            "  paheko_push DID NOT RUN: set CAISSE_PAHEKO_URL, CAISSE_PAHEKO_API_USER, CAISSE_PAHEKO_API_PASSWORD\n"
        )
        return []
    return asyncio.run(measure(url, user, password))
