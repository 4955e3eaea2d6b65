"""pos-api's calls to session-service on behalf of a till or an operator: its answers pass through unchanged.

The composition root makes the pooled HTTP client when the application starts and closes it when it stops; the
routes receive the proxy as a dependency (`CurrentSessionService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx
from fastapi import Response

from caisse_runtime.http import ProblemError
from caisse_runtime.telemetry import inject_into

PASSED_HEADERS: Final = ("content-type", "retry-after", "x-session-outcome", "content-disposition")
TIMEOUT: Final = httpx.Timeout(5.0, read=60.0)
"""A close may wait (bounded, in session-service) for the till's last tickets."""


def session_service_client(base_url: str) -> httpx.AsyncClient:
    """One pooled client per process, for every call to session-service."""
    return httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT)


@dataclass(frozen=True, slots=True)
class SessionServiceProxy:
    """Forwards a request to session-service with pos-api's service token and the caller it authenticated."""

    client: httpx.AsyncClient
    token: str | None = None
    """The service token session-service expects of pos-api (its SERVICE_TOKEN); None where it needs none."""

    async def forward(
        self, method: str, path: str, caller: dict[str, str], *, json: dict[str, Any] | None = None
    ) -> Response:
        """The call to session-service on behalf of `caller`; its answer as it is (problems included)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        headers.update(caller)
        inject_into(headers)  # the caller's trace continues in session-service
        try:
            answer = await self.client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ProblemError(
                503, "Session service unreachable", detail=f"session-service did not answer: {type(exc).__name__}"
            ) from exc
        passed = {k: v for k, v in answer.headers.items() if k.lower() in PASSED_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=passed)

    async def close(self) -> None:
        await self.client.aclose()
