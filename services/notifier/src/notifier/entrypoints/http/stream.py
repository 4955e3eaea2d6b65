"""The config stream's WebSocket endpoint (`caisse_contracts.stream` describes the protocol).

Each connection has one writer task draining its own queue: the fan-out only appends to queues and never waits
for a socket, so a slow or stuck till costs the others nothing. Past `max_queue` live messages waiting, the till
is closed with `TOO_SLOW` and resumes from what it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope
from starlette.websockets import WebSocket, WebSocketDisconnect

from caisse_contracts.stream import (
    FROM_TILL,
    STREAM_PATH,
    Ack,
    CloseCode,
    Hello,
    Refresh,
    Refreshed,
    Resume,
    Scope,
    Snapshot,
    StreamClaims,
    TokenExpiring,
)
from notifier.domain.errors import TokenRefusedError
from notifier.service_layer.hub import Hub
from notifier.service_layer.ports import TokenVerifier
from notifier.service_layer.presence import Presence
from notifier.service_layer.state import ConfigState

log = logging.getLogger(__name__)

MAX_REASON_BYTES: Final = 123
"""A WebSocket close reason is at most 123 bytes."""


@dataclass
class StreamServices:
    """What the endpoint works with, built by the composition root."""

    state: ConfigState
    hub: Hub
    tokens: TokenVerifier
    presence: Presence
    notifier: str
    ready: Callable[[], bool] = lambda: True
    """Whether the rebuild from the topic is done: until then a till is sent away to resume elsewhere or later."""
    max_queue: int = 1000
    resume_within_s: float = 10.0
    reach_within_s: float = 5.0
    warn_before_expiry_s: float = 120.0
    connections: set[Connection] = field(default_factory=set)
    joined: int = 0
    """Connections that joined since the start."""
    left: int = 0
    """Connections that ended since the start."""

    async def sweep(self) -> None:
        """Tell the tills whose token ends soon; close those whose token ended."""
        now = time.time()
        for connection in list(self.connections):
            if now >= connection.expires_at:
                connection.close(CloseCode.TOKEN_REFUSED, "the token expired")
            elif now >= connection.expires_at - self.warn_before_expiry_s and not connection.warned:
                connection.warned = True
                expires = datetime.fromtimestamp(connection.expires_at, UTC)
                connection.offer(TokenExpiring(expires_at=expires).model_dump_json())


class Connection:
    """One till's connection: its scope, its token's end, its queue and writer."""

    def __init__(
        self,
        websocket: WebSocket,
        claims: StreamClaims,
        *,
        max_queue: int,
        moved: Callable[[uuid.UUID, Scope], None] = lambda _id, _scope: None,
    ) -> None:
        self.id = uuid.uuid4()
        self._moved = moved
        self.websocket = websocket
        self.scope = Scope(
            territory_id=claims.territory, company_id=claims.company, shop_id=claims.shop, pos_id=claims.pos
        )
        self.expires_at = float(claims.exp)
        self.warned = False
        self._queue: deque[str] = deque()
        self._bulk = 0
        """Messages of a catch-up or reset still queued: they do not count against `max_queue`."""
        self._max_queue = max_queue
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self.sent = 0

    def offer(self, text: str) -> bool:
        if self._closing is not None:
            return False
        if len(self._queue) - self._bulk >= self._max_queue:
            self.close(CloseCode.TOO_SLOW, "too slow: reconnect and resume from your position")
            return False
        self._queue.append(text)
        self._wake.set()
        return True

    def offer_many(self, texts: list[str]) -> None:
        if self._closing is not None:
            return
        self._queue.extend(texts)
        self._bulk += len(texts)
        self._wake.set()

    def rescope(self, scope: Scope) -> None:
        self.scope = scope
        self._moved(self.id, scope)

    @property
    def close_code(self) -> int | None:
        """The code this side closed with, if it did."""
        return self._closing[0] if self._closing is not None else None

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = (code, reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore"))
            self._queue.clear()
            self._bulk = 0
            self._wake.set()

    async def write(self) -> None:
        """Send what is queued, in order, until the connection ends or is to be closed."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self._closing is None:
                text = self._queue.popleft()
                if self._bulk:
                    self._bulk -= 1
                await self.websocket.send_text(text)
                self.sent += 1
            if self._closing is not None:
                code, reason = self._closing
                with contextlib.suppress(RuntimeError, OSError):  # the till may be gone already
                    await self.websocket.close(code, reason)
                return


def _bearer(websocket: WebSocket) -> str | None:
    value = websocket.headers.get("authorization")
    if value is None or not value.startswith("Bearer "):
        return None
    return value.removeprefix("Bearer ").strip() or None


def _why(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "message"
    return f"{where}: {error['msg']}"


class StreamFirst:
    """The service's ASGI application: the config stream's WebSocket goes straight to its handler, everything else
    (HTTP, the lifespan) to the FastAPI application. Ten thousand tills reconnecting at once, or every message to
    them, then skip the HTTP middleware stack, which a WebSocket of ours does not use."""

    def __init__(self, app: ASGIApp, services: StreamServices) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == STREAM_PATH:
            await stream(WebSocket(scope, receive, send), self.services)
        else:
            await self.app(scope, receive, send)


async def stream(websocket: WebSocket, services: StreamServices) -> None:
    """A till's config stream."""
    await websocket.accept()
    if not services.ready():
        await websocket.close(CloseCode.GOING_AWAY, "the notifier is still reading the configuration")
        return
    token = _bearer(websocket)
    try:
        if token is None:
            raise TokenRefusedError("no token: send Authorization: Bearer <stream token>")
        claims = await services.tokens.verify(token)
    except TokenRefusedError as refused:
        await websocket.close(CloseCode.TOKEN_REFUSED, refused.reason)
        return
    connection = Connection(websocket, claims, max_queue=services.max_queue, moved=services.presence.moved)
    hello = Hello(
        notifier=services.notifier,
        scope=connection.scope,
        position=services.state.latest,
        token_expires_at=datetime.fromtimestamp(connection.expires_at, UTC),
    )
    code: int | None = None
    try:
        await websocket.send_text(hello.model_dump_json())
        first = await asyncio.wait_for(websocket.receive_text(), services.resume_within_s)
        resume = FROM_TILL.validate_json(first)
        if not isinstance(resume, Resume):
            await websocket.close(CloseCode.PROTOCOL, "the first message is resume")
            return
    except ValidationError as exc:
        await websocket.close(CloseCode.PROTOCOL, _why(exc)[:MAX_REASON_BYTES])
        return
    except TimeoutError:
        await websocket.close(CloseCode.PROTOCOL, "no resume came")
        return
    except WebSocketDisconnect:
        return
    await _reach(services, resume.position)
    writer = asyncio.create_task(connection.write(), name=f"stream-{connection.scope.pos_id}")
    services.hub.join(connection, resume.position)
    services.connections.add(connection)
    services.joined += 1
    services.presence.connected(connection.id, connection.scope)
    try:
        while True:
            text = await websocket.receive_text()
            try:
                message = FROM_TILL.validate_json(text)
            except ValidationError as exc:
                connection.close(CloseCode.PROTOCOL, _why(exc))
                continue
            await _handle(services, connection, message)
    except WebSocketDisconnect as gone:
        code = gone.code
    finally:
        services.hub.leave(connection)
        services.connections.discard(connection)
        services.left += 1
        services.presence.disconnected(connection.id, connection.close_code or code)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def _reach(services: StreamServices, position: int | None) -> None:
    """A till coming from a replica that had read further than this one waits (a little) until this one has read
    as far: it then gets exactly what it misses rather than its whole scope again."""
    deadline = time.monotonic() + services.reach_within_s
    while position is not None and time.monotonic() < deadline:
        latest = services.state.latest
        if latest is not None and latest >= position:
            return
        await asyncio.sleep(0.05)


async def _handle(services: StreamServices, connection: Connection, message: object) -> None:
    if isinstance(message, Ack):
        services.presence.acknowledged(connection.id, message.position)
    elif isinstance(message, Snapshot):
        answers = [services.state.item(e.entity_type, e.entity_id, connection.scope) for e in message.entities]
        connection.offer_many([a.model_dump_json() for a in answers if a is not None])
    elif isinstance(message, Refresh):
        try:
            claims = await services.tokens.verify(message.token)
        except TokenRefusedError as refused:
            connection.close(CloseCode.TOKEN_REFUSED, refused.reason)
            return
        if claims.pos != connection.scope.pos_id:
            connection.close(CloseCode.FORBIDDEN, "the new token is another POS's")
            return
        connection.expires_at = float(claims.exp)
        connection.warned = False
        connection.offer(Refreshed(expires_at=datetime.fromtimestamp(claims.exp, UTC)).model_dump_json())
    elif isinstance(message, Resume):
        connection.close(CloseCode.PROTOCOL, "resume comes once, first")
