"""The plugin client against a fake plugin that checks every request against paheko-plugin/openapi.yaml:
idempotent pushes, conflicts, token exchange and renewal, and errors that say whether a retry can help."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pos_bridge_fake import BASE, PASSWORD, USER, Clock, FakePlugin
from pydantic import SecretStr

from paheko_bridge.adapters.paheko.client import (
    MissingAccountsError,
    PahekoAuthError,
    PahekoPluginClient,
    PahekoRejectedError,
    PahekoUnavailableError,
    TicketConflictError,
    TicketsMissingError,
)
from paheko_bridge.adapters.paheko.models import (
    CashCount,
    CategoryMapping,
    MethodMapping,
    ProvisioningRequest,
    SessionCloseRequest,
    SessionOpenRequest,
    TicketLine,
    TicketPayment,
    TicketPush,
)


@pytest.fixture
def fake() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(fake: FakePlugin, clock: Clock) -> AsyncIterator[PahekoPluginClient]:
    async with PahekoPluginClient(
        BASE, USER, SecretStr(PASSWORD), transport=httpx.MockTransport(fake.handle), clock=clock
    ) as plugin:
        yield plugin
    assert fake.violations == [], "requests or answers outside the contract"


SESSION = uuid.UUID("5e551011-0000-4000-8000-000000000001")
PROVISIONING = ProvisioningRequest(
    categories=(CategoryMapping(key="books", name="Livres", account="707"),),
    methods=(
        MethodMapping(key="cash", name="Espèces", kind="cash", account="530"),
        MethodMapping(key="cheque", name="Chèque", kind="tracked", account="5112"),
    ),
)


def a_ticket(number: int = 1, amount: int = 450) -> TicketPush:
    return TicketPush(
        session=SESSION,
        number=number,
        label="Caisse 1",
        finalized_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        lines=(TicketLine(label="Roman", category="books", quantity=3, unit_price=150, total=450, weight_grams=900),),
        payments=(
            TicketPayment(method="cash", amount=amount - 200),
            TicketPayment(method="cheque", amount=200, reference="CHQ-1"),
        ),
    )


async def test_provisioning_answers_the_caisse_ids_of_our_categories_and_methods(client: PahekoPluginClient) -> None:
    mapped = await client.provision(PROVISIONING)
    assert [(c.key, c.account) for c in mapped.categories] == [("books", "707")]
    assert [(m.key, m.kind) for m in mapped.methods] == [("cash", "cash"), ("cheque", "tracked")]
    assert all(m.caisse_method_id for m in mapped.methods)


async def test_an_account_missing_from_the_chart_is_named_and_not_retryable(
    client: PahekoPluginClient, fake: FakePlugin
) -> None:
    fake.chart.discard("5112")
    with pytest.raises(MissingAccountsError) as raised:
        await client.provision(PROVISIONING)
    assert raised.value.missing_accounts == ("5112",)
    assert raised.value.field == "methods[1].account"
    assert raised.value.status == 422
    assert not raised.value.retryable


async def test_a_pushed_ticket_is_written_once_and_a_replay_answers_the_first_result(
    client: PahekoPluginClient, fake: FakePlugin
) -> None:
    await client.provision(PROVISIONING)
    ticket_id = uuid.uuid4()
    first = await client.push_ticket(ticket_id, a_ticket())
    again = await client.push_ticket(ticket_id, a_ticket())
    assert not first.replayed
    assert again.replayed
    assert again.caisse_tab_id == first.caisse_tab_id
    assert fake.tabs_written == 1
    assert (await client.ticket(ticket_id)).total == 450


async def test_the_same_ticket_id_with_other_content_is_a_conflict_carrying_what_is_stored(
    client: PahekoPluginClient,
) -> None:
    await client.provision(PROVISIONING)
    ticket_id = uuid.uuid4()
    first = await client.push_ticket(ticket_id, a_ticket())
    with pytest.raises(TicketConflictError) as raised:
        await client.push_ticket(ticket_id, a_ticket(number=2))
    assert raised.value.status == 409
    assert raised.value.stored == first
    assert not raised.value.retryable


async def test_a_rejected_ticket_names_the_field_at_fault(client: PahekoPluginClient) -> None:
    await client.provision(PROVISIONING)
    ticket = a_ticket().model_copy(
        update={"lines": (TicketLine(label="X", category="toys", quantity=1, unit_price=450, total=450),)}
    )
    with pytest.raises(PahekoRejectedError) as raised:
        await client.push_ticket(uuid.uuid4(), ticket)
    assert raised.value.field == "lines[0].category"
    assert raised.value.slug == "invalid-request"


async def test_the_credentials_are_exchanged_once_for_many_requests(
    client: PahekoPluginClient, fake: FakePlugin
) -> None:
    await client.provision(PROVISIONING)
    for number in range(1, 21):
        await client.push_ticket(uuid.uuid4(), a_ticket(number))
    assert fake.basic_checks == 1
    assert client.token_exchanges == 1
    assert all("Bearer " in r.headers["authorization"] for r in fake.requests if not r.url.path.endswith("/token"))


async def test_a_401_renews_the_token_once_and_the_request_goes_through(
    client: PahekoPluginClient, fake: FakePlugin
) -> None:
    await client.provision(PROVISIONING)
    fake.revoke_tokens()
    result = await client.push_ticket(uuid.uuid4(), a_ticket())
    assert result.total == 450
    assert client.token_exchanges == 2


async def test_a_token_is_renewed_before_it_expires(client: PahekoPluginClient, fake: FakePlugin, clock: Clock) -> None:
    await client.health()
    clock.now += 900 - 30
    await client.health()
    assert client.token_exchanges == 2
    assert sum(1 for r in fake.requests if r.url.path.endswith("/token")) == 2


async def test_wrong_credentials_are_an_auth_error_that_no_retry_fixes(fake: FakePlugin) -> None:
    async with PahekoPluginClient(
        BASE, USER, SecretStr("not-the-Secret-7f3a"), transport=httpx.MockTransport(fake.handle)
    ) as plugin:
        with pytest.raises(PahekoAuthError) as raised:
            await plugin.health()
    assert raised.value.status == 401
    assert not raised.value.retryable
    assert "not-the-Secret-7f3a" not in str(raised.value)


async def test_paheko_busy_or_unreachable_is_retryable(client: PahekoPluginClient, fake: FakePlugin) -> None:
    await client.provision(PROVISIONING)
    fake.fail_next(503)
    with pytest.raises(PahekoUnavailableError) as busy:
        await client.push_ticket(uuid.uuid4(), a_ticket())
    assert busy.value.retryable
    assert busy.value.status == 503
    fake.drop_next()
    with pytest.raises(PahekoUnavailableError) as dropped:
        await client.health()
    assert dropped.value.retryable
    assert dropped.value.status is None


async def test_an_answer_outside_the_contract_is_not_taken_for_a_result(
    client: PahekoPluginClient, fake: FakePlugin
) -> None:
    await client.health()
    fake.answer_next(httpx.Response(200, html="<html>Paheko maintenance</html>"))
    with pytest.raises(PahekoUnavailableError, match="does not match the contract"):
        await client.health()


async def test_a_close_before_every_ticket_arrived_says_how_many_are_missing(client: PahekoPluginClient) -> None:
    await client.provision(PROVISIONING)
    await client.push_ticket(uuid.uuid4(), a_ticket())
    with pytest.raises(TicketsMissingError) as raised:
        await client.close_session(SESSION, SessionCloseRequest(ticket_count=2))
    assert (raised.value.expected, raised.value.received) == (2, 1)


async def test_a_close_answers_the_balanced_accounting_entry_and_a_replay_the_same(client: PahekoPluginClient) -> None:
    await client.provision(PROVISIONING)
    opened = await client.open_session(SESSION, SessionOpenRequest(label="Caisse 1"))
    assert opened.status == "open"
    await client.push_ticket(uuid.uuid4(), a_ticket(1))
    await client.push_ticket(uuid.uuid4(), a_ticket(2))
    close = SessionCloseRequest(
        ticket_count=2, closed_by="Camille", cash=(CashCount(method="cash", counted=500, opening=0),)
    )
    closed = await client.close_session(SESSION, close)
    assert closed.status == "closed"
    assert closed.transaction is not None
    assert closed.transaction.reference == f"POS-SESSION-{closed.caisse_session_id}"
    assert closed.transaction.balanced
    again = await client.close_session(SESSION, close)
    assert again.replayed
    assert again.transaction == closed.transaction


async def test_the_client_never_shows_its_password() -> None:
    plugin = PahekoPluginClient(BASE, USER, SecretStr(PASSWORD))
    try:
        assert PASSWORD not in repr(plugin)
    finally:
        await plugin.aclose()


async def test_the_fake_plugin_holds_requests_to_the_contract(fake: FakePlugin) -> None:
    """The contract has teeth: money as a float or an unknown field is a violation, not a silent pass."""
    fake.tokens.add("t")
    body = a_ticket().model_dump(mode="json")
    body["lines"][0]["unit_price"] = 1.5
    body["colour"] = "blue"
    request = httpx.Request(
        "PUT",
        f"{BASE}p/pos_bridge/v1/tickets/{uuid.uuid4()}",
        json=body,
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
    )
    response = await fake.handle(request)
    assert response.status_code == 422
    assert any("unit_price" in v for v in fake.violations)
    assert any("colour" in v for v in fake.violations)
