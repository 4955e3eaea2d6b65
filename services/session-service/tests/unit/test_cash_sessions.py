"""Cash sessions through the use cases, on in-memory fakes: open, movements, close that waits for its
tickets, bad input refused with nothing written, the Z report e-mailed (and retried while the server is down)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from caisse_contracts.events import (
    ConfigChangedV1,
    EntityType,
    PaymentMethod,
    PaymentV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    SessionOpenedV1,
    TicketFinalizedV1,
)
from caisse_contracts.snapshots import load_example
from session_service.adapters.documents import ReportDocuments
from session_service.adapters.memory import InMemoryUnitOfWork, MemoryState, RecordingMailSender
from session_service.domain.access import Caller
from session_service.domain.errors import (
    CommentRequiredError,
    ConfigurationMissingError,
    DepositAlreadyConfirmedError,
    InvalidFieldError,
    ReplayConflictError,
    SessionAlreadyOpenError,
    SessionNotClosedError,
    SessionNotFoundError,
    SessionNotOpenError,
    TicketsMissingError,
    UnknownReferenceError,
)
from session_service.domain.sessions import CashSession, MovementKind, SessionStatus
from session_service.service_layer.close import (
    CloseSession,
    close_cash_session,
    complete_closes,
    request_close,
    resume_closes,
)
from session_service.service_layer.config import apply_config
from session_service.service_layer.deposits import ConfirmDeposit, confirm_session_deposit
from session_service.service_layer.mail import MailRetry, send_due_mail
from session_service.service_layer.movements import RecordMovement, record_movement
from session_service.service_layer.open import OpenSession, open_cash_session
from session_service.service_layer.ports import ConfigRecord, LateTicketsOf
from session_service.service_layer.sessions import SessionRules, SessionServices, read_session
from session_service.service_layer.totals import Counted, TicketEvent, count_tickets

EXAMPLE = load_example(TicketFinalizedV1).data
EUR_DENOMINATIONS = (50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1)
START = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@dataclass
class World:
    """The example ticket's hierarchy (EUR), one cashier, one manager of another shop, and a moving clock."""

    state: MemoryState = field(default_factory=MemoryState)
    now: datetime = START
    slept: float = 0.0
    pos_id: uuid.UUID = EXAMPLE.pos_id
    shop_id: uuid.UUID = EXAMPLE.shop_id
    company_id: uuid.UUID = EXAMPLE.company_id
    territory_id: uuid.UUID = EXAMPLE.territory_id
    cashier: uuid.UUID = field(default_factory=uuid.uuid4)
    stranger: uuid.UUID = field(default_factory=uuid.uuid4)
    rules: SessionRules = field(default_factory=lambda: SessionRules(comment_threshold=500, close_wait_s=1.0))

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)

    @property
    def services(self) -> SessionServices:
        return SessionServices(
            uow=lambda: InMemoryUnitOfWork(self.state),
            clock=self.clock,
            new_id=uuid.uuid4,
            rules=self.rules,
            sleep=self.sleep,
        )

    def configure(self, entity_type: str, entity_id: uuid.UUID, item: dict[str, Any], version: int = 1) -> None:
        self.state.config[entity_id] = ConfigRecord(
            entity_type, entity_id, version, False, {"id": str(entity_id), **item}
        )

    def configure_hierarchy(self) -> None:
        self.configure(
            "territory",
            self.territory_id,
            {
                "name": "France",
                "currency": "EUR",
                "currency_exponent": 2,
                "timezone": "Europe/Paris",
                "denominations": [{"value": v, "kind": "note" if v >= 500 else "coin"} for v in EUR_DENOMINATIONS],
            },
        )
        self.configure(
            "company", self.company_id, {"territory_id": str(self.territory_id), "name": "Ressourcerie du Bocage"}
        )
        self.configure(
            "shop",
            self.shop_id,
            {
                "company_id": str(self.company_id),
                "name": "Bocage Centre",
                "address": "3 rue des Lilas, 79000 Niort",
                "report_emails": ["gerant@bocage.example"],
                "bank_account": "FR76 1234 5678 9012 3456 7890 123",
            },
        )
        self.configure("pos", self.pos_id, {"shop_id": str(self.shop_id), "name": "Caisse 1"})
        self.configure("operator", self.cashier, {"name": "Alice", "role": "cashier", "shop_id": str(self.shop_id)})
        self.configure("operator", self.stranger, {"name": "Bob", "role": "cashier", "shop_id": str(uuid.uuid4())})
        for line in EXAMPLE.lines:
            self.configure(
                "category",
                line.category_id,
                {
                    "company_id": str(self.company_id),
                    "name": line.category_label,
                    "revenue_account": line.revenue_account,
                },
            )

    def ticket(
        self, session_id: uuid.UUID, number: int, *, payments: tuple[PaymentV1, ...] | None = None
    ) -> TicketFinalizedV1:
        """The committed example (10.00 €: 8.00 € textile 1250 g + 2.00 € books 180 g, 20 € tendered, 10 € change)."""
        update: dict[str, Any] = {"ticket_id": uuid.uuid4(), "session_id": session_id, "number": number}
        if payments is not None:
            update |= {"payments": payments, "change_given": 0}
        return EXAMPLE.model_copy(update=update)

    async def count(self, *tickets: TicketFinalizedV1) -> Counted:
        events = [TicketEvent(uuid.uuid4(), "ticket.finalized", t) for t in tickets]
        return await count_tickets(events, uow=lambda: InMemoryUnitOfWork(self.state), clock=self.clock)


def cheque(amount: int, number: str, bank: str = "Crédit Agricole") -> PaymentV1:
    return PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=amount, reference=number, bank=bank)


@pytest.fixture
def world() -> World:
    w = World()
    w.configure_hierarchy()
    return w


FLOAT = ((5000, 2), (1000, 3), (200, 5), (50, 10))
"""2 × 50 € + 3 × 10 € + 5 × 2 € + 10 × 0.50 € = 145.00 €."""


async def open_session(world: World, session_id: uuid.UUID | None = None, **changes: Any) -> CashSession:
    command = OpenSession(
        session_id=session_id or uuid.uuid4(),
        pos_id=world.pos_id,
        operator_ids=(world.cashier,),
        float_counts=FLOAT,
        first_ticket_number=1,
    )
    opened = await open_cash_session(replace(command, **changes), world.services)
    return opened.session


def close(world: World, session: CashSession, counts: tuple[tuple[int, int], ...], **changes: Any) -> CloseSession:
    base = CloseSession(session_id=session.session_id, closed_by=world.cashier, last_ticket_number=None, counts=counts)
    return replace(base, **changes)


def events(world: World, kind: type[Any]) -> list[Any]:
    return [kind.model_validate(json.loads(r.payload)["data"]) for r in world.state.outbox if r.type == kind.EVENT_TYPE]


async def test_a_session_opens_with_its_float_counted_per_denomination_and_is_announced(world: World) -> None:
    session = await open_session(world)
    assert session.opening_float == 14500
    assert session.status is SessionStatus.OPEN
    [opened] = events(world, SessionOpenedV1)
    assert (opened.session_id, opened.pos_id, opened.shop_id) == (session.session_id, world.pos_id, world.shop_id)
    assert opened.opening_float == 14500
    assert [(c.value, c.count) for c in opened.float_counts] == [(5000, 2), (1000, 3), (200, 5), (50, 10)]
    assert opened.operator_ids == (world.cashier,)


async def test_a_rebooted_till_that_opens_its_session_again_continues_it(world: World) -> None:
    session = await open_session(world)
    again = await open_cash_session(
        OpenSession(session.session_id, world.pos_id, (world.cashier,), FLOAT, 1), world.services
    )
    assert again.created is False
    assert again.session.session_id == session.session_id
    assert len(events(world, SessionOpenedV1)) == 1


async def test_a_second_open_on_the_same_pos_is_refused_and_writes_nothing(world: World) -> None:
    session = await open_session(world)
    before = (len(world.state.sessions), len(world.state.outbox))
    with pytest.raises(SessionAlreadyOpenError) as refused:
        await open_session(world)
    assert refused.value.session_id == session.session_id
    assert (len(world.state.sessions), len(world.state.outbox)) == before


async def test_an_unknown_denomination_is_refused_naming_the_field_and_writes_nothing(world: World) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await open_session(world, float_counts=((5000, 1), (300, 2)))
    assert refused.value.field == "float_counts[1].value"
    assert "300 is not a denomination" in refused.value.reason
    assert world.state.sessions == {}
    assert world.state.outbox == []


async def test_a_negative_count_is_refused_naming_the_field_and_writes_nothing(world: World) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await open_session(world, float_counts=((5000, -1),))
    assert refused.value.field == "float_counts[0].count"
    assert world.state.sessions == {}


async def test_an_operator_of_another_shop_cannot_open_the_till(world: World) -> None:
    world.rules = SessionRules(config_wait_s=0.2)
    with pytest.raises(UnknownReferenceError) as refused:
        await open_session(world, operator_ids=(world.stranger,))
    assert refused.value.field == "operator_ids[0]"
    assert world.state.sessions == {}


async def test_an_open_waits_for_the_pos_configuration_then_says_it_has_not_arrived(world: World) -> None:
    world.rules = SessionRules(config_wait_s=0.5, poll_s=0.1)
    del world.state.config[world.pos_id]
    with pytest.raises(ConfigurationMissingError) as missing:
        await open_session(world)
    assert missing.value.what == "POS"
    assert world.slept == pytest.approx(0.5)


async def test_movements_change_the_expected_cash_and_a_replay_counts_once(world: World) -> None:
    session = await open_session(world)
    withdrawal = RecordMovement(
        session.session_id, uuid.uuid4(), MovementKind.WITHDRAWAL, 5000, "au coffre", world.cashier
    )
    await record_movement(withdrawal, world.services)
    await record_movement(withdrawal, world.services)
    await record_movement(
        RecordMovement(session.session_id, uuid.uuid4(), MovementKind.ADDITION, 1000, "monnaie", world.cashier),
        world.services,
    )
    current = world.state.sessions[session.session_id]
    assert (current.cash_withdrawn, current.cash_added) == (5000, 1000)


async def test_a_movement_needs_a_positive_amount_and_a_reason(world: World) -> None:
    session = await open_session(world)
    with pytest.raises(InvalidFieldError) as refused:
        await record_movement(
            RecordMovement(session.session_id, uuid.uuid4(), MovementKind.WITHDRAWAL, -5, "x", world.cashier),
            world.services,
        )
    assert refused.value.field == "amount"
    with pytest.raises(InvalidFieldError) as no_reason:
        await record_movement(
            RecordMovement(session.session_id, uuid.uuid4(), MovementKind.WITHDRAWAL, 5, "  ", world.cashier),
            world.services,
        )
    assert no_reason.value.field == "reason"


async def test_the_close_computes_expected_cash_variance_and_announces_every_figure(world: World) -> None:
    session = await open_session(world)
    await world.count(world.ticket(session.session_id, 1), world.ticket(session.session_id, 2))
    await record_movement(
        RecordMovement(session.session_id, uuid.uuid4(), MovementKind.WITHDRAWAL, 5000, "au coffre", world.cashier),
        world.services,
    )
    await record_movement(
        RecordMovement(session.session_id, uuid.uuid4(), MovementKind.ADDITION, 1000, "monnaie", world.cashier),
        world.services,
    )
    # expected = 145.00 float + 40.00 received − 20.00 change + 10.00 added − 50.00 withdrawn = 125.00 (PRODUCT.md §2)
    counts = ((5000, 1), (2000, 3), (1000, 1), (200, 2), (50, 1))  # 50 + 60 + 10 + 4 + 0.50 = 124.50: 0.50 short
    closed = await close_cash_session(
        close(world, session, counts, last_ticket_number=2, float_kept=((1000, 1), (200, 2))), world.services
    )
    assert closed.status is SessionStatus.CLOSED
    figures = closed.closing
    assert figures is not None
    assert (figures.expected_cash, figures.counted_cash, figures.variance) == (12500, 12450, -50)
    assert figures.float_kept == 1400
    assert [(c.value, c.count) for c in figures.deposit] == [(5000, 1), (2000, 3), (50, 1)]
    assert figures.deposit_cash == 11050
    [announced] = events(world, SessionClosedV1)
    assert (announced.last_ticket_number, announced.first_ticket_number, announced.ticket_count) == (2, 1, 2)
    assert (announced.expected_cash, announced.counted_cash, announced.variance) == (12500, 12450, -50)
    assert (announced.cash_added, announced.cash_withdrawn, announced.opening_float) == (1000, 5000, 14500)
    assert announced.total_weight_grams == 2 * (1250 + 180)
    assert sorted(c.amount for c in announced.totals_by_category) == [400, 1600]
    assert [(c.value, c.count) for c in announced.counted] == list(counts)
    report = world.state.reports[session.session_id]
    assert (report.shop, report.pos, report.operators) == ("Bocage Centre", "Caisse 1", ("Alice",))
    assert {c.name for c in report.by_category} == {"Textile", "Livres"}
    [mail] = world.state.mail.values()
    assert mail.recipients == ("gerant@bocage.example",)


async def test_the_close_announces_the_cashier_who_opened_and_the_one_who_closed(world: World) -> None:
    relief = uuid.uuid4()
    world.configure("operator", relief, {"name": "Chloé", "role": "cashier", "shop_id": str(world.shop_id)})
    session = await open_session(world)
    await close_cash_session(close(world, session, FLOAT, closed_by=relief), world.services)
    [announced] = events(world, SessionClosedV1)
    assert (announced.opened_by, announced.closed_by) == (world.cashier, relief)


async def test_a_variance_beyond_the_threshold_needs_a_comment_and_nothing_is_written_without_it(world: World) -> None:
    session = await open_session(world)
    short = close(world, session, ((5000, 2), (1000, 3)))  # 130.00 counted for 145.00 expected
    with pytest.raises(CommentRequiredError) as refused:
        await close_cash_session(short, world.services)
    assert (refused.value.variance, refused.value.threshold) == (-1500, 500)
    assert world.state.sessions[session.session_id].status is SessionStatus.OPEN
    assert events(world, SessionClosedV1) == []
    closed = await close_cash_session(replace(short, comment="billet de 10 € rendu en trop"), world.services)
    assert closed.closing is not None
    assert closed.closing.variance == -1500


async def test_every_cheque_is_listed_and_must_be_ticked(world: World) -> None:
    session = await open_session(world)
    first, second = cheque(1000, "0001234"), cheque(1000, "0005678", "La Poste")
    await world.count(
        world.ticket(session.session_id, 1, payments=(first,)), world.ticket(session.session_id, 2, payments=(second,))
    )
    counts = FLOAT
    with pytest.raises(InvalidFieldError) as refused:
        await close_cash_session(
            close(world, session, counts, last_ticket_number=2, cheques_ticked=frozenset({first.payment_id})),
            world.services,
        )
    assert refused.value.field == "cheques_ticked"
    assert "0005678" in refused.value.reason
    closed = await close_cash_session(
        close(
            world,
            session,
            counts,
            last_ticket_number=2,
            cheques_ticked=frozenset({first.payment_id, second.payment_id}),
            card_terminal_total=500,
        ),
        world.services,
    )
    assert closed.closing is not None
    assert [(c.number, c.bank, c.amount) for c in closed.closing.cheques] == [
        ("0001234", "Crédit Agricole", 1000),
        ("0005678", "La Poste", 1000),
    ]
    assert closed.closing.cheque_total == 2000
    assert closed.closing.card_difference == -500  # no card sale, the terminal says 5.00


async def test_the_close_waits_for_the_last_tickets_then_says_which_are_missing(world: World) -> None:
    session = await open_session(world)
    await world.count(world.ticket(session.session_id, 1))
    with pytest.raises(TicketsMissingError) as missing:
        await close_cash_session(close(world, session, FLOAT, last_ticket_number=3, comment="ok"), world.services)
    assert missing.value.missing == ((2, 3),)
    assert str(missing.value) == "closing: waiting for tickets 2..3"
    assert world.slept == pytest.approx(world.rules.close_wait_s)
    read = await read_session(session.session_id, world.services)
    assert read.session.status is SessionStatus.CLOSING
    assert read.waiting_for == ((2, 3),)
    assert events(world, SessionClosedV1) == []

    counted = await world.count(world.ticket(session.session_id, 3), world.ticket(session.session_id, 2))
    assert counted.waiting == (session.session_id,)
    assert await complete_closes(counted.waiting, world.services) == [session.session_id]
    [announced] = events(world, SessionClosedV1)
    assert (announced.ticket_count, announced.last_ticket_number) == (3, 3)


async def test_a_batch_names_the_sessions_it_counted_into_that_wait_for_their_close_and_no_other(
    world: World,
) -> None:
    second_till = uuid.uuid4()
    world.configure("pos", second_till, {"shop_id": str(world.shop_id), "name": "Caisse 2"})
    waiting, still_open = await open_session(world), await open_session(world, pos_id=second_till)
    await world.count(world.ticket(waiting.session_id, 1))
    with pytest.raises(TicketsMissingError):
        await close_cash_session(close(world, waiting, FLOAT, last_ticket_number=3, comment="ok"), world.services)
    counted = await world.count(world.ticket(still_open.session_id, 1))
    assert counted.sessions == {still_open.session_id}
    assert counted.waiting == ()
    counted = await world.count(world.ticket(waiting.session_id, 2), world.ticket(still_open.session_id, 2))
    assert counted.sessions == {waiting.session_id, still_open.session_id}
    assert counted.waiting == (waiting.session_id,)
    assert await complete_closes(counted.waiting, world.services) == []  # ticket 3 is still missing
    assert (await read_session(waiting.session_id, world.services)).session.status is SessionStatus.CLOSING
    last = await count_tickets(  # sent twice in one batch: counted once
        [TicketEvent(uuid.uuid4(), "ticket.finalized", world.ticket(waiting.session_id, 3))] * 2,
        uow=world.services.uow,
        clock=world.clock,
    )
    assert last.waiting == (waiting.session_id,)
    assert await complete_closes(last.waiting, world.services) == [waiting.session_id]
    [announced] = events(world, SessionClosedV1)
    assert (announced.ticket_count, announced.last_ticket_number) == (3, 3)


async def test_a_close_whose_tickets_came_in_while_nobody_completed_it_closes_at_start(world: World) -> None:
    second_till = uuid.uuid4()
    world.configure("pos", second_till, {"shop_id": str(world.shop_id), "name": "Caisse 2"})
    complete, incomplete = await open_session(world), await open_session(world, pos_id=second_till)
    for session in (complete, incomplete):
        await world.count(world.ticket(session.session_id, 1))
        with pytest.raises(TicketsMissingError):
            await close_cash_session(close(world, session, FLOAT, last_ticket_number=2, comment="ok"), world.services)
    await world.count(world.ticket(complete.session_id, 2))  # counted, then the service stopped: no one closed it
    assert (await read_session(complete.session_id, world.services)).session.status is SessionStatus.CLOSING

    await resume_closes(world.services)
    assert (await read_session(complete.session_id, world.services)).session.status is SessionStatus.CLOSED
    assert (await read_session(incomplete.session_id, world.services)).session.status is SessionStatus.CLOSING
    [announced] = events(world, SessionClosedV1)
    assert announced.session_id == complete.session_id


async def test_a_close_of_a_closed_session_is_refused_but_an_identical_retry_answers_the_close(world: World) -> None:
    session = await open_session(world)
    request = close(world, session, FLOAT)
    await close_cash_session(request, world.services)
    again = await close_cash_session(request, world.services)
    assert again.status is SessionStatus.CLOSED
    with pytest.raises(SessionNotOpenError) as refused:
        await close_cash_session(replace(request, counts=((5000, 3),), comment="recompté"), world.services)
    assert refused.value.status == "closed"
    assert len(events(world, SessionClosedV1)) == 1


async def test_a_ticket_of_a_closed_session_is_kept_aside_and_never_counted(world: World) -> None:
    session = await open_session(world)
    await world.count(world.ticket(session.session_id, 1))
    await close_cash_session(close(world, session, FLOAT, last_ticket_number=1, comment="ok"), world.services)
    before = world.state.totals[session.session_id]
    late = world.ticket(session.session_id, 2, payments=(cheque(1000, "0042"),))
    other = await open_session(world)  # the till's next session counts on beside it, in the same batch
    assert (await world.count(late, world.ticket(other.session_id, 2))).sessions == {other.session_id}
    assert world.state.totals[session.session_id] == before
    assert late.ticket_id not in world.state.applied
    assert (await world.count(late)).sessions == set()  # redelivered under another event id: kept once
    async with InMemoryUnitOfWork(world.state) as work:
        [kept] = await work.totals.late_tickets(LateTicketsOf(session_id=session.session_id))
        assert await work.totals.late_tickets(LateTicketsOf(shop_id=uuid.uuid4())) == []
    assert (kept.ticket_id, kept.number, kept.total_incl_tax, kept.by_method) == (
        late.ticket_id,
        2,
        1000,
        {"cheque": 1000},
    )
    assert (kept.shop_id, kept.pos_id, kept.received_at) == (world.shop_id, world.pos_id, world.clock())
    read = await read_session(session.session_id, world.services)
    assert [t.ticket_id for t in read.late_tickets] == [late.ticket_id]
    assert [c.payment_id for c in await _cheques(world, session.session_id)] == []


async def _cheques(world: World, session_id: uuid.UUID) -> list[Any]:
    async with InMemoryUnitOfWork(world.state) as work:
        return await work.totals.cheques(session_id)


async def test_a_ticket_of_a_closing_session_is_still_counted_and_completes_the_close(world: World) -> None:
    session = await open_session(world)
    with pytest.raises(TicketsMissingError):
        await close_cash_session(close(world, session, FLOAT, last_ticket_number=1, comment="ok"), world.services)
    assert (await world.count(world.ticket(session.session_id, 1))).sessions == {session.session_id}
    assert world.state.late == {}


async def test_a_float_kept_beyond_what_was_counted_is_refused(world: World) -> None:
    session = await open_session(world)
    with pytest.raises(InvalidFieldError) as refused:
        await close_cash_session(close(world, session, FLOAT, float_kept=((5000, 3),)), world.services)
    assert refused.value.field == "float_kept[0].count"
    assert world.state.sessions[session.session_id].status is SessionStatus.OPEN


async def test_the_next_session_numbers_its_tickets_after_the_last_close(world: World) -> None:
    session = await open_session(world)
    await world.count(world.ticket(session.session_id, 1))
    await close_cash_session(close(world, session, FLOAT, last_ticket_number=1, comment="ok"), world.services)
    following = await open_session(world, first_ticket_number=None)
    assert following.first_ticket_number == 2


async def test_a_report_is_emailed_and_retried_with_a_growing_pause_while_the_server_is_down(world: World) -> None:
    session = await open_session(world)
    await close_cash_session(close(world, session, FLOAT), world.services)
    sender = RecordingMailSender(down=True)
    retry = MailRetry(first_s=30, max_s=3600)
    uow = world.services.uow

    async def send() -> int:
        return await send_due_mail(uow=uow, clock=world.clock, sender=sender, documents=ReportDocuments(), retry=retry)

    assert await send() == 0
    [mail] = world.state.mail.values()
    assert (mail.attempts, mail.next_attempt_at, mail.last_error) == (
        1,
        world.now + timedelta(seconds=30),
        "connection refused",
    )
    world.now += timedelta(seconds=31)
    assert await send() == 0
    [mail] = world.state.mail.values()
    assert mail.next_attempt_at == world.now + timedelta(seconds=60)
    sender.down = False
    assert await send() == 0, "not due yet: the pause doubled"
    world.now += timedelta(seconds=61)
    assert await send() == 1
    assert await send() == 0, "sent once"
    [message] = sender.sent
    assert message["recipients"] == ["gerant@bocage.example"]
    assert message["subject"].startswith("Rapport Z Bocage Centre Caisse 1")
    assert [a.filename.split("-")[0] for a in message["attachments"]] == ["rapport", "bordereau"]
    assert message["attachments"][0].data.startswith(b"%PDF")


async def test_a_batch_with_a_redelivered_event_and_a_ticket_seen_under_another_id_counts_each_ticket_once(
    world: World,
) -> None:
    session_id = uuid.uuid4()
    first, second = world.ticket(session_id, 1), world.ticket(session_id, 2)
    event = TicketEvent(uuid.uuid4(), "ticket.finalized", first)
    batch = [
        event,
        event,
        TicketEvent(uuid.uuid4(), "ticket.finalized", first),
        TicketEvent(uuid.uuid4(), "ticket.finalized", second),
    ]
    uow = world.services.uow
    assert (await count_tickets(batch, uow=uow, clock=world.clock)).sessions == {session_id}
    assert (await count_tickets(batch, uow=uow, clock=world.clock)).sessions == set()
    totals = world.state.totals[session_id]
    assert (totals.ticket_count, totals.total_incl_tax) == (2, 2000)


async def test_the_configuration_view_keeps_the_newest_version_whatever_order_it_reads(world: World) -> None:
    def change(version: int, name: str) -> ConfigChangedV1:
        item = {"id": str(world.shop_id), "company_id": str(world.company_id), "name": name}
        return ConfigChangedV1(
            entity_type=EntityType.SHOP, entity_id=world.shop_id, version=version, item=item, patch=()
        )

    uow = world.services.uow
    assert await apply_config([change(3, "Bocage Nord"), change(2, "Bocage Sud")], uow=uow) == 1
    assert await apply_config([change(2, "Bocage Sud")], uow=uow) == 0, "a replay of an older version changes nothing"
    kept = world.state.config[world.shop_id]
    assert (kept.version, kept.item["name"]) == (3, "Bocage Nord")


async def closed_with_cheques(world: World) -> tuple[CashSession, PaymentV1, PaymentV1]:
    """A closed session: two cheques of 10.00 €, 124.50 € counted of which 14.00 € kept as tomorrow's float."""
    session = await open_session(world)
    first, second = cheque(1000, "0001234"), cheque(1000, "0005678", "La Poste")
    await world.count(
        world.ticket(session.session_id, 1, payments=(first,)), world.ticket(session.session_id, 2, payments=(second,))
    )
    counts = ((5000, 2), (1000, 3), (200, 5), (50, 10))
    await close_cash_session(
        close(
            world,
            session,
            counts,
            last_ticket_number=2,
            float_kept=((1000, 1), (200, 2)),
            cheques_ticked=frozenset({first.payment_id, second.payment_id}),
        ),
        world.services,
    )
    return world.state.sessions[session.session_id], first, second


def deposit(session: CashSession, cash: int, *cheques: PaymentV1, reference: str = "BR-0457") -> ConfirmDeposit:
    return ConfirmDeposit(
        session_id=session.session_id,
        cash=cash,
        cheque_ids=tuple(c.payment_id for c in cheques),
        reference=reference,
        deposited_on=date(2026, 11, 23),
    )


async def test_a_confirmed_deposit_is_kept_and_announced_with_its_cash_its_cheques_its_slip_and_its_day(
    world: World,
) -> None:
    session, first, second = await closed_with_cheques(world)
    assert session.closing is not None
    assert session.closing.deposit_cash == 13100
    manager = Caller.operator(uuid.uuid4(), "shop_manager", world.shop_id, world.company_id)
    world.now += timedelta(days=2)
    confirmed = await confirm_session_deposit(deposit(session, 13100, first, second), manager, world.services)
    assert confirmed.created
    [announced] = events(world, SessionDepositConfirmedV1)
    assert (announced.session_id, announced.deposit_id) == (session.session_id, confirmed.deposit.deposit_id)
    assert (announced.cash, announced.total, announced.reference) == (13100, 15100, "BR-0457")
    assert [(c.number, c.bank, c.amount) for c in announced.cheques] == [
        ("0001234", "Crédit Agricole", 1000),
        ("0005678", "La Poste", 1000),
    ]
    assert (announced.deposited_on, announced.closed_at, announced.confirmed_by) == (
        date(2026, 11, 23),
        session.closed_at,
        manager.operator_id,
    )
    assert world.state.deposits[session.session_id] == confirmed.deposit


async def test_the_same_deposit_confirmed_again_answers_the_first_and_another_is_refused(world: World) -> None:
    session, first, _ = await closed_with_cheques(world)
    till = Caller.till(world.pos_id)
    confirmed = await confirm_session_deposit(deposit(session, 10000, first), till, world.services)
    again = await confirm_session_deposit(deposit(session, 10000, first), till, world.services)
    assert (again.created, again.deposit) == (False, confirmed.deposit)
    with pytest.raises(DepositAlreadyConfirmedError) as refused:
        await confirm_session_deposit(deposit(session, 10000, first, reference="BR-0458"), till, world.services)
    assert refused.value.reference == "BR-0457"
    assert len(events(world, SessionDepositConfirmedV1)) == 1
    assert list(world.state.deposits.values()) == [confirmed.deposit]


async def test_a_deposit_of_more_cash_than_the_close_left_or_of_a_cheque_of_another_session_is_refused_naming_it(
    world: World,
) -> None:
    session, first, _ = await closed_with_cheques(world)
    till = Caller.till(world.pos_id)
    with pytest.raises(InvalidFieldError) as too_much:
        await confirm_session_deposit(deposit(session, 13101, first), till, world.services)
    assert too_much.value.field == "cash"
    assert "13100" in too_much.value.reason
    with pytest.raises(InvalidFieldError) as stranger:
        await confirm_session_deposit(deposit(session, 100, first, cheque(500, "999")), till, world.services)
    assert stranger.value.field == "cheques[1]"
    with pytest.raises(InvalidFieldError) as no_slip:
        await confirm_session_deposit(deposit(session, 100, reference="  "), till, world.services)
    assert no_slip.value.field == "reference"
    with pytest.raises(InvalidFieldError) as before:
        await confirm_session_deposit(
            replace(deposit(session, 100), deposited_on=date(2026, 11, 19)), till, world.services
        )
    assert before.value.field == "deposited_on"
    assert world.state.deposits == {}
    assert events(world, SessionDepositConfirmedV1) == []


async def test_a_session_not_closed_has_no_deposit_yet(world: World) -> None:
    session = await open_session(world)
    with pytest.raises(SessionNotClosedError) as refused:
        await confirm_session_deposit(deposit(session, 0), Caller.till(world.pos_id), world.services)
    assert refused.value.status == "open"
    assert world.state.deposits == {}


# A day the till spent offline: its open, movements and close synced an hour after the close, with its own times.

PARIS = timezone(timedelta(hours=1))  # Europe/Paris in November
OPENED_LOCAL = datetime(2026, 11, 21, 9, 0, tzinfo=PARIS)
CLOSED_LOCAL = datetime(2026, 11, 21, 18, 0, tzinfo=PARIS)
SYNCED = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # 19:00 in Paris: an hour after the close


@dataclass
class OfflineDay:
    """The operations a till queued on a day offline, each with its id and its time on the till."""

    session_id: uuid.UUID
    open: OpenSession
    movements: tuple[RecordMovement, ...]
    close: CloseSession


def offline_day(world: World) -> OfflineDay:
    session_id = uuid.uuid4()
    return OfflineDay(
        session_id=session_id,
        open=OpenSession(session_id, world.pos_id, (world.cashier,), FLOAT, 1, opened_at=OPENED_LOCAL),
        movements=(
            RecordMovement(
                session_id,
                uuid.uuid4(),
                MovementKind.WITHDRAWAL,
                5000,
                "au coffre",
                world.cashier,
                occurred_at=OPENED_LOCAL + timedelta(hours=1, minutes=30),
            ),
            RecordMovement(
                session_id,
                uuid.uuid4(),
                MovementKind.ADDITION,
                1000,
                "monnaie",
                world.cashier,
                occurred_at=OPENED_LOCAL + timedelta(hours=6),
            ),
        ),
        # expected = 145.00 float + 40.00 received − 20.00 change + 10.00 added − 50.00 withdrawn = 125.00
        close=CloseSession(
            session_id,
            world.cashier,
            2,
            ((5000, 2), (2000, 1), (200, 2), (100, 1)),
            closed_at=CLOSED_LOCAL,
        ),
    )


async def sync_day(world: World, day: OfflineDay) -> list[bool]:
    """The day's operations sent in order (the close without waiting); whether each was created."""
    created = [(await open_cash_session(day.open, world.services)).created]
    for movement in day.movements:
        created.append((await record_movement(movement, world.services)).created)
    created.append((await request_close(day.close, world.services, wait=False)).created)
    return created


async def test_an_offline_day_synced_later_keeps_the_till_s_times_in_the_session_its_events_and_its_report(
    world: World,
) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await world.count(world.ticket(day.session_id, 1), world.ticket(day.session_id, 2))
    assert await sync_day(world, day) == [True, True, True, True]
    session = world.state.sessions[day.session_id]
    assert session.status is SessionStatus.CLOSED
    assert session.opened_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert session.closed_at == datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert [m.at for m in session.movements] == [m.occurred_at for m in day.movements]
    assert session.closing is not None
    assert (session.closing.expected_cash, session.closing.counted_cash, session.closing.variance) == (12500, 12500, 0)

    [opened] = events(world, SessionOpenedV1)
    assert (opened.opened_at, opened.received_at) == (OPENED_LOCAL, SYNCED)
    [closed] = events(world, SessionClosedV1)
    assert (closed.opened_at, closed.closed_at, closed.close_received_at) == (OPENED_LOCAL, CLOSED_LOCAL, SYNCED)
    assert [(m.kind, m.amount, m.at) for m in closed.movements] == [
        ("withdrawal", 5000, OPENED_LOCAL + timedelta(hours=1, minutes=30)),
        ("addition", 1000, OPENED_LOCAL + timedelta(hours=6)),
    ]
    assert (closed.cash_withdrawn, closed.cash_added, closed.ticket_count) == (5000, 1000, 2)
    occurred = {r.type: json.loads(r.payload)["occurred_at"] for r in world.state.outbox}
    assert occurred == {"session.opened": "2026-11-21T08:00:00Z", "session.closed": "2026-11-21T17:00:00Z"}

    report = world.state.reports[day.session_id]
    assert (report.opened_at, report.closed_at) == (OPENED_LOCAL, CLOSED_LOCAL)
    assert [m.at for m in report.movements] == [m.occurred_at for m in day.movements]


async def test_an_offline_day_replayed_twice_answers_what_was_recorded_and_changes_nothing(world: World) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await world.count(world.ticket(day.session_id, 1), world.ticket(day.session_id, 2))
    await sync_day(world, day)
    recorded, outbox = world.state.sessions[day.session_id], list(world.state.outbox)
    for _ in range(2):
        world.now += timedelta(minutes=10)
        assert await sync_day(world, day) == [False, False, False, False]
    assert world.state.sessions[day.session_id] == recorded
    assert world.state.outbox == outbox


async def test_a_close_synced_before_its_tickets_waits_for_them_and_closes_at_the_till_s_time(world: World) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await open_cash_session(day.open, world.services)
    for movement in day.movements:
        await record_movement(movement, world.services)
    answer = await request_close(day.close, world.services, wait=False)
    assert (answer.created, answer.session.status) == (True, SessionStatus.CLOSING)
    assert world.slept == 0, "a close that does not wait answers at once"
    again = await request_close(day.close, world.services, wait=False)
    assert (again.created, again.session.status) == (False, SessionStatus.CLOSING)
    assert (await read_session(day.session_id, world.services)).waiting_for == ((1, 2),)

    world.now += timedelta(minutes=5)
    counted = await world.count(world.ticket(day.session_id, 1), world.ticket(day.session_id, 2))
    assert await complete_closes(counted.waiting, world.services) == [day.session_id]
    closed = world.state.sessions[day.session_id]
    assert closed.closed_at == CLOSED_LOCAL, "the till's time, not the time its last ticket came in"
    assert closed.closing_since == SYNCED


async def test_an_open_sent_again_with_other_content_is_a_conflict_naming_the_field_and_changes_nothing(
    world: World,
) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await open_cash_session(day.open, world.services)
    recorded, outbox = world.state.sessions[day.session_id], list(world.state.outbox)
    for changes, field_name in (
        ({"float_counts": ((5000, 3),)}, "float_counts"),
        ({"opened_at": OPENED_LOCAL + timedelta(minutes=1)}, "opened_at"),
        ({"operator_ids": (world.cashier, world.stranger)}, "operator_ids"),
    ):
        with pytest.raises(ReplayConflictError) as conflict:
            await open_cash_session(replace(day.open, **changes), world.services)
        assert conflict.value.field == field_name
    other_till = uuid.uuid4()
    world.configure("pos", other_till, {"shop_id": str(world.shop_id), "name": "Caisse 2"})
    with pytest.raises(ReplayConflictError) as another_till:
        await open_cash_session(replace(day.open, pos_id=other_till), world.services)
    assert another_till.value.field == "session_id"
    assert (world.state.sessions[day.session_id], world.state.outbox) == (recorded, outbox)


async def test_a_movement_sent_again_with_other_content_or_in_another_session_is_a_conflict(world: World) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await open_cash_session(day.open, world.services)
    first = day.movements[0]
    await record_movement(first, world.services)
    for changes, field_name in (
        ({"amount": 5001}, "amount"),
        ({"kind": MovementKind.ADDITION}, "kind"),
        ({"occurred_at": OPENED_LOCAL + timedelta(hours=2)}, "occurred_at"),
    ):
        with pytest.raises(ReplayConflictError) as conflict:
            await record_movement(replace(first, **changes), world.services)
        assert conflict.value.field == field_name
    second_till = uuid.uuid4()
    world.configure("pos", second_till, {"shop_id": str(world.shop_id), "name": "Caisse 2"})
    elsewhere = await open_session(world, pos_id=second_till)
    with pytest.raises(ReplayConflictError) as moved_elsewhere:
        await record_movement(replace(first, session_id=elsewhere.session_id), world.services)
    assert moved_elsewhere.value.field == "session_id"
    assert world.state.sessions[elsewhere.session_id].movements == ()
    assert [m.amount for m in world.state.sessions[day.session_id].movements] == [5000]


async def test_a_close_made_offline_is_the_session_s_one_close_another_is_a_conflict_naming_the_field(
    world: World,
) -> None:
    world.now = SYNCED
    day = offline_day(world)
    await open_cash_session(day.open, world.services)
    request = replace(day.close, last_ticket_number=None, counts=FLOAT)
    await request_close(request, world.services, wait=False)
    for changes, field_name in (
        ({"counts": ((5000, 3),), "comment": "recompté"}, "counts"),
        ({"closed_at": CLOSED_LOCAL - timedelta(minutes=1)}, "closed_at"),
        ({"closed_at": None}, "closed_at"),
    ):
        with pytest.raises(ReplayConflictError) as conflict:
            await request_close(replace(request, **changes), world.services, wait=False)
        assert conflict.value.field == field_name
    assert len(events(world, SessionClosedV1)) == 1


async def test_times_in_the_future_or_before_the_open_are_refused_naming_the_field_and_write_nothing(
    world: World,
) -> None:
    world.now = SYNCED
    day = offline_day(world)
    with pytest.raises(InvalidFieldError) as future_open:
        await open_cash_session(replace(day.open, opened_at=SYNCED + timedelta(minutes=6)), world.services)
    assert future_open.value.field == "opened_at"
    assert "in the future" in future_open.value.reason
    assert world.state.sessions == {}
    await open_cash_session(replace(day.open, opened_at=SYNCED + timedelta(minutes=4)), world.services)  # drift
    world.state.sessions.clear()
    world.state.outbox.clear()

    await open_cash_session(day.open, world.services)
    early = replace(day.movements[0], occurred_at=OPENED_LOCAL - timedelta(minutes=1))
    with pytest.raises(InvalidFieldError) as before_open:
        await record_movement(early, world.services)
    assert before_open.value.field == "occurred_at"
    with pytest.raises(InvalidFieldError) as future_move:
        await record_movement(replace(early, occurred_at=SYNCED + timedelta(hours=1)), world.services)
    assert future_move.value.field == "occurred_at"
    with pytest.raises(InvalidFieldError) as close_before_open:
        await request_close(replace(day.close, closed_at=OPENED_LOCAL - timedelta(hours=1)), world.services, wait=False)
    assert close_before_open.value.field == "closed_at"
    await record_movement(day.movements[1], world.services)  # at 15:00
    with pytest.raises(InvalidFieldError) as close_before_move:
        await request_close(replace(day.close, closed_at=OPENED_LOCAL + timedelta(hours=5)), world.services, wait=False)
    assert close_before_move.value.field == "closed_at"
    with pytest.raises(InvalidFieldError) as future_close:
        await request_close(replace(day.close, closed_at=SYNCED + timedelta(hours=1)), world.services, wait=False)
    assert future_close.value.field == "closed_at"
    session = world.state.sessions[day.session_id]
    assert (session.status, len(session.movements)) == (SessionStatus.OPEN, 1)
    assert events(world, SessionClosedV1) == []


async def test_a_movement_of_an_unknown_session_is_refused(world: World) -> None:
    world.now = SYNCED
    day = offline_day(world)
    with pytest.raises(SessionNotFoundError):
        await record_movement(day.movements[0], world.services)
    assert world.state.sessions == {}
