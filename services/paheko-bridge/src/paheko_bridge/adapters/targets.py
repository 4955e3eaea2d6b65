"""Where each company's accounting goes: its Paheko when the back office gave it a URL and credentials, else the
FEC journal, with the company's books. A company's Paheko is provisioned (categories and methods with their accounts) before its first push,
and again whenever the configuration changes; its credentials come from pos-api, which keeps them encrypted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

import httpx
from pydantic import SecretStr

from caisse_contracts.config import AccountMapping
from paheko_bridge.adapters.config_view import SqlConfigView
from paheko_bridge.adapters.paheko.client import PahekoPluginClient
from paheko_bridge.adapters.paheko.target import PahekoSqlReader, PluginTarget, breakers
from paheko_bridge.domain.fec import FecBooks
from paheko_bridge.service_layer.ports import TargetRejectedError, TargetUnavailableError


class PosApiCredentials:
    """A company's Paheko API credentials, read from pos-api's internal route with the bridge's own token."""

    def __init__(self, pos_api_url: str, token: SecretStr, *, transport: httpx.AsyncBaseTransport | None = None):
        self._http = httpx.AsyncClient(
            base_url=pos_api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout=httpx.Timeout(10.0),
            transport=transport,
        )

    async def of(self, company_id: UUID) -> tuple[str, SecretStr] | None:
        try:
            response = await self._http.get(f"/v1/internal/companies/{company_id}/paheko-credentials")
        except httpx.HTTPError as exc:
            raise TargetUnavailableError(f"pos-api did not answer for Paheko credentials: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TargetUnavailableError(f"pos-api answered {response.status_code} for Paheko credentials")
        body = response.json()
        return body["api_user"], SecretStr(body["api_password"])

    async def aclose(self) -> None:
        await self._http.aclose()


@dataclass
class _Known:
    generation: int
    target: PluginTarget | None


class ConfiguredTargets:
    """The `Targets` port from the configuration view, pos-api's credentials and one circuit per Paheko."""

    def __init__(
        self,
        view: SqlConfigView,
        credentials: PosApiCredentials,
        *,
        breaker_threshold: int = 5,
        breaker_ttl_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._view = view
        self._credentials = credentials
        self._breakers = breakers(threshold=breaker_threshold, ttl_s=breaker_ttl_s)
        self._transport = transport
        self._known: dict[UUID, _Known] = {}
        self._books_known: dict[UUID, tuple[int, FecBooks]] = {}
        self._lock = asyncio.Lock()

    async def paheko(self, company_id: UUID) -> PluginTarget | None:
        known = self._known.get(company_id)
        if known is not None and known.generation == self._view.generation:
            return known.target
        async with self._lock:
            known = self._known.get(company_id)
            if known is not None and known.generation == self._view.generation:
                return known.target
            generation = self._view.generation
            target = await self._build(company_id)
            if known is not None and known.target is not None:
                await known.target.aclose()
            self._known[company_id] = _Known(generation, target)
            return target

    async def _build(self, company_id: UUID) -> PluginTarget | None:
        company = await self._view.company(company_id)
        if company is None:
            raise TargetUnavailableError(f"company {company_id} is not known to the bridge yet")
        if company.paheko_url is None:
            return None
        credentials = await self._credentials.of(company_id)
        if credentials is None:
            raise TargetUnavailableError(f"company {company_id} has a Paheko URL but no API credentials yet")
        user, password = credentials
        client = PahekoPluginClient(company.paheko_url, user, password, transport=self._transport)
        reader = PahekoSqlReader(company.paheko_url, user, password, transport=self._transport)
        target = PluginTarget(
            client,
            reader,
            self._breakers,
            circuit=f"paheko:{company_id}",
            label=company.name,
            timezone=await self._view.timezone_of(company),
            vat_subject=company.vat_subject,
            card_batches=company.card_batch_booking,
            items=self._view,
        )
        try:
            await target.provision(await self._view.categories(company_id), company.accounts)
        except (TargetRejectedError, TargetUnavailableError) as exc:
            await target.aclose()
            # A chart without an account, say: the tickets wait (nothing is dead-lettered for a setting) and ops
            # read why on each of them until the configuration is fixed.
            raise TargetUnavailableError(f"Paheko of company {company_id} cannot be provisioned: {exc}") from exc
        except BaseException:
            await target.aclose()
            raise
        return target

    async def accounts(self, company_id: UUID) -> AccountMapping:
        company = await self._view.company(company_id)
        return company.accounts if company is not None else AccountMapping()

    async def category_accounts(self, company_id: UUID) -> dict[UUID, str]:
        return {c.id: c.revenue_account for c in await self._view.categories(company_id)}

    async def vat_subject(self, company_id: UUID) -> bool:
        company = await self._view.company(company_id)
        return company is not None and company.vat_subject

    async def fec_books(self, company_id: UUID) -> FecBooks:
        """The company's FEC books, read again only when the configuration view moved."""
        known = self._books_known.get(company_id)
        if known is not None and known[0] == self._view.generation:
            return known[1]
        generation = self._view.generation
        company = await self._view.company(company_id)
        if company is None:
            raise TargetUnavailableError(f"company {company_id} is not known to the bridge yet")
        timezone = await self._view.territory_timezone(company)
        if timezone is None:
            # A guessed time zone would date a session's close on another territory's day: the entry waits.
            raise TargetUnavailableError(f"the territory of company {company_id} is not known to the bridge yet")
        books = FecBooks.of_company(
            company,
            timezone=timezone,
            shops=await self._view.shops(company_id),
            tills=await self._view.tills(company_id),
        )
        self._books_known[company_id] = (generation, books)
        return books

    async def aclose(self) -> None:
        for known in self._known.values():
            if known.target is not None:
                await known.target.aclose()
        await self._credentials.aclose()
