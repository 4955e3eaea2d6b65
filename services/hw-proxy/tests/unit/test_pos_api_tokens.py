"""Stream tokens from pos-api: the device's serial and secret in headers, the contract's `StreamToken` back, and
every way it can fail told apart (refused device, pos-api away, an answer off the contract)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from caisse_contracts.stream import STREAM_PATH, StreamToken
from hw_proxy.adapters.pos_api import PosApiStreamTokens
from hw_proxy.domain.enrolment import DeviceCredentials, DeviceIdentity
from hw_proxy.service_layer.ports import TokenUnavailableError

TOKEN = StreamToken(token="eyJ.stream.token", expires_at=datetime(2026, 12, 4, 10, 15, tzinfo=UTC))


def tokens(handler: httpx.MockTransport) -> PosApiStreamTokens:
    client = httpx.AsyncClient(transport=handler, base_url="http://pos-api.test")
    return PosApiStreamTokens(client, DeviceIdentity(DeviceCredentials("TILL-0001", SecretStr("s3cret"))))


async def test_the_token_is_asked_with_the_device_credentials_and_read_from_the_contract() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=TOKEN.model_dump_json())

    assert await tokens(httpx.MockTransport(handle)).fetch() == TOKEN
    assert TOKEN.stream_path == STREAM_PATH
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/v1/till/stream-token")
    assert request.headers["X-Device-Serial"] == "TILL-0001"
    assert request.headers["X-Device-Secret"] == "s3cret"


@pytest.mark.parametrize(("status", "refused"), [(401, True), (403, True), (503, False), (500, False)])
async def test_a_refusal_is_told_from_an_outage(status: int, refused: bool) -> None:
    with pytest.raises(TokenUnavailableError) as caught:
        await tokens(httpx.MockTransport(lambda _: httpx.Response(status))).fetch()
    assert caught.value.refused is refused
    assert "s3cret" not in str(caught.value)


async def test_pos_api_out_of_reach_is_an_outage() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TokenUnavailableError, match="does not answer") as caught:
        await tokens(httpx.MockTransport(handle)).fetch()
    assert not caught.value.refused


async def test_an_answer_off_the_contract_is_no_token() -> None:
    with pytest.raises(TokenUnavailableError, match="contract"):
        await tokens(httpx.MockTransport(lambda _: httpx.Response(200, json={"jwt": "x"}))).fetch()
