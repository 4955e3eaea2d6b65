"""The session-service proxy works with the HTTP client it is handed: it sends pos-api's token and the caller, and
passes session-service's answer through as it is, problems included."""

from __future__ import annotations

import httpx
import pytest

from caisse_runtime.http import ProblemError
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy


async def test_a_call_carries_the_service_token_and_the_caller_and_the_answer_passes_through() -> None:
    seen: list[httpx.Request] = []

    def session_service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            409,
            json={"title": "Closing"},
            headers={"content-type": "application/problem+json", "retry-after": "2", "x-internal": "no"},
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(session_service), base_url="http://session-service")
    proxy = SessionServiceProxy(client, "service-token")
    answer = await proxy.forward("POST", "/v1/sessions/s/close", {"X-Caisse-Pos-Id": "p"}, json={"counted": 10})
    await proxy.close()
    assert seen[0].headers["authorization"] == "Bearer service-token"
    assert seen[0].headers["x-caisse-pos-id"] == "p"
    assert seen[0].url.path == "/v1/sessions/s/close"
    assert answer.status_code == 409
    assert answer.body == b'{"title":"Closing"}'
    assert answer.headers["retry-after"] == "2"
    assert "x-internal" not in answer.headers
    assert client.is_closed


async def test_an_unreachable_session_service_is_a_503_naming_it() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    proxy = SessionServiceProxy(
        httpx.AsyncClient(transport=httpx.MockTransport(down), base_url="http://session-service")
    )
    with pytest.raises(ProblemError) as caught:
        await proxy.forward("GET", "/v1/sessions/s", {})
    await proxy.close()
    assert caught.value.status == 503
    assert "session-service" in str(caught.value.detail)
