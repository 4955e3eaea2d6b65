"""The bridge's use cases on fakes: every ticket stored once, pushed in order per POS, nothing lost while Paheko is
down, refusals dead-lettered, sessions closed only when complete and reconciled against what Paheko wrote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from caisse_contracts.envelope import Envelope, Payload
from caisse_contracts.events import (
    CategoryTotalV1,
    MethodTotalV1,
    PahekoReconciliationFailedV1,
    PahekoSessionSyncedV1,
    PahekoTicketPushedV1,
    PaymentMethod,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    TicketFinalizedV1,
)
from caisse_contracts.snapshots import load_example
from paheko_bridge.adapters.memory import FakePaheko, FakeTargets, InMemoryFecJournal, InMemoryUnitOfWork, MemoryState
from paheko_bridge.domain.fec import SourceKind
from paheko_bridge.domain.pushes import Backoff, CloseStatus, DepositStatus, PushStatus
from paheko_bridge.domain.reconciliation import LedgerLine
from paheko_bridge.service_layer.accept import accept
from paheko_bridge.service_layer.close import close_ready
from paheko_bridge.service_layer.deposit import deposits_ready
from paheko_bridge.service_layer.ports import (
    UnitOfWork,
)
from paheko_bridge.service_layer.push import push_due, replay
from paheko_bridge.service_layer.services import BridgeServices

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PAHEKO_COMPANY = uuid.UUID("5c2f8e1a-3b6d-4c9e-8f7a-1d2e3f4a5b02")
FEC_COMPANY = uuid.UUID("00000000-0000-4000-8000-00000000fec0")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    state: MemoryState
    paheko: FakePaheko
    fec: InMemoryFecJournal
    clock: Clock
    services: BridgeServices

    def events(self, kind: type[Payload]) -> list[Any]:
        return [env.data for _, env in self.state.events if isinstance(env.data, kind)]


@pytest.fixture
def world() -> World:
    state, paheko, fec, clock = MemoryState(), FakePaheko(), InMemoryFecJournal(), Clock()

    def uow() -> UnitOfWork:
        return InMemoryUnitOfWork(state)

    services = BridgeServices(
        uow=uow,
        targets=FakeTargets(paheko, paheko_companies={PAHEKO_COMPANY}),
        fec=fec,
        clock=clock,
        new_id=uuid.uuid4,
        backoff=Backoff(first_s=1.0, max_s=60.0),
    )
    return World(state, paheko, fec, clock, services)


SESSION = uuid.UUID("7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2905")


def ticket(pos: UUID, number: int, company: UUID = PAHEKO_COMPANY) -> Envelope[TicketFinalizedV1]:
    data = load_example(TicketFinalizedV1).data.model_copy(
        update={
            "ticket_id": uuid.uuid4(),
            "pos_id": pos,
            "number": number,
            "company_id": company,
            "session_id": SESSION,
        }
    )
    return Envelope[TicketFinalizedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


def spec_session(pos: UUID, company: UUID = PAHEKO_COMPANY) -> Envelope[SessionClosedV1]:
    """PAHEKO.md §3's verified example: tab 1 = 10.75 € in cash, tab 2 = 5.00 € by cheque, cash counted 1.00 € short."""
    data = load_example(SessionClosedV1).data.model_copy(
        update={
            "session_id": SESSION,
            "company_id": company,
            "pos_id": pos,
            "first_ticket_number": 1,
            "last_ticket_number": 2,
            "ticket_count": 2,
            "totals_by_method": (
                MethodTotalV1(method=PaymentMethod.CASH, amount=1075, count=1),
                MethodTotalV1(method=PaymentMethod.CHEQUE, amount=500, count=1),
            ),
            "totals_by_category": (CategoryTotalV1(category_id=uuid.uuid4(), revenue_account="707", amount=1575),),
            "cash_rounding": 0,
            "variance": -100,
        }
    )
    return Envelope[SessionClosedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


# The lines Caisse's sync wrote for that session (PAHEKO.md §3), in cents, its shortage on 678 moved by the plugin
# to the company's shortage account (658 in the default mapping).
SPEC_LINES = (
    LedgerLine("5112", 500, 0),
    LedgerLine("530", 1075, 0),
    LedgerLine("707", 0, 1575),
    LedgerLine("530", 0, 100),
    LedgerLine("658", 100, 0),
)


async def test_a_redelivered_event_is_stored_once(world: World) -> None:
    envelope = ticket(uuid.uuid4(), 1)
    assert await accept([envelope], world.services) == 1
    assert await accept([envelope, envelope], world.services) == 0
    assert len(world.state.pushes) == 1


async def test_tickets_reach_paheko_in_number_order_per_pos_and_each_is_announced(world: World) -> None:
    pos_a, pos_b = uuid.uuid4(), uuid.uuid4()
    await accept([ticket(pos_a, 2), ticket(pos_b, 1), ticket(pos_a, 1), ticket(pos_a, 3)], world.services)
    assert await push_due(world.services) == 4
    assert [n for pos, n in world.paheko.tickets if pos == pos_a] == [1, 2, 3]
    pushed = world.events(PahekoTicketPushedV1)
    assert sorted((e.pos_id == pos_a, e.number) for e in pushed) == [(False, 1), (True, 1), (True, 2), (True, 3)]
    assert all(e.target == "paheko" and e.attempts == 1 for e in pushed)
    assert await push_due(world.services) == 0  # nothing twice


async def test_paheko_down_loses_nothing_backs_off_and_everything_arrives_once_when_it_is_back(world: World) -> None:
    pos = uuid.uuid4()
    await accept([ticket(pos, n) for n in (1, 2, 3)], world.services)
    world.paheko.down = True
    assert await push_due(world.services) == 0
    rows = sorted((row for row, _ in world.state.pushes.values()), key=lambda r: r.number)
    assert rows[0].attempts == 1
    assert rows[0].last_error == "connection refused"
    assert rows[0].next_attempt_at > NOW  # backed off
    assert [r.attempts for r in rows[1:]] == [0, 0]  # the chain stopped at the first: order is kept
    assert await push_due(world.services) == 0  # still backing off: not even tried
    world.paheko.down = False
    assert await push_due(world.services) == 0  # Paheko is back, but 2 and 3 never overtake 1
    assert world.paheko.tickets == []
    world.clock.now = NOW + timedelta(minutes=5)
    assert await push_due(world.services) == 1  # after an outage, one ticket per POS probes Paheko
    assert await push_due(world.services) == 2  # it answered: the rest follows
    assert world.paheko.tickets == [(pos, 1), (pos, 2), (pos, 3)]


async def test_once_paheko_takes_a_ticket_again_every_waiting_ticket_and_close_goes_whatever_its_grown_delay(
    world: World,
) -> None:
    """Till A's first ticket failed through the whole outage and waits a long backoff; till B's waits a short one.
    B's first ticket is the probe that finds Paheko back: the next round takes A's tickets in number order (and
    B's next one), not when A's own delay ends."""
    till_a, till_b = uuid.uuid4(), uuid.uuid4()
    await accept([ticket(till_a, 1), ticket(till_a, 2)], world.services)
    world.paheko.down = True
    for _ in range(8):  # A's first ticket fails again at each of its tries: its delay grows to the cap
        world.clock.now = world.state.pushes[_first_of(world, till_a)][0].next_attempt_at
        assert await push_due(world.services) == 0
    await accept([ticket(till_b, 1), ticket(till_b, 2)], world.services)
    assert await push_due(world.services) == 0  # B's first try: Paheko still down, B backs off a little
    a_due = world.state.pushes[_first_of(world, till_a)][0].next_attempt_at
    b_due = world.state.pushes[_first_of(world, till_b)][0].next_attempt_at
    assert a_due - b_due > timedelta(seconds=20), (a_due, b_due)
    world.paheko.down = False
    world.clock.now = b_due
    assert await push_due(world.services) == 1  # B's first ticket alone probes Paheko: it answers again
    assert await push_due(world.services) == 3  # at once, A's chain in order, and B's next ticket
    assert [n for pos, n in world.paheko.tickets if pos == till_a] == [1, 2]
    assert [n for pos, n in world.paheko.tickets if pos == till_b] == [1, 2]


async def test_once_paheko_takes_a_ticket_again_a_close_waiting_for_its_backoff_goes_at_once(world: World) -> None:
    till_a, till_b = uuid.uuid4(), uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    await accept([ticket(till_a, 1), ticket(till_a, 2), spec_session(till_a)], world.services)
    assert await push_due(world.services) == 2
    world.paheko.down = True
    for _ in range(8):  # the close fails at each of its tries: its delay grows to the cap
        world.clock.now = world.state.closes[SESSION].next_attempt_at
        assert [p.status for p in await close_ready(world.services)] == [CloseStatus.WAITING]
    assert world.state.closes[SESSION].next_attempt_at - world.clock.now > timedelta(seconds=20)
    world.paheko.down = False
    await accept([ticket(till_b, 1)], world.services)
    assert await push_due(world.services) == 1  # Paheko answers again
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.SYNCED]


def _first_of(world: World, pos: UUID) -> UUID:
    return min((row for row, _ in world.state.pushes.values() if row.pos_id == pos), key=lambda r: r.number).ticket_id


async def test_a_refused_ticket_is_dead_lettered_with_its_reason_and_replayed_on_demand(world: World) -> None:
    pos = uuid.uuid4()
    envelopes = [ticket(pos, n) for n in (1, 2)]
    world.paheko.refuse[envelopes[0].data.ticket_id] = "422 invalid: lines[0].category unknown"
    await accept(envelopes, world.services)
    assert await push_due(world.services) == 1  # the next ticket of the POS still goes
    dead = [row for row, _ in world.state.pushes.values() if row.status is PushStatus.REJECTED]
    assert [(r.number, r.last_error) for r in dead] == [(1, "422 invalid: lines[0].category unknown")]
    world.paheko.refuse.clear()
    assert await replay(None, world.services) == 1
    assert await push_due(world.services) == 1
    assert sorted(n for _, n in world.paheko.tickets) == [1, 2]


async def test_a_session_closes_only_once_all_its_tickets_are_in_then_reconciles_equal(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    await accept([ticket(pos, 1), spec_session(pos)], world.services)
    await push_due(world.services)
    progress = await close_ready(world.services)
    assert [(p.status, p.missing) for p in progress] == [(CloseStatus.WAITING, (2,))]
    assert world.paheko.closed == []
    await accept([ticket(pos, 2)], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.SYNCED]
    assert world.paheko.closed == [SESSION]
    synced = world.events(PahekoSessionSyncedV1)
    assert [(s.transaction_reference, s.target) for s in synced] == [("POS-SESSION-7", "paheko")]
    assert await close_ready(world.services) == []  # settled: never closed twice


async def test_a_mismatch_in_paheko_is_reported_with_each_difference(world: World) -> None:
    pos = uuid.uuid4()
    altered = (*SPEC_LINES[:2], LedgerLine("707", 0, 1570), *SPEC_LINES[3:])
    world.paheko.lines, world.paheko.tabs = altered, 1
    await accept([ticket(pos, 1), ticket(pos, 2), spec_session(pos)], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.MISMATCH]
    (failed,) = world.events(PahekoReconciliationFailedV1)
    assert [(d.what, d.ours, d.theirs) for d in failed.differences] == [
        ("account:707", -1575, -1570),
        ("ticket_count", 2, 1),
    ]
    assert world.state.closes[SESSION].status is CloseStatus.MISMATCH


async def test_paheko_down_at_close_retries_later(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    await accept([ticket(pos, 1), ticket(pos, 2), spec_session(pos)], world.services)
    await push_due(world.services)
    world.paheko.down = True
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.WAITING]
    assert world.state.closes[SESSION].last_error == "connection refused"
    world.paheko.down = False
    world.clock.now = NOW + timedelta(minutes=5)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.SYNCED]


async def test_a_company_without_paheko_books_to_the_fec_file(world: World) -> None:
    pos = uuid.uuid4()
    envelopes = [ticket(pos, 1, FEC_COMPANY), ticket(pos, 2, FEC_COMPANY)]
    await accept([*envelopes, spec_session(pos, FEC_COMPANY)], world.services)
    assert await push_due(world.services) == 2
    assert world.fec.sources(SourceKind.TICKET) == [e.data.ticket_id for e in envelopes]
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.BOOKED]
    assert world.fec.sources(SourceKind.SESSION_VARIANCE) == [SESSION]
    assert {e.target for e in world.events(PahekoTicketPushedV1)} == {"fec"}
    assert world.paheko.tickets == []


async def test_a_category_remapped_since_the_sale_is_reconciled_under_its_account_of_today(world: World) -> None:
    pos = uuid.uuid4()
    session = spec_session(pos)
    [category] = session.data.totals_by_category
    sold_under_7071 = session.data.model_copy(
        update={"totals_by_category": (category.model_copy(update={"revenue_account": "7071"}),)}
    )
    remapped = Envelope[SessionClosedV1].wrap(sold_under_7071, event_id=uuid.uuid4(), occurred_at=NOW, source="t")
    assert isinstance(world.services.targets, FakeTargets)
    world.services.targets.category_account[category.category_id] = "707"  # as Caisse books it after the remap
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    await accept([ticket(pos, 1), ticket(pos, 2), remapped], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.SYNCED]


async def test_a_fec_batch_with_a_refused_ticket_books_the_others_and_dead_letters_that_one(world: World) -> None:
    pos = uuid.uuid4()
    envelopes = [ticket(pos, n, FEC_COMPANY) for n in (1, 2, 3)]
    # Ticket 2 says it was paid one cent more than it sold: its entry cannot balance (domain.fec's rule).
    sold = envelopes[1].data
    overpaid = sold.model_copy(
        update={"payments": (sold.payments[0].model_copy(update={"amount": sold.payments[0].amount + 1}),)}
    )
    envelopes[1] = Envelope[TicketFinalizedV1].wrap(overpaid, event_id=uuid.uuid4(), occurred_at=NOW, source="test")
    await accept(envelopes, world.services)
    assert await push_due(world.services) == 2
    assert world.fec.sources(SourceKind.TICKET) == [envelopes[0].data.ticket_id, envelopes[2].data.ticket_id]
    dead = [row for row, _ in world.state.pushes.values() if row.status is PushStatus.REJECTED]
    assert [(d.number, d.last_error) for d in dead] == [
        (2, f"FEC: entry of {overpaid.ticket_id} is off by 1 minor units (debits - credits)")
    ]


async def test_a_shortage_left_on_caisse_s_678_is_a_mismatch_naming_the_company_s_account(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = (*SPEC_LINES[:4], LedgerLine("678", 100, 0)), 2
    await accept([ticket(pos, 1), ticket(pos, 2), spec_session(pos)], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.MISMATCH]
    (failed,) = world.events(PahekoReconciliationFailedV1)
    assert [(d.what, d.ours, d.theirs) for d in failed.differences] == [
        ("account:658", 100, 0),
        ("account:678", 0, 100),
    ]


def vat_spec_session(pos: UUID) -> Envelope[SessionClosedV1]:
    """Two example tickets (a coat at 20 %: 8.00 € of which 1.33 € VAT; a book at 5.5 %: 2.00 € of which 0.10 €),
    paid 20.00 € in cash, counted 1.00 € short."""
    line = load_example(TicketFinalizedV1).data.lines
    data = spec_session(pos).data.model_copy(
        update={
            "totals_by_method": (MethodTotalV1(method=PaymentMethod.CASH, amount=2000, count=2),),
            "totals_by_category": (
                CategoryTotalV1(category_id=line[0].category_id, revenue_account="7071", amount=1600),
                CategoryTotalV1(category_id=line[1].category_id, revenue_account="7072", amount=400),
            ),
        }
    )
    return Envelope[SessionClosedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


# What the plugin leaves in Paheko for that session of a VAT-subject company: Caisse's entry (revenue tax included,
# the shortage moved to 658) and the VAT entry moving each rate's VAT from the revenue to 44571.
VAT_LINES = (
    LedgerLine("530", 2000, 0),
    LedgerLine("7071", 0, 1600),
    LedgerLine("7072", 0, 400),
    LedgerLine("530", 0, 100),
    LedgerLine("658", 100, 0),
    LedgerLine("7071", 266, 0),
    LedgerLine("7072", 20, 0),
    LedgerLine("44571", 0, 286),
)


async def test_a_vat_subject_session_reconciles_its_vat_per_rate(world: World) -> None:
    pos = uuid.uuid4()
    assert isinstance(world.services.targets, FakeTargets)
    world.services.targets.vat_subject_companies.add(PAHEKO_COMPANY)
    world.paheko.lines, world.paheko.tabs, world.paheko.vat_by_rate = VAT_LINES, 2, {2000: 266, 550: 20}
    await accept([ticket(pos, 1), ticket(pos, 2), vat_spec_session(pos)], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.SYNCED]
    (synced,) = world.events(PahekoSessionSyncedV1)
    assert {(c.what, c.ours, c.theirs) for c in synced.checked if c.what.startswith("vat:")} == {
        ("vat:2000", 266, 266),
        ("vat:550", 20, 20),
    }


async def test_a_vat_subject_session_booked_tax_included_without_vat_is_a_mismatch(world: World) -> None:
    pos = uuid.uuid4()
    assert isinstance(world.services.targets, FakeTargets)
    world.services.targets.vat_subject_companies.add(PAHEKO_COMPANY)
    world.paheko.lines, world.paheko.tabs = VAT_LINES[:5], 2
    await accept([ticket(pos, 1), ticket(pos, 2), vat_spec_session(pos)], world.services)
    await push_due(world.services)
    assert [p.status for p in await close_ready(world.services)] == [CloseStatus.MISMATCH]
    (failed,) = world.events(PahekoReconciliationFailedV1)
    assert [(d.what, d.ours, d.theirs) for d in failed.differences] == [
        ("account:44571", -286, 0),
        ("account:7071", -1334, -1600),
        ("account:7072", -380, -400),
        ("vat:550", 20, 0),
        ("vat:2000", 266, 0),
    ]


def deposit(pos: UUID, company: UUID = PAHEKO_COMPANY) -> Envelope[SessionDepositConfirmedV1]:
    data = load_example(SessionDepositConfirmedV1).data.model_copy(
        update={"session_id": SESSION, "company_id": company, "pos_id": pos, "deposit_id": uuid.uuid4()}
    )
    return Envelope[SessionDepositConfirmedV1].wrap(data, event_id=uuid.uuid4(), occurred_at=NOW, source="test")


async def test_a_deposit_is_booked_in_paheko_only_after_its_session_s_close_and_once(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    confirmed = deposit(pos)
    await accept([ticket(pos, 1), spec_session(pos), confirmed, confirmed], world.services)
    assert await deposits_ready(world.services) == []  # its session is not in Paheko yet
    await push_due(world.services)
    await close_ready(world.services)
    assert await deposits_ready(world.services) == []  # still waiting for ticket 2
    await accept([ticket(pos, 2)], world.services)
    await push_due(world.services)
    await close_ready(world.services)
    assert await deposits_ready(world.services) == [(SESSION, DepositStatus.BOOKED)]
    assert world.paheko.deposits == [confirmed.data.deposit_id]
    assert await deposits_ready(world.services) == []


async def test_paheko_down_at_the_deposit_retries_later_and_a_refusal_is_kept_with_its_reason(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    await accept([ticket(pos, 1), ticket(pos, 2), spec_session(pos), deposit(pos)], world.services)
    await push_due(world.services)
    await close_ready(world.services)
    world.paheko.down = True
    assert await deposits_ready(world.services) == [(SESSION, DepositStatus.WAITING)]
    assert world.state.deposits[SESSION].last_error == "connection refused"
    assert await deposits_ready(world.services) == []  # backing off
    world.paheko.down = False
    world.paheko.refuse[world.state.deposits[SESSION].deposit.deposit_id] = "account 512 is not in the chart"
    world.clock.now = NOW + timedelta(minutes=5)
    assert await deposits_ready(world.services) == [(SESSION, DepositStatus.REJECTED)]
    assert world.state.deposits[SESSION].last_error == "account 512 is not in the chart"


async def test_a_company_without_paheko_books_the_deposit_to_the_fec_after_the_close(world: World) -> None:
    pos = uuid.uuid4()
    confirmed = deposit(pos, FEC_COMPANY)
    await accept([ticket(pos, 1, FEC_COMPANY), ticket(pos, 2, FEC_COMPANY), confirmed], world.services)
    await push_due(world.services)
    assert await deposits_ready(world.services) == []
    await accept([spec_session(pos, FEC_COMPANY)], world.services)
    await close_ready(world.services)
    assert await deposits_ready(world.services) == [(SESSION, DepositStatus.BOOKED)]
    assert world.fec.sources(SourceKind.DEPOSIT) == [confirmed.data.session_id]


async def test_a_deposit_entry_that_differs_in_paheko_is_a_mismatch_reported_per_account(world: World) -> None:
    pos = uuid.uuid4()
    world.paheko.lines, world.paheko.tabs = SPEC_LINES, 2
    confirmed = deposit(pos)
    await accept([ticket(pos, 1), ticket(pos, 2), spec_session(pos), confirmed], world.services)
    await push_due(world.services)
    await close_ready(world.services)
    # The slip: 383.50 € in cash and two cheques (45.00 €); Paheko's entry lost a cheque's line.
    world.paheko.deposit_lines = (LedgerLine("512", 42850, 0), LedgerLine("530", 0, 38350), LedgerLine("5112", 0, 2500))
    assert await deposits_ready(world.services) == [(SESSION, DepositStatus.MISMATCH)]
    [failed] = [e for e in world.events(PahekoReconciliationFailedV1) if e.transaction_reference == "POS-DEPOSIT-7"]
    assert [(d.what, d.ours, d.theirs) for d in failed.differences] == [("account:5112", -4500, -2500)]
    assert world.state.deposits[SESSION].last_error == "account:5112: ours -4500, Paheko's -2500"
