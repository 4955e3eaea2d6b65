"""One company's Paheko as the use cases see it: writes through the pos_bridge plugin behind a circuit breaker,
reads back through Paheko's own read-only `/api/sql`, errors translated to "try later" or "refused".

The breaker (purgatory) opens after a run of failures of the same Paheko and lets one probe through after its
time-to-live: while it is open no request leaves, so a Paheko that is down is not hammered by every POS of the
company, and its tickets simply wait (they are stored). Refusals (4xx) do not count as failures: Paheko answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol
from uuid import UUID

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import SecretStr

from caisse_contracts.config import AccountMapping, Category
from caisse_contracts.events import SessionClosedV1, SessionDepositConfirmedV1, TicketFinalizedV1
from paheko_bridge.adapters.paheko.client import (
    PahekoPluginClient,
    PahekoPluginError,
    PahekoRejectedError,
    PahekoUnavailableError,
)
from paheko_bridge.adapters.paheko.payloads import (
    deposit_request,
    provisioning_request,
    session_close,
    session_label,
    ticket_push,
)
from paheko_bridge.domain.reconciliation import LedgerLine
from paheko_bridge.service_layer.ports import (
    PahekoDeposit,
    PahekoLedger,
    Pushed,
    TargetRejectedError,
    TargetUnavailableError,
)

SQL_PATH: Final = "api/sql"

LEDGER_SQL: Final = """
SELECT 'line' AS kind, a.code AS account, SUM(l.debit) AS debit, SUM(l.credit) AS credit, NULL AS n
FROM acc_transactions_lines l
JOIN acc_transactions t ON t.id = l.id_transaction
JOIN acc_accounts a ON a.id = l.id_account
WHERE t.reference IN ('{reference}', '{reference}-TVA')
GROUP BY a.code
UNION ALL
SELECT 'vat', l.reference, SUM(l.debit), SUM(l.credit), NULL
FROM acc_transactions_lines l
JOIN acc_transactions t ON t.id = l.id_transaction
WHERE t.reference = '{reference}-TVA' AND l.reference LIKE 'TVA-%'
GROUP BY l.reference
UNION ALL
SELECT 'transaction', NULL, NULL, NULL, id FROM acc_transactions WHERE reference = '{reference}'
UNION ALL
SELECT 'tabs', NULL, NULL, NULL, COUNT(*) FROM plugin_pos_tabs WHERE session = {caisse_session}
"""
"""One query, so that Paheko checks the API credential (a bcrypt) once per reconciliation: the lines of the
session's entry and of its VAT complement, the VAT lines per rate (line reference `TVA-<basis points>`)."""


class PahekoSqlReader:
    """Paheko's `/api/sql`: SELECT only, HTTP Basic on every call (a bcrypt check: used once per session close)."""

    def __init__(
        self, paheko_url: str, api_user: str, api_password: SecretStr, *, transport: httpx.AsyncBaseTransport | None
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=paheko_url.rstrip("/") + "/",
            auth=(api_user, api_password.get_secret_value()),
            timeout=httpx.Timeout(15.0),
            transport=transport,
        )

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        try:
            response = await self._http.post(SQL_PATH, data={"sql": sql})
        except httpx.HTTPError as exc:
            raise TargetUnavailableError(f"Paheko's SQL API did not answer: {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TargetUnavailableError(f"Paheko's SQL API answered {response.status_code}")
        if response.status_code >= 400:
            raise TargetRejectedError(f"Paheko's SQL API refused the reconciliation query: {response.status_code}")
        results: list[dict[str, Any]] = response.json().get("results", [])
        return results

    async def aclose(self) -> None:
        await self._http.aclose()


class ConfigItems(Protocol):
    """The configuration's items by id (shops, tills, operators): what the books name."""

    async def item(self, entity_id: UUID) -> dict[str, Any] | None: ...


class PluginTarget:
    """A company's Paheko: its plugin client, its SQL reader and its circuit. `items` names the tills, shops and
    cashiers in what Paheko stores; a target is rebuilt when the configuration changes, so it keeps what it read."""

    def __init__(
        self,
        client: PahekoPluginClient,
        reader: PahekoSqlReader,
        breakers: AsyncCircuitBreakerFactory,
        *,
        circuit: str,
        label: str | None = None,
        timezone: str = "Europe/Paris",
        vat_subject: bool = False,
        card_batches: bool = False,
        items: ConfigItems | None = None,
    ) -> None:
        self._client = client
        self._reader = reader
        self._breakers = breakers
        self._circuit = circuit
        self._label = label
        self._timezone = timezone
        self._vat_subject = vat_subject
        self._card_batches = card_batches
        self._items = items
        self._known: dict[UUID, dict[str, Any] | None] = {}
        self._accounts: AccountMapping | None = None

    async def _item(self, entity_id: UUID | None) -> dict[str, Any]:
        if entity_id is None or self._items is None:
            return {}
        if entity_id not in self._known:
            self._known[entity_id] = await self._items.item(entity_id)
        return self._known[entity_id] or {}

    async def _name(self, entity_id: UUID | None) -> str | None:
        name = (await self._item(entity_id)).get("name")
        return str(name) if name else None

    async def provision(self, categories: Iterable[Category], accounts: AccountMapping) -> None:
        """Map the company's categories and our payment methods to Caisse's, with their accounts: before any push."""
        request = provisioning_request(categories, accounts, vat_subject=self._vat_subject)
        await self._guarded(self._client.provision(request))
        self._accounts = accounts

    async def push_ticket(self, ticket: TicketFinalizedV1) -> Pushed:
        push = ticket_push(
            ticket,
            label=await self._name(ticket.pos_id) or self._label,
            timezone=self._timezone,
            vat_subject=self._vat_subject,
            cashier=await self._name(ticket.operator_id),
            card_batches=self._card_batches,
        )
        result = await self._guarded(self._client.push_ticket(ticket.ticket_id, push))
        return Pushed(result.caisse_session_id, result.caisse_tab_id, result.replayed)

    async def close_session(self, closed: SessionClosedV1) -> None:
        shop = await self._item(closed.shop_id)
        till = await self._name(closed.pos_id)
        closer = await self._name(closed.closed_by)
        opener = await self._name(closed.opened_by)
        request = session_close(
            closed,
            timezone=self._timezone,
            label=session_label(shop.get("name") or self._label, till, closed.closed_at, self._timezone),
            opened_by=" — ".join(name for name in (till, opener) if name) or None,
            closed_by=" — ".join(name for name in (till, closer) if name) or None,
            project=shop.get("analytic_project"),
        )
        await self._guarded(self._client.close_session(closed.session_id, request))

    async def book_deposit(self, deposit: SessionDepositConfirmedV1) -> PahekoDeposit:
        """The deposit's entry `POS-DEPOSIT-<Caisse session>`, labelled with the shop, the till, the day of the
        close and the slip, on the shop's analytic project; the accounts those the company was provisioned with."""
        shop = await self._item(deposit.shop_id)
        till = await self._name(deposit.pos_id)
        day = session_label(shop.get("name") or self._label, till, deposit.closed_at, self._timezone)
        request = deposit_request(
            deposit,
            self._accounts or AccountMapping(),
            label=f"{day} — Remise {deposit.reference}",
            project=shop.get("analytic_project"),
        )
        result = await self._guarded(self._client.book_deposit(deposit.deposit_id, request))
        entry = result.transaction
        return PahekoDeposit(
            paheko_session_id=result.caisse_session_id,
            transaction_reference=entry.reference,
            transaction_id=entry.id,
            lines=tuple(LedgerLine(line.account, line.debit, line.credit) for line in entry.lines),
        )

    async def ledger(self, closed: SessionClosedV1) -> PahekoLedger:
        state = await self._guarded(self._client.session(closed.session_id))
        caisse_session = int(state.caisse_session_id)
        reference = f"POS-SESSION-{caisse_session}"
        rows = await self._reader.rows(LEDGER_SQL.format(reference=reference, caisse_session=caisse_session))
        lines = [r for r in rows if r["kind"] == "line"]
        transaction = [int(r["n"]) for r in rows if r["kind"] == "transaction"]
        tabs = [int(r["n"]) for r in rows if r["kind"] == "tabs"]
        vat = {
            int(str(r["account"]).removeprefix("TVA-")): int(r["credit"] or 0) - int(r["debit"] or 0)
            for r in rows
            if r["kind"] == "vat"
        }
        return PahekoLedger(
            paheko_session_id=caisse_session,
            transaction_reference=reference if transaction else None,
            transaction_id=transaction[0] if transaction else None,
            lines=tuple(LedgerLine(str(r["account"]), int(r["debit"] or 0), int(r["credit"] or 0)) for r in lines),
            tickets=tabs[0] if tabs else 0,
            vat_by_rate={rate: amount for rate, amount in vat.items() if amount},
        )

    async def _guarded(self, call: Any) -> Any:
        try:
            async with await self._breakers.get_breaker(self._circuit):
                return await call
        except OpenedState as exc:
            call.close()
            raise TargetUnavailableError(
                f"Paheko is failing: circuit {self._circuit} open, trying again later"
            ) from exc
        except PahekoUnavailableError as exc:
            raise TargetUnavailableError(exc.reason) from exc
        except PahekoRejectedError as exc:
            raise TargetRejectedError(str(exc)) from exc
        except PahekoPluginError as exc:
            raise TargetRejectedError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._reader.aclose()


def breakers(*, threshold: int = 5, ttl_s: float = 30.0) -> AsyncCircuitBreakerFactory:
    """One circuit per Paheko; refusals are answers, not failures."""
    return AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=ttl_s, exclude=[PahekoRejectedError])
