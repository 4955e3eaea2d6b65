"""pos-api as the till sees it: its stream tokens (`POST /v1/till/stream-token`), its boot data, the cashier's
login, the finalize of a till-numbered ticket and the batch syncs of sales and sessions, all authenticated by the
device."""

from __future__ import annotations

import logging
from typing import Any, Final
from uuid import UUID

import httpx
from pydantic import ValidationError

from caisse_contracts.events import TicketFinalizedV1
from caisse_contracts.session_api import SessionSyncOut
from caisse_contracts.stream import StreamToken
from caisse_contracts.sync import SYNC_SALES_PATH, OfflineSale, SyncAnswer
from caisse_contracts.till_reports import TILL_NUMBERING_PATH, TILL_REPORT_PATH, Numbering, TillReport
from hw_proxy.domain.enrolment import DeviceIdentity
from hw_proxy.service_layer.ports import CentralRefusedError, CentralUnreachableError, TokenUnavailableError

log = logging.getLogger(__name__)

STREAM_TOKEN_PATH: Final = "/v1/till/stream-token"  # noqa: S105 (a route, not a secret)


class PosApiStreamTokens:
    """Asks pos-api for a stream token with the till's serial and secret (the secret goes in a header, never in a
    log line)."""

    def __init__(self, client: httpx.AsyncClient, identity: DeviceIdentity) -> None:
        self._client = client
        self._identity = identity

    async def fetch(self) -> StreamToken:
        credentials = self._identity.credentials
        if credentials is None:
            raise TokenUnavailableError("the till is not enrolled", refused=True)
        headers = credentials.headers()
        try:
            response = await self._client.post(STREAM_TOKEN_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise TokenUnavailableError(f"pos-api does not answer ({type(exc).__name__})") from None
        if response.status_code in (401, 403, 404):
            raise TokenUnavailableError(f"pos-api refuses the device ({response.status_code})", refused=True)
        if response.status_code != 200:
            raise TokenUnavailableError(f"pos-api answers {response.status_code}")
        try:
            return StreamToken.model_validate_json(response.content)
        except ValidationError:
            raise TokenUnavailableError("pos-api's stream token does not match the contract") from None


class PosApiCentral:
    """pos-api as the till's central side (the `CentralApi` port): device headers on every call, the short
    `HW_PROXY_FORWARD_TIMEOUT_S` on the finalize and the login (the cashier must not wait), the longer client
    timeout on the batch syncs. No answer, a timeout or a 5xx is `CentralUnreachableError`."""

    def __init__(self, client: httpx.AsyncClient, identity: DeviceIdentity, *, forward_timeout_s: float) -> None:
        self._client = client
        self._identity = identity
        self._forward_timeout_s = forward_timeout_s

    async def _call(self, method: str, path: str, *, json: Any = None, short: bool = False) -> httpx.Response:
        credentials = self._identity.credentials
        if credentials is None:
            raise CentralUnreachableError("the till is not enrolled")
        timeout = self._forward_timeout_s if short else httpx.USE_CLIENT_DEFAULT
        try:
            response = await self._client.request(
                method, path, json=json, headers=credentials.headers(), timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise CentralUnreachableError(f"pos-api does not answer ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise CentralUnreachableError(f"pos-api answers {response.status_code}")
        if response.status_code >= 400:
            body = _json_object(response)
            raise CentralRefusedError(response.status_code, str(body.get("detail") or body.get("title") or ""), body)
        return response

    async def numbering(self) -> Numbering:
        response = await self._call("GET", TILL_NUMBERING_PATH)
        try:
            return Numbering.model_validate_json(response.content)
        except ValidationError:
            raise CentralUnreachableError("pos-api's numbering does not match the contract") from None

    async def report(self, report: TillReport) -> None:
        await self._call("PUT", TILL_REPORT_PATH, json=report.model_dump(mode="json"))

    async def cashier_login(self, operator_id: UUID, pin: str) -> None:
        await self._call("POST", "/v1/cashier-login", json={"operator_id": str(operator_id), "pin": pin}, short=True)

    async def post_ticket(self, ticket: TicketFinalizedV1) -> str:
        response = await self._call("POST", "/v1/tickets", json=ticket.model_dump(mode="json"), short=True)
        return "created" if response.status_code == 201 else "already_exists"

    async def sync_sales(self, sales: list[OfflineSale]) -> SyncAnswer:
        body = {"sales": [s.model_dump(mode="json") for s in sales]}
        response = await self._call("POST", SYNC_SALES_PATH, json=body)
        try:
            return SyncAnswer.model_validate_json(response.content)
        except ValidationError:
            raise CentralUnreachableError("pos-api's sync answer does not match the contract") from None

    async def sync_sessions(self, operations: list[dict[str, Any]]) -> SessionSyncOut:
        response = await self._call("POST", "/v1/sync/sessions", json={"operations": operations})
        try:
            return SessionSyncOut.model_validate_json(response.content)
        except ValidationError:
            raise CentralUnreachableError("pos-api's session sync answer does not match the contract") from None

    async def deposit_slip(self, session_id: UUID) -> bytes:
        response = await self._call("GET", f"/v1/sessions/{session_id}/deposit-slip.escpos")
        return response.content


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
