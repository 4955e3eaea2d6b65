"""The HTTP client of the pos_bridge plugin in Paheko: one kept-alive connection pool, a token exchanged once and
renewed before it expires or on a 401, typed answers, and errors that say whether retrying can help."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from paheko_bridge.adapters.paheko.models import (
    DepositRequest,
    DepositResult,
    Health,
    Provisioning,
    ProvisioningRequest,
    SessionCloseRequest,
    SessionOpenRequest,
    SessionState,
    TicketPush,
    TicketResult,
    Token,
)

PLUGIN_PATH: Final = "p/pos_bridge/v1/"
RENEW_BEFORE_S: Final = 60.0
"""A token is renewed this long before it expires, so that a push never starts with a token about to lapse."""

Answer = TypeVar("Answer", bound=BaseModel)


class PahekoPluginError(Exception):
    """Root of the plugin client's errors. `retryable` says whether the same request may succeed later."""

    retryable: bool = False


class PahekoUnavailableError(PahekoPluginError):
    """Paheko did not answer, or answered 5xx, 408 or 429: retry later with backoff; a replay is safe."""

    retryable = True

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PahekoRejectedError(PahekoPluginError):
    """The plugin refused the request (4xx): the same request will be refused again. Carries the problem."""

    retryable = False

    def __init__(
        self,
        status: int,
        *,
        slug: str,
        title: str,
        detail: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {slug}: {detail}" + (f" ({field})" if field else ""))
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.field = field
        self.extra = extra or {}


class PahekoAuthError(PahekoRejectedError):
    """The API credential is unknown, wrong or below write level."""


class TicketConflictError(PahekoRejectedError):
    """This ticket UUID is already in Paheko with other content; `stored` is what the first push wrote."""

    @property
    def stored(self) -> TicketResult | None:
        raw = self.extra.get("stored")
        return TicketResult.model_validate(raw) if raw else None


class MissingAccountsError(PahekoRejectedError):
    """Accounts the mapping needs are not in the chart of Paheko's open accounting year."""

    @property
    def missing_accounts(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.extra.get("missing_accounts", ()))


class TicketsMissingError(PahekoRejectedError):
    """A session close arrived before every ticket of the session reached Paheko."""

    @property
    def expected(self) -> int:
        return int(self.extra.get("expected", 0))

    @property
    def received(self) -> int:
        return int(self.extra.get("received", 0))


_BY_SLUG: Final[dict[str, type[PahekoRejectedError]]] = {
    "ticket-conflict": TicketConflictError,
    "missing-accounts": MissingAccountsError,
    "tickets-missing": TicketsMissingError,
    "invalid-credentials": PahekoAuthError,
    "insufficient-access": PahekoAuthError,
    "unauthenticated": PahekoAuthError,
    "invalid-token": PahekoAuthError,
}
_PROBLEM_KEYS: Final = frozenset({"type", "title", "status", "detail", "field"})


def _rejection(response: httpx.Response) -> PahekoRejectedError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return PahekoRejectedError(
            response.status_code, slug="unexpected", title="Unexpected answer", detail=response.text[:200]
        )
    slug = str(body.get("type", "")).rsplit("/", 1)[-1] or "unexpected"
    cls = _BY_SLUG.get(slug, PahekoRejectedError)
    field = body.get("field")
    return cls(
        response.status_code,
        slug=slug,
        title=str(body.get("title", "")),
        detail=str(body.get("detail", "")),
        field=str(field) if field is not None else None,
        extra={k: v for k, v in body.items() if k not in _PROBLEM_KEYS},
    )


class PahekoPluginClient:
    """One Paheko's pos_bridge plugin. Use as an async context manager, or call `aclose()`.

    `paheko_url` is Paheko's root (the `WWW_URL`, e.g. https://asso.example.org/); the credentials are a Paheko API
    credential of write level. `transport` lets tests put a fake plugin behind the client.
    """

    def __init__(
        self,
        paheko_url: str,
        api_user: str,
        api_password: SecretStr,
        *,
        timeout_s: float = 10.0,
        close_timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = (api_user, api_password)
        self._clock = clock
        self._close_timeout = httpx.Timeout(close_timeout_s)
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()
        self.token_exchanges = 0
        self._http = httpx.AsyncClient(
            base_url=paheko_url.rstrip("/") + "/" + PLUGIN_PATH,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30.0),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"PahekoPluginClient({str(self._http.base_url)!r}, user={self._credentials[0]!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the API -------------------------------------------------------------------------------------------------

    async def health(self) -> Health:
        return await self._call("GET", "health", Health)

    async def provisioning(self) -> Provisioning:
        return await self._call("GET", "provisioning", Provisioning)

    async def provision(self, request: ProvisioningRequest) -> Provisioning:
        """Create or update the Caisse categories and methods of our own; `MissingAccountsError` names what lacks."""
        return await self._call("PUT", "provisioning", Provisioning, request)

    async def open_session(self, session_id: UUID, request: SessionOpenRequest) -> SessionState:
        return await self._call("PUT", f"sessions/{session_id}", SessionState, request)

    async def session(self, session_id: UUID) -> SessionState:
        return await self._call("GET", f"sessions/{session_id}", SessionState)

    async def close_session(self, session_id: UUID, request: SessionCloseRequest) -> SessionState:
        """Close and sync; idempotent. `TicketsMissingError` when some ticket has not been pushed yet."""
        return await self._call(
            "POST", f"sessions/{session_id}/close", SessionState, request, http_timeout=self._close_timeout
        )

    async def push_ticket(self, ticket_id: UUID, ticket: TicketPush) -> TicketResult:
        """Idempotent PUT: a replay answers the first result (`replayed`); other content is `TicketConflictError`."""
        return await self._call("PUT", f"tickets/{ticket_id}", TicketResult, ticket)

    async def book_deposit(self, deposit_id: UUID, request: DepositRequest) -> DepositResult:
        """Idempotent PUT: a replay answers the first result (`replayed`); other figures are a 409."""
        return await self._call("PUT", f"deposits/{deposit_id}", DepositResult, request)

    async def ticket(self, ticket_id: UUID) -> TicketResult:
        return await self._call("GET", f"tickets/{ticket_id}", TicketResult)

    # -- plumbing ------------------------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise PahekoUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in {408, 429}:
            raise PahekoUnavailableError(
                f"Paheko answered {response.status_code} to {method} {path}", status=response.status_code
            )
        return response

    async def _bearer(self, *, stale: str | None = None) -> str:
        """The current token, exchanged when there is none, when it is about to expire, or when it is `stale`
        (the plugin answered 401 to it). Concurrent callers share one exchange."""
        async with self._token_lock:
            token = self._token
            if token is not None and token != stale and self._clock() < self._token_renew_at:
                return token
            user, password = self._credentials
            response = await self._send("POST", "token", auth=httpx.BasicAuth(user, password.get_secret_value()))
            if response.status_code != 200:
                raise _rejection(response)
            issued = self._parse(response, Token)
            self.token_exchanges += 1
            self._token = issued.token
            self._token_renew_at = self._clock() + max(issued.expires_in - RENEW_BEFORE_S, issued.expires_in / 2)
            return issued.token

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[Answer],
        body: BaseModel | None = None,
        *,
        http_timeout: httpx.Timeout | None = None,
    ) -> Answer:
        content = body.model_dump_json().encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        extra: dict[str, Any] = {"timeout": http_timeout} if http_timeout is not None else {}
        token = await self._bearer()
        response = await self._send(
            method, path, content=content, headers={**headers, "Authorization": f"Bearer {token}"}, **extra
        )
        if response.status_code == 401:
            token = await self._bearer(stale=token)
            response = await self._send(
                method, path, content=content, headers={**headers, "Authorization": f"Bearer {token}"}, **extra
            )
        if response.status_code >= 400:
            raise _rejection(response)
        return self._parse(response, answer)

    @staticmethod
    def _parse(response: httpx.Response, answer: type[Answer]) -> Answer:
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            # An answer that does not match the contract: a plugin of another version, or a proxy's error page.
            raise PahekoUnavailableError(
                f"answer of {response.request.method} {response.request.url.path} does not match the contract: "
                f"{exc.error_count()} error(s)",
                status=response.status_code,
            ) from exc
