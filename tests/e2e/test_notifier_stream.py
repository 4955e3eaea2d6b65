"""The notifier as a real process on real Kafka and PostgreSQL, with real WebSocket tills: scopes, catch-up,
refused tokens, a SIGKILL during a burst, presence, half-open connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import ConnectionClosed

from caisse_contracts.events import EntityType
from caisse_contracts.stream import Change, CloseCode, Item, Refresh, Refreshed, Reset, Synced, TokenExpiring
from caisse_contracts.topics import PRESENCE
from harness import ServiceProcess, Stack
from stream_support import Config, Keys, SimTill, new_scope, tenant

OPS = "notifier-ops-token"


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    served = Keys()
    yield served
    served.close()


@pytest.fixture(scope="module")
def notifier(stack: Stack, keys: Keys) -> ServiceProcess:
    service = stack.service(
        "notifier", pos_api_url=keys.url, ops_token=OPS, presence_flush_s="0.2", presence_ack_every_s="0.2"
    )
    service.start()
    return service


@pytest.fixture
def config(stack: Stack) -> Config:
    return Config(stack.infra.kafka_bootstrap)


async def test_a_till_gets_its_scope_then_the_live_changes_of_its_own_company_only(
    notifier: ServiceProcess, keys: Keys, config: Config
) -> None:
    mine, other = new_scope(), new_scope()
    shop, product, foreign = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await config.publish(
        config.change(EntityType.SHOP, mine.shop_id, tenant(mine, "shop"), name="Bocage Centre"),
        config.change(EntityType.PRODUCT, product, tenant(mine, "company"), name="Vélo", price=4500),
    )
    till = SimTill(notifier.url.replace("http", "ws"), keys.token(mine))
    ws = await till.connect()
    await till.until(ws, lambda t: t.synced == 1 and {mine.shop_id, product} <= t.items.keys())
    assert isinstance(till.received[0], Reset)
    assert till.items[mine.shop_id]["name"] == "Bocage Centre"
    assert till.items[product]["price"] == 4500
    began = time.monotonic()
    await config.publish(
        config.change(EntityType.PRODUCT, foreign, tenant(other, "company"), name="Autre", price=1),
        config.change(EntityType.PRODUCT, product, tenant(mine, "company"), name="Vélo", price=3900),
    )
    await till.until(ws, lambda t: t.versions.get(product) == 2)
    assert time.monotonic() - began < 1.0
    assert till.items[product]["price"] == 3900
    assert foreign not in till.items
    assert not any(getattr(m, "entity_id", None) == foreign for m in till.received)
    assert shop not in till.items
    await ws.close()


async def test_a_till_offline_during_three_changes_catches_up_with_exactly_those(
    notifier: ServiceProcess, keys: Keys, config: Config
) -> None:
    scope = new_scope()
    product = uuid.uuid4()
    await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=100))
    till = SimTill(notifier.url.replace("http", "ws"), keys.token(scope))
    ws = await till.connect()
    await till.until(ws, lambda t: t.synced == 1 and product in t.items)
    await ws.close()
    till.received.clear()
    await config.publish(
        config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=110),
        config.change(EntityType.SHOP, scope.shop_id, tenant(scope, "shop"), name="Gare"),
        config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=120),
    )
    await asyncio.sleep(0.5)  # the changes are in; the till is away
    ws = await till.connect()
    await till.until(ws, lambda t: t.synced == 2)
    assert [type(m) for m in till.received] == [Change, Item, Change, Synced]
    assert till.items[product]["price"] == 120
    assert till.items[scope.shop_id]["name"] == "Gare"
    await ws.close()


@pytest.mark.parametrize("case", ["forged", "expired", "missing", "unknown-key", "other-audience"])
async def test_a_forged_expired_or_missing_token_is_refused_with_a_close_code_and_a_reason(
    notifier: ServiceProcess, keys: Keys, case: str
) -> None:
    scope = new_scope()
    token = {
        "forged": keys.token(scope, key=Ed25519PrivateKey.generate()),
        "expired": keys.token(scope, ttl_s=-60),
        "missing": "",
        "unknown-key": keys.token(scope, kid="someone-else"),
        "other-audience": keys.token(scope, audience="caisse-pos-api"),
    }[case]
    till = SimTill(notifier.url.replace("http", "ws"), token)
    with pytest.raises(ConnectionClosed) as closed:
        await till.connect()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.TOKEN_REFUSED
    assert closed.value.rcvd.reason  # says why
    assert {
        "forged": "signature",
        "expired": "expired",
        "missing": "no token",
        "unknown-key": "unknown key",
        "other-audience": "not for the notifier",
    }[case] in closed.value.rcvd.reason


async def test_every_till_ends_with_the_latest_version_of_every_item_after_a_sigkill_during_a_burst(
    stack: Stack, keys: Keys, config: Config
) -> None:
    notifier = stack.service("notifier", tag="_burst", pos_api_url=keys.url, ops_token=OPS)
    notifier.start()
    scope = new_scope()
    products = [uuid.uuid4() for _ in range(50)]
    tills = [SimTill(notifier.url.replace("http", "ws"), keys.token(scope)) for _ in range(5)]
    sockets = [await t.connect() for t in tills]
    for till, ws in zip(tills, sockets, strict=True):
        await till.until(ws, lambda t: t.synced >= 1)

    async def listen(till: SimTill, ws: object) -> None:
        while True:
            with contextlib.suppress(ConnectionClosed, OSError):
                await till.until(ws, lambda _: False, timeout_s=120)  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
            try:
                ws = await till.connect()
            except (OSError, ConnectionClosed):
                continue

    listeners = [asyncio.create_task(listen(t, ws)) for t, ws in zip(tills, sockets, strict=True)]
    burst = [
        config.change(EntityType.PRODUCT, products[i % len(products)], tenant(scope, "company"), price=i)
        for i in range(500)
    ]
    publishing = asyncio.create_task(config.publish(*burst))
    await asyncio.sleep(0.3)
    notifier.stop(signal.SIGKILL)
    await publishing
    notifier.start()
    latest = {p: config.versions[p] for p in products}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(t.versions.get(p) == v for t in tills for p, v in latest.items()):  # noqa: ASYNC110 (the tills' listeners move on their own)
        await asyncio.sleep(0.2)
    for task in listeners:
        task.cancel()
    for till in tills:
        assert {p: till.versions.get(p) for p in products} == latest
        assert all(till.items[p]["price"] == config.items[p]["price"] for p in products)
    notifier.stop()


async def test_ops_see_the_tills_online_and_how_far_behind_and_presence_events_reach_kafka(
    notifier: ServiceProcess, keys: Keys, config: Config
) -> None:
    scope = new_scope()
    await config.publish(config.change(EntityType.SHOP, scope.shop_id, tenant(scope, "shop"), name="Marché"))
    till = SimTill(notifier.url.replace("http", "ws"), keys.token(scope))
    ws = await till.connect()
    await till.until(ws, lambda t: t.synced == 1 and scope.shop_id in t.items)
    await config.publish(config.change(EntityType.SHOP, scope.shop_id, tenant(scope, "shop"), name="Marché couvert"))
    await till.until(ws, lambda t: t.versions.get(scope.shop_id) == 2)

    async def listed() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=notifier.url) as client:
            assert (await client.get("/v1/tills")).status_code == 401
            answer = await client.get(
                "/v1/tills", params={"shop_id": str(scope.shop_id)}, headers={"Authorization": f"Bearer {OPS}"}
            )
        assert answer.status_code == 200
        rows = answer.json()["tills"]
        assert len(rows) <= 1
        return rows[0] if rows else {"acked_position": None, "online": None}

    deadline = time.monotonic() + 10
    row = await listed()
    while row["acked_position"] != till.position and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        row = await listed()
    assert (row["online"], row["lag"], row["acked_position"]) == (True, 0, till.position)
    await ws.close()
    deadline = time.monotonic() + 10
    while row["online"] and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        row = await listed()
    assert row["online"] is False
    kinds = await presence_kinds(notifier, scope.pos_id)
    assert (kinds[0], kinds[-1]) == ("connected", "disconnected")
    assert "acknowledged" in kinds


async def presence_kinds(notifier: ServiceProcess, pos_id: uuid.UUID) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=notifier.env["NOTIFIER_KAFKA_BOOTSTRAP"], enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(PRESENCE.name, p) for p in range(PRESENCE.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        kinds: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value or b"{}")["data"]
                    if data["pos_id"] == str(pos_id):
                        kinds.append(data["kind"])
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if kinds and kinds[-1] == "disconnected" and all(positions[tp] >= ends[tp] for tp in partitions):
                break
        return kinds
    finally:
        await consumer.stop()


async def test_a_half_open_connection_is_closed_within_the_ping_window(stack: Stack, keys: Keys) -> None:
    notifier = stack.service("notifier", tag="_ping", pos_api_url=keys.url, ops_token=OPS, ping_s="1")
    notifier.start()
    scope = new_scope()
    token = keys.token(scope)
    # A client that completes the handshake, says resume, then never reads nor answers a ping again.
    with socket.create_connection(("127.0.0.1", notifier.port)) as raw:
        raw.sendall(
            (
                "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        assert b"101" in raw.recv(4096).split(b"\r\n")[0]
        payload = b'{"type":"resume","position":null}'
        mask = b"\x01\x02\x03\x04"
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        began = time.monotonic()
        raw.settimeout(10)
        # The notifier pings, gets no pong, and ends the connection: the socket reads EOF.
        while raw.recv(65536):
            pass
        assert time.monotonic() - began < 5  # 2 × ping_s, with room for a busy machine
    notifier.stop()


async def test_a_till_resumes_on_another_replica_from_the_position_the_first_one_gave_it(
    stack: Stack, keys: Keys, config: Config
) -> None:
    other = stack.service("notifier", tag="_replica", pos_api_url=keys.url, ops_token=OPS)
    other.start()
    try:
        scope = new_scope()
        product = uuid.uuid4()
        first = stack.services["notifier"]
        await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=10))
        till = SimTill(first.url.replace("http", "ws"), keys.token(scope))
        ws = await till.connect()
        await till.until(ws, lambda t: t.versions.get(product) == 1)
        await ws.close()
        await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=20))
        till.url = other.url.replace("http", "ws")
        till.received.clear()
        ws = await till.connect()
        await till.until(ws, lambda t: t.versions.get(product) == 2 and t.synced >= 2)
        # The same position means the same change there: the missed one comes, once, as a patch (before `synced`
        # when that replica had read it already, after it otherwise), and nothing is sent whole.
        assert sorted(type(m).__name__ for m in till.received) == ["Change", "Synced"]
        assert till.items[product]["price"] == 20
        await ws.close()
    finally:
        other.stop()


async def test_a_till_that_holds_another_version_asks_for_the_item_and_gets_it(
    notifier: ServiceProcess, keys: Keys, config: Config
) -> None:
    scope = new_scope()
    product = uuid.uuid4()
    await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=10))
    till = SimTill(notifier.url.replace("http", "ws"), keys.token(scope))
    ws = await till.connect()
    await till.until(ws, lambda t: t.versions.get(product) == 1)
    till.versions[product] = 7  # its cache went astray
    await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=30))
    await till.until(ws, lambda t: t.versions.get(product) == 2)
    whole = [m for m in till.received if isinstance(m, Item) and m.entity_id == product]
    assert whole[-1].version == 2  # the item, sent whole, after the patch did not apply
    assert whole[-1].position is None  # an answer moves no till forward in the log
    assert till.items[product]["price"] == 30
    await ws.close()


async def test_a_token_running_out_is_renewed_over_the_socket_or_the_connection_ends(
    notifier: ServiceProcess, keys: Keys
) -> None:
    scope = new_scope()
    renewing, lapsing = (SimTill(notifier.url.replace("http", "ws"), keys.token(scope, ttl_s=12)) for _ in range(2))
    renewing_ws, lapsing_ws = await renewing.connect(), await lapsing.connect()
    await renewing.until(renewing_ws, lambda t: t.synced >= 1)
    await lapsing.until(lapsing_ws, lambda t: t.synced >= 1)
    # Both are warned (their token ends within the warning time); one refreshes, the other does not.
    await renewing.until(renewing_ws, lambda t: any(isinstance(m, TokenExpiring) for m in t.received), timeout_s=10)
    await renewing_ws.send(Refresh(token=keys.token(scope, ttl_s=600)).model_dump_json())
    await renewing.until(renewing_ws, lambda t: any(isinstance(m, Refreshed) for m in t.received), timeout_s=10)
    with pytest.raises(ConnectionClosed) as closed:
        await lapsing.until(lapsing_ws, lambda _: False, timeout_s=30)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CloseCode.TOKEN_REFUSED, "the token expired")
    await asyncio.sleep(1)
    await renewing_ws.ping()  # still open well after its first token ended
    foreign = keys.token(new_scope())
    await renewing_ws.send(Refresh(token=foreign).model_dump_json())
    with pytest.raises(ConnectionClosed) as refused:
        await renewing.until(renewing_ws, lambda _: False, timeout_s=10)
    assert refused.value.rcvd is not None
    assert refused.value.rcvd.code == CloseCode.FORBIDDEN


async def test_a_notifier_stopping_tells_its_tills_it_restarts_and_they_resume_after_with_their_tokens_remembered(
    stack: Stack, keys: Keys, config: Config
) -> None:
    notifier = stack.service("notifier", tag="_restart", pos_api_url=keys.url, ops_token=OPS)
    notifier.start()
    scope = new_scope()
    product = uuid.uuid4()
    await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=10))
    till = SimTill(notifier.url.replace("http", "ws"), keys.token(scope))
    ws = await till.connect()
    await till.until(ws, lambda t: t.versions.get(product) == 1)
    stopping = asyncio.create_task(asyncio.to_thread(notifier.stop))
    with pytest.raises(ConnectionClosed) as closed:
        await till.until(ws, lambda _: False, timeout_s=20)
    assert await stopping == 0
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.SERVICE_RESTART
    await config.publish(config.change(EntityType.PRODUCT, product, tenant(scope, "company"), price=20))
    published, keys.jwks = keys.jwks, {"keys": []}  # pos-api unreachable or its keys gone meanwhile
    try:
        notifier.start()
        till.received.clear()
        ws = await till.connect()  # its token was verified before the restart: remembered, no check again
        await till.until(ws, lambda t: t.versions.get(product) == 2)
        assert [type(m) for m in till.received if getattr(m, "entity_id", None) == product] == [Change]
        stranger = SimTill(notifier.url.replace("http", "ws"), keys.token(new_scope()))
        with pytest.raises(ConnectionClosed) as refused:
            await stranger.connect()  # a token never seen needs the keys
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == CloseCode.TOKEN_REFUSED
        await ws.close()
    finally:
        keys.jwks = published
        notifier.stop()
