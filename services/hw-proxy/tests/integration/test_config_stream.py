"""The till's config stream over real sockets: a scripted notifier (a real `websockets` server on 127.0.0.1 that
speaks the contract of caisse_contracts.stream) and a pos-api that hands out stream tokens.

The subscriber resumes from its stored position, refreshes its token over the socket, fetches a new one when the
notifier refuses its token, asks for what it cannot apply, and restarts its backoff after a session that caught up.
hw-proxy run as its console script, SIGKILLed in the middle of storing a message again and again, keeps a cache that
is always the history up to its stored position, and in the end holds the latest version of every item.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
import uvicorn
from fastapi import FastAPI, Header, Response
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from caisse_contracts.events.config import EntityType, PatchOperationV1
from caisse_contracts.stream import (
    FROM_TILL,
    HALF_OPEN_S,
    Ack,
    Change,
    CloseCode,
    Hello,
    Item,
    Refresh,
    Refreshed,
    Removed,
    Reset,
    Resume,
    Scope,
    Snapshot,
    StreamToken,
    Synced,
    TokenExpiring,
)
from caisse_runtime.service import utc_now
from caisse_stack.services import executable
from hw_proxy.adapters.pos_api import PosApiStreamTokens
from hw_proxy.adapters.store import LocalStore
from hw_proxy.domain.config_cache import EntityKey
from hw_proxy.domain.enrolment import DeviceCredentials, DeviceIdentity
from hw_proxy.entrypoints.config_subscriber import PING_INTERVAL_S, PING_TIMEOUT_S, ConfigSubscriber

SERIAL = "TILL-0001"
SECRET = "device-secret-of-the-till"
SCOPE = Scope(territory_id=uuid.uuid4(), company_id=uuid.uuid4(), shop_id=uuid.uuid4(), pos_id=uuid.uuid4())

Message = Change | Item | Removed


# The history the scripted notifier streams: each message with the state of its entity right after it.


@dataclass(frozen=True)
class Step:
    message: Message
    key: EntityKey
    version: int
    item: dict[str, Any] | None  # None: removed


def build_history(length: int) -> list[Step]:
    """Six entities created, then changed in turn (a patch, sometimes a whole item), one moved out and back."""
    keys = [EntityKey(EntityType.SHOP, uuid.uuid4()), EntityKey(EntityType.POS, uuid.uuid4())] + [
        EntityKey(EntityType.PRODUCT, uuid.uuid4()) for _ in range(4)
    ]
    state: dict[EntityKey, tuple[int, dict[str, Any] | None]] = {}
    steps: list[Step] = []
    moved = keys[5]
    for position in range(length):
        key = keys[position % len(keys)]
        version, current = state.get(key, (0, None))
        if position == 40:
            key, (version, current) = moved, state[moved]
            message: Message = Removed(
                position=position,
                entity_type=key.entity_type,
                entity_id=key.entity_id,
                version=version + 1,
                reason="moved",
            )
            state[key] = (version + 1, None)
            steps.append(Step(message, key, version + 1, None))
            continue
        if key == moved and 40 < position < 60:
            key = keys[0]
            version, current = state[key]
        new = {"name": f"{key.entity_type.value}-{position}", "price": position * 10, "tags": [position % 3]}
        if current is None or position % 13 == 0:
            message = Item(
                position=position, entity_type=key.entity_type, entity_id=key.entity_id, version=version + 1, item=new
            )
        else:
            ops = jsonpatch.make_patch(current, new).patch
            message = Change(
                position=position,
                entity_type=key.entity_type,
                entity_id=key.entity_id,
                from_version=version,
                version=version + 1,
                patch=tuple(PatchOperationV1.model_validate(op) for op in ops),
            )
        state[key] = (version + 1, new)
        steps.append(Step(message, key, version + 1, new))
    return steps


def live_state(steps: list[Step], upto: int | None) -> dict[EntityKey, tuple[int, dict[str, Any]]]:
    """The live items after the message at position `upto` (None: before any)."""
    state: dict[EntityKey, tuple[int, dict[str, Any] | None]] = {}
    for step in steps[: upto + 1] if upto is not None else []:
        state[step.key] = (step.version, step.item)
    return {k: (v, i) for k, (v, i) in state.items() if i is not None}


# The scripted notifier.


@dataclass
class ScriptedNotifier:
    """A notifier that speaks the stream's contract from a fixed history, and records what the till says."""

    steps: list[Step]
    log_start: int = 0
    """Positions below are compacted: a till resuming from before them (or from nothing) gets a Reset."""
    accepted: Callable[[str], bool] = lambda token: True
    handshake_tokens: list[str] = field(default_factory=list)
    resumes: list[int | None] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)
    snapshots: list[EntityKey] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)
    _queues: dict[ServerConnection, asyncio.Queue[Message]] = field(default_factory=dict)
    _server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    @property
    def head(self) -> int | None:
        return len(self.steps) - 1 if self.steps else None

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def push(self, message: Message, key: EntityKey, version: int, item: dict[str, Any] | None) -> None:
        """A live change: appended to the history and sent to every till connected."""
        self.steps.append(Step(message, key, version, item))
        for queue in self._queues.values():
            queue.put_nowait(message)

    async def send_all(self, text: str) -> None:
        for ws in list(self._queues):
            await ws.send(text)

    async def close_all(self, code: CloseCode, reason: str) -> None:
        for ws in list(self._queues):
            await ws.close(code, reason)

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        token = ws.request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.handshake_tokens.append(token)
        if not self.accepted(token):
            await ws.close(CloseCode.TOKEN_REFUSED, "token refused")
            return
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._queues[ws] = queue
        reader: asyncio.Task[None] | None = None
        try:
            hello = Hello(notifier="scripted", scope=SCOPE, position=self.head, token_expires_at=utc_now())
            await ws.send(hello.model_dump_json())
            resume = FROM_TILL.validate_json(await ws.recv())
            assert isinstance(resume, Resume)
            self.resumes.append(resume.position)
            reader = asyncio.create_task(self._read(ws))
            await self._replay(ws, resume.position, len(self.steps))
            closed = asyncio.ensure_future(ws.wait_closed())
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                await ws.send(getter.result().model_dump_json())
        except ConnectionClosed:
            pass
        finally:
            self._queues.pop(ws, None)
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader

    async def _replay(self, ws: ServerConnection, resume: int | None, upto: int) -> None:
        start = 0 if resume is None else resume + 1
        if self.log_start > 0 and (resume is None or resume < self.log_start - 1):
            await ws.send(Reset(scope=SCOPE, reason="first" if resume is None else "too_old").model_dump_json())
            for key, (version, item) in live_state(self.steps, self.log_start - 1).items():
                message = Item(
                    position=None, entity_type=key.entity_type, entity_id=key.entity_id, version=version, item=item
                )
                await ws.send(message.model_dump_json())
            await ws.send(Synced(position=self.log_start - 1).model_dump_json())
            start = self.log_start
        for step in self.steps[start:upto]:
            await ws.send(step.message.model_dump_json())
        await ws.send(Synced(position=upto - 1 if upto else None).model_dump_json())

    async def _read(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = FROM_TILL.validate_json(raw)
            if isinstance(message, Ack):
                self.acks.append(message.position)
            elif isinstance(message, Snapshot):
                current = live_state(self.steps, self.head)
                for ref in message.entities:
                    key = EntityKey(ref.entity_type, ref.entity_id)
                    self.snapshots.append(key)
                    if key in current:
                        version, item = current[key]
                        answer = Item(
                            position=None,
                            entity_type=key.entity_type,
                            entity_id=key.entity_id,
                            version=version,
                            item=item,
                        )
                        await ws.send(answer.model_dump_json())
            elif isinstance(message, Refresh):
                if not self.accepted(message.token):
                    await ws.close(CloseCode.TOKEN_REFUSED, "refreshed token refused")
                    return
                self.refreshes.append(message.token)
                await ws.send(Refreshed(expires_at=utc_now() + timedelta(minutes=15)).model_dump_json())


# pos-api's stream tokens.


@dataclass
class TokenDesk:
    """pos-api's `POST /v1/till/stream-token`: a new token per call (t1, t2…), or 503 while it is `down`."""

    down: int = 0
    issued: list[str] = field(default_factory=list)

    def answer(self, serial: str | None, secret: str | None) -> tuple[int, bytes]:
        if serial != SERIAL or secret != SECRET:
            return 401, b'{"title": "Not authenticated"}'
        if self.down > 0:
            self.down -= 1
            return 503, b'{"title": "Dependency unavailable"}'
        token = f"t{len(self.issued) + 1}"
        self.issued.append(token)
        expires_at = utc_now() + timedelta(minutes=15)
        return 200, StreamToken(token=token, expires_at=expires_at).model_dump_json().encode()

    def mock(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/v1/till/stream-token"
            status, body = self.answer(request.headers.get("X-Device-Serial"), request.headers.get("X-Device-Secret"))
            return httpx.Response(status, content=body, headers={"content-type": "application/json"})

        return httpx.MockTransport(handle)


async def eventually(check: Callable[[], bool], *, timeout_s: float = 20.0, what: str = "the condition") -> None:
    """Poll `check` until it holds, failing after `timeout_s` (a deadline, not a sleep to wait for something)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    local = LocalStore(str(tmp_path / "till.sqlite3"))
    await local.open()
    yield local
    await local.close()


@contextlib.asynccontextmanager
async def notifier(steps: list[Step], **kwargs: Any) -> AsyncIterator[ScriptedNotifier]:
    server = ScriptedNotifier(steps, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def subscriber(
    store: LocalStore, desk: TokenDesk, server: ScriptedNotifier, draws: list[float] | None = None
) -> AsyncIterator[ConfigSubscriber]:
    def draw(low: float, high: float) -> float:
        if draws is not None:
            draws.append(high)
        return low  # the tests check the ceilings; they do not wait them out

    client = httpx.AsyncClient(transport=desk.mock(), base_url="http://pos-api.test")
    tokens = PosApiStreamTokens(client, DeviceIdentity(DeviceCredentials(SERIAL, SecretStr(SECRET))))
    sub = ConfigSubscriber(
        store=store,
        tokens=tokens,
        notifier_url=server.url,
        clock=utc_now,
        reconnect_first_s=0.05,
        reconnect_max_s=0.4,
        ack_interval_s=0.0,
        draw=draw,
    )
    await sub.start()
    try:
        yield sub
    finally:
        await sub.stop()
        await client.aclose()


async def cache_of(store: LocalStore) -> dict[EntityKey, tuple[int, dict[str, Any]]]:
    return {row.key: (row.version, row.item) for row in await store.items() if row.item is not None and row.live}


# The subscriber, in this process, against the scripted notifier.


async def test_the_till_resumes_from_its_stored_position_after_the_notifier_goes_away(store: LocalStore) -> None:
    steps = build_history(30)
    async with notifier(steps) as server, subscriber(store, TokenDesk(), server) as sub:
        await eventually(lambda: server.acks[-1:] == [29], what="the ack of the last position")
        assert (await store.stream_state()).position == 29
        await server.close_all(CloseCode.GOING_AWAY, "deploy")
        await eventually(lambda: len(server.resumes) == 2, what="the second connection")
        key = steps[24].key
        version, _ = live_state(steps, 29)[key]
        change = Item(
            position=30, entity_type=key.entity_type, entity_id=key.entity_id, version=version + 1, item={"x": 1}
        )
        server.push(change, key, version + 1, {"x": 1})
        await eventually(lambda: server.acks[-1:] == [30], what="the ack of the live change")
        assert server.resumes == [None, 29]
        assert sub.sessions == 2
        assert (await cache_of(store))[key] == (version + 1, {"x": 1})


async def test_the_token_is_refreshed_over_the_socket_when_the_notifier_says_it_expires(store: LocalStore) -> None:
    desk = TokenDesk()
    async with notifier(build_history(12)) as server, subscriber(store, desk, server):
        await eventually(lambda: server.acks[-1:] == [11], what="the catch-up")
        await server.send_all(TokenExpiring(expires_at=utc_now() + timedelta(seconds=60)).model_dump_json())
        await eventually(lambda: server.refreshes == ["t2"], what="the refresh")
        assert desk.issued == ["t1", "t2"]
        assert server.handshake_tokens == ["t1"]  # the same connection goes on


async def test_a_refused_token_is_replaced_by_a_new_one_before_the_till_connects_again(store: LocalStore) -> None:
    desk = TokenDesk()
    refused = {"t1", "t2"}
    async with notifier(build_history(8), accepted=lambda t: t not in refused) as server:
        refused.discard("t2")
        refused.add("t1")
        async with subscriber(store, desk, server):
            await eventually(lambda: server.acks[-1:] == [7], what="the catch-up with a new token")
            assert server.handshake_tokens == ["t1", "t2"]
            refused.add("t2")  # the notifier's key rotated: the live token no longer counts
            await server.close_all(CloseCode.TOKEN_REFUSED, "token expired")
            await eventually(lambda: server.handshake_tokens[-1:] == ["t3"], what="a connection with a third token")
            await eventually(lambda: len(server.resumes) == 2, what="the resume with the third token")
    assert desk.issued == ["t1", "t2", "t3"]
    assert server.resumes == [None, 7]


async def test_a_change_the_till_cannot_apply_is_asked_for_and_its_answer_stored(store: LocalStore) -> None:
    steps = build_history(26)
    gap = 15  # the till never sees this change: the next change of the same entity starts from a version it lacks
    missing = steps[gap]
    later = next(s for s in steps[gap + 1 :] if s.key == missing.key)
    assert isinstance(later.message, Change)
    assert later.message.from_version == missing.version
    stranger = EntityKey(EntityType.PRODUCT, uuid.uuid4())
    served = list(steps)
    served[gap] = Step(
        Removed(
            position=gap, entity_type=stranger.entity_type, entity_id=stranger.entity_id, version=1, reason="deleted"
        ),
        stranger,
        1,
        None,
    )
    async with notifier(served) as server, subscriber(store, TokenDesk(), server):
        await eventually(lambda: server.acks[-1:] == [25], what="the catch-up")
        final_version, final_item = live_state(steps, 25)[missing.key]
        await eventually_cached(store, missing.key, final_version)
        assert (await cache_of(store))[missing.key] == (final_version, final_item)
        assert (await store.stream_state()).position == 25
    assert server.snapshots == [missing.key]


async def eventually_cached(store: LocalStore, key: EntityKey, version: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (row := await store.cached(key)) is None or row.version != version or row.awaiting_snapshot:
        if time.monotonic() > deadline:
            pytest.fail(f"{key} did not reach version {version}")
        await asyncio.sleep(0.02)


async def test_the_backoff_grows_while_pos_api_is_away_and_starts_over_after_a_good_session(store: LocalStore) -> None:
    desk = TokenDesk(down=4)
    draws: list[float] = []
    async with notifier(build_history(5)) as server, subscriber(store, desk, server, draws) as sub:
        await eventually(lambda: server.acks[-1:] == [4], what="the catch-up once pos-api is back")
        assert draws == [0.05, 0.1, 0.2, 0.4]  # doubled from the first delay, capped at 0.4
        await server.close_all(CloseCode.TOO_SLOW, "too slow")
        await eventually(lambda: len(server.resumes) == 2, what="the reconnection")
        assert draws[4] == 0.05  # the session had caught up: the backoff starts over
        assert sub.sessions == 2


class FlakyStore(LocalStore):
    """The real store, whose first write fails as a full disk would."""

    failed = False

    async def record(self, *args: Any, **kwargs: Any) -> None:
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")
        await super().record(*args, **kwargs)


async def test_a_failure_while_storing_ends_the_session_and_the_till_tries_again(tmp_path: Path) -> None:
    store = FlakyStore(str(tmp_path / "till.sqlite3"))
    await store.open()
    try:
        async with notifier(build_history(6)) as server, subscriber(store, TokenDesk(), server):
            await eventually(lambda: server.acks[-1:] == [5], what="the catch-up after the failure")
            assert server.resumes == [None, None]
            assert store.failed
    finally:
        await store.close()


WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def test_the_pings_notice_a_dead_notifier_within_the_half_open_limit() -> None:
    assert PING_INTERVAL_S + PING_TIMEOUT_S < HALF_OPEN_S


async def test_a_notifier_that_stops_answering_is_left_and_the_till_connects_again(store: LocalStore) -> None:
    """A notifier that accepts, says Hello, then answers nothing (not even pings): a half-open connection."""
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())  # noqa: S324 (the RFC's hash)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        hello = Hello(notifier="silent", scope=SCOPE, position=None, token_expires_at=utc_now())
        writer.write(Frame(Opcode.TEXT, hello.model_dump_json().encode()).serialize(mask=False))
        writers.append(writer)  # kept open, never read again

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(transport=TokenDesk().mock(), base_url="http://pos-api.test")
    sub = ConfigSubscriber(
        store=store,
        tokens=PosApiStreamTokens(client, DeviceIdentity(DeviceCredentials(SERIAL, SecretStr(SECRET)))),
        notifier_url=f"ws://127.0.0.1:{port}",
        clock=utc_now,
        reconnect_first_s=0.05,
        reconnect_max_s=0.1,
        ack_interval_s=0.0,
        ping_interval_s=0.2,
        ping_timeout_s=0.2,
    )
    await sub.start()
    try:
        await eventually(lambda: sub.status.connected, timeout_s=10, what="the first connection")
        await eventually(lambda: len(writers) >= 2, timeout_s=10, what="a new connection after the silence")
        assert sub.sessions >= 1
    finally:
        await sub.stop()
        await client.aclose()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


# hw-proxy as a real process, killed in the middle of storing a message.


class _QuietServer(uvicorn.Server):
    """Uvicorn inside the test's event loop: the test runner keeps its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def pos_api(desk: TokenDesk) -> AsyncIterator[str]:
    """A real HTTP pos-api on 127.0.0.1 that answers `POST /v1/till/stream-token` from `desk`."""
    app = FastAPI()

    @app.post("/v1/till/stream-token")
    async def stream_token(
        x_device_serial: str | None = Header(default=None), x_device_secret: str | None = Header(default=None)
    ) -> Response:
        status, body = desk.answer(x_device_serial, x_device_secret)
        return Response(body, status_code=status, media_type="application/json")

    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="pos-api's start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_hw_proxy(
    folder: Path, *, port: int, pos_api_url: str, notifier_url: str, kill_after: int | None
) -> subprocess.Popen[bytes]:
    """The `hw-proxy` console script, configured by environment as on a till."""
    env = {
        **os.environ,
        "HW_PROXY_HOST": "127.0.0.1",
        "HW_PROXY_PORT": str(port),
        "HW_PROXY_STORE_PATH": str(folder / "till.sqlite3"),
        "HW_PROXY_POS_API_URL": pos_api_url,
        "HW_PROXY_NOTIFIER_URL": notifier_url,
        "HW_PROXY_DEVICE_SERIAL": SERIAL,
        "HW_PROXY_DEVICE_SECRET": SECRET,
        "HW_PROXY_RECONNECT_FIRST_S": "0.05",
        "HW_PROXY_RECONNECT_MAX_S": "0.5",
    }
    env.pop("HW_PROXY_FAULT_KILL_AFTER_MESSAGES", None)
    if kill_after is not None:
        env["HW_PROXY_FAULT_KILL_AFTER_MESSAGES"] = str(kill_after)
    with (folder / "hw-proxy.log").open("ab") as log:
        return subprocess.Popen([executable("hw-proxy")], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)


def consistent_cache(path: Path, steps: list[Step], log_start: int) -> tuple[int | None, bool]:
    """Assert that the cache is the history up to its stored position (nothing half-applied, nothing skipped);
    inside an unfinished reset, each item is the one at the stored position or the one the reset sent."""
    conn = sqlite3.connect(path)
    try:
        position, in_reset = conn.execute("select position, reset_in_progress from stream_state").fetchone()
        rows = {
            EntityKey(EntityType(t), uuid.UUID(i)): (v, json.loads(item))
            for t, i, v, item in conn.execute(
                "select entity_type, entity_id, version, item from config_item where item is not null"
                " and removed is null"
            )
        }
        awaiting = conn.execute("select count(*) from config_item where awaiting_snapshot = 1").fetchone()[0]
    finally:
        conn.close()
    assert awaiting == 0
    at_position = live_state(steps, position)
    if not in_reset:
        assert rows == at_position
    else:
        at_reset = live_state(steps, log_start - 1)
        assert set(at_position) <= set(rows)
        for key, held in rows.items():
            assert held in (at_position.get(key), at_reset.get(key)), key
    return position, bool(in_reset)


async def test_a_till_killed_while_storing_keeps_a_consistent_cache_and_ends_with_the_latest_items(
    tmp_path: Path,
) -> None:
    steps = build_history(80)
    log_start = 12
    kills = [4, 9, 15, 6, 23, 12]
    seen: list[tuple[int | None, bool]] = []
    async with pos_api(TokenDesk()) as pos_api_url, notifier(list(steps), log_start=log_start) as server:
        for number, kill_after in enumerate(kills, start=1):
            proc = start_hw_proxy(
                tmp_path, port=free_port(), pos_api_url=pos_api_url, notifier_url=server.url, kill_after=kill_after
            )
            returncode = await asyncio.to_thread(proc.wait, 90)
            log = (tmp_path / "hw-proxy.log").read_text()
            assert returncode == -signal.SIGKILL, log
            assert len(server.resumes) == number
            stored = consistent_cache(tmp_path / "till.sqlite3", steps, log_start)
            expected_resume = None if not seen or seen[-1][1] else seen[-1][0]
            assert server.resumes[-1] == expected_resume  # each run resumed from what the last one stored
            seen.append(stored)
        # Run 1 dies on the 4th message, inside the first reset (Reset, then six items); run 2 redoes the reset
        # (Reset, six items, Synced at 11) and dies on the change at 12; the next ones die on their 15th, 6th, 23rd
        # and 12th change, each having stored the ones before.
        assert seen == [(None, True), (11, False), (25, False), (30, False), (52, False), (63, False)]

        port = free_port()
        proc = start_hw_proxy(tmp_path, port=port, pos_api_url=pos_api_url, notifier_url=server.url, kill_after=None)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                body: dict[str, Any] = {}

                async def caught_up() -> bool:
                    nonlocal body
                    with contextlib.suppress(httpx.TransportError):
                        body = (await http.get("/v1/config")).json()
                        return bool(body["freshness"]["position"] == 79 and body["freshness"]["caught_up"])
                    return False

                deadline = time.monotonic() + 60
                while not await caught_up():
                    assert time.monotonic() < deadline, (tmp_path / "hw-proxy.log").read_text()
                    await asyncio.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
    assert body["freshness"]["stale"] is False
    served = {
        EntityKey(EntityType(kind), uuid.UUID(view["entity_id"])): (view["version"], view["item"])
        for kind, views in body["items"].items()
        for view in views
    }
    assert served == live_state(steps, 79)
    assert consistent_cache(tmp_path / "till.sqlite3", steps, log_start) == (79, False)
    assert "device-secret-of-the-till" not in (tmp_path / "hw-proxy.log").read_text()
