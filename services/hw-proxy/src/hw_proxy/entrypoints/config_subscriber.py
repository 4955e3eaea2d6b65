"""The till's side of the config stream: one long-lived task that keeps a WebSocket to the notifier open.

It gets a stream token from pos-api, connects, waits for `Hello`, resumes from the stored position and applies the
messages in order (`ConfigStreamSession`), acknowledging what it stored. It refreshes its token over the socket when
the notifier says it is expiring. When the connection ends it connects again, forever, after a delay drawn with
full jitter that grows while attempts fail and starts over after a session that caught up; a token the notifier
refuses is replaced by a new one first. WebSocket pings find a notifier that went silent within `HALF_OPEN_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from caisse_contracts.stream import (
    HALF_OPEN_S,
    TO_TILL,
    Ack,
    CloseCode,
    EntityRef,
    Hello,
    Refresh,
    Refreshed,
    Resume,
    Snapshot,
    StreamToken,
    TokenExpiring,
)
from hw_proxy.domain.reconnect import Draw, reconnect_delay
from hw_proxy.service_layer.config_stream import ConfigStreamSession
from hw_proxy.service_layer.ports import Clock, ConfigStore, StreamTokens, TokenUnavailableError

log = logging.getLogger(__name__)

PING_INTERVAL_S: Final = HALF_OPEN_S / 3
PING_TIMEOUT_S: Final = HALF_OPEN_S / 3
"""A ping every 10 s, answered within 10 s: a silent notifier is noticed within 20 s, inside `HALF_OPEN_S`."""
TOKEN_MARGIN: Final = timedelta(seconds=30)
"""A token that ends within this margin is not used to connect: a new one is fetched first."""
SNAPSHOT_BATCH: Final = 1000
"""The most entities one `Snapshot` may name (the contract's limit)."""

# websockets logs the handshake's headers at DEBUG, the bearer token among them: its logger stays at INFO.
_wire_log = logging.getLogger("hw_proxy.websocket")
_wire_log.setLevel(logging.INFO)


class StreamProtocolError(Exception):
    """The notifier said something the contract does not allow at this point of the conversation."""


@dataclass
class StreamStatus:
    """What the local API tells about the link to the notifier, as the subscriber sees it (in memory)."""

    connected: bool = False
    caught_up: bool = False
    notifier: str | None = None
    last_contact_at: datetime | None = None


class _Acker:
    """Sends `Ack` of the last stored position, at most once per interval; the last one is never skipped."""

    def __init__(self, send: Callable[[str], Awaitable[None]], interval_s: float) -> None:
        self._send = send
        self._interval_s = interval_s
        self._latest: int | None = None
        self._sent: int | None = None
        self._wake = asyncio.Event()

    def note(self, position: int) -> None:
        self._latest = position if self._latest is None else max(self._latest, position)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._latest is not None and self._latest != self._sent:
                self._sent = self._latest
                await self._send(Ack(position=self._latest).model_dump_json())
                await asyncio.sleep(self._interval_s)  # the rate limit, not a synchronisation


class ConfigSubscriber:
    """Keeps the till's config cache in step with the notifier, from the app's start to its stop."""

    def __init__(
        self,
        *,
        store: ConfigStore,
        tokens: StreamTokens,
        notifier_url: str,
        clock: Clock,
        reconnect_first_s: float,
        reconnect_max_s: float,
        ack_interval_s: float,
        draw: Draw | None = None,
        ping_interval_s: float = PING_INTERVAL_S,
        ping_timeout_s: float = PING_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._notifier_url = notifier_url.rstrip("/")
        self._clock = clock
        self._first_s = reconnect_first_s
        self._max_s = reconnect_max_s
        self._ack_interval_s = ack_interval_s
        self._draw = draw
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._token: StreamToken | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self.status = StreamStatus()
        self.sessions = 0
        """How many connections reached `Hello` (for the tests and the logs)."""

    async def start(self) -> None:
        """The app's start hook: run the subscriber in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="config-subscriber")

    async def stop(self) -> None:
        """The app's stop hook: close the connection and let the message being stored finish."""
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                log.warning("the config subscriber did not stop in time")

    def _delay(self, failures: int) -> float:
        if self._draw is None:
            return reconnect_delay(failures, first_s=self._first_s, max_s=self._max_s)
        return reconnect_delay(failures, first_s=self._first_s, max_s=self._max_s, draw=self._draw)

    async def run(self) -> None:
        """Connect, apply, reconnect: until the app stops. `failures` counts the attempts since the last session
        that caught up; the n-th waits at most `reconnect_first_s` × 2ⁿ (capped)."""
        failures = 0
        while not self._stopping.is_set():
            caught_up = False
            try:
                caught_up = await self._session()
            except TokenUnavailableError as exc:
                log.warning("no stream token: %s", exc)
            except InvalidStatus as exc:
                log.warning("the notifier refuses the connection (%s)", exc.response.status_code)
                if exc.response.status_code in (401, 403):
                    self._token = None
            except (StreamProtocolError, ValidationError) as exc:
                log.error("the notifier breaks the stream's contract: %s", exc)
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.warning("the notifier is out of reach (%s)", type(exc).__name__)
            except Exception:  # the stream must outlive any one failure (a full disk, a bug): log it, try again
                log.exception("the config stream failed")
            finally:
                self._ws = None
                self.status.connected = False
                self.status.caught_up = False
            if self._stopping.is_set():
                break
            if caught_up:
                failures = 0  # a good session: the next wait starts over from the first delay
            delay = self._delay(failures)
            failures += 1
            log.info("config stream: next attempt in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _current_token(self) -> StreamToken:
        if self._token is None or self._token.expires_at - self._clock() < TOKEN_MARGIN:
            self._token = None
            self._token = await self._tokens.fetch()
        return self._token

    async def _session(self) -> bool:
        """One connection, from the handshake to its close; True when it caught up (its `Synced` came)."""
        token = await self._current_token()
        async with connect(
            f"{self._notifier_url}{token.stream_path}",
            additional_headers={"Authorization": f"Bearer {token.token}"},
            ping_interval=self._ping_interval_s,
            ping_timeout=self._ping_timeout_s,
            open_timeout=HALF_OPEN_S,
            close_timeout=2,  # a dead notifier does not hold the till's stop or its next attempt for long
            max_size=8 * 2**20,
            logger=_wire_log,
        ) as ws:
            self._ws = ws
            if self._stopping.is_set():
                return False
            return await self._converse(ws)

    async def _converse(self, ws: ClientConnection) -> bool:
        try:
            first = TO_TILL.validate_json(await asyncio.wait_for(ws.recv(), timeout=HALF_OPEN_S))
        except ConnectionClosed:
            self._after_close(ws)
            raise
        if not isinstance(first, Hello):
            raise StreamProtocolError(f"the first message is {first.type}, not hello")
        self.sessions += 1
        self.status.connected = True
        self.status.notifier = first.notifier
        self.status.last_contact_at = self._clock()
        session = ConfigStreamSession(self._store, self._clock)
        resumption = await session.resumption()
        await ws.send(Resume(position=resumption.position).model_dump_json())
        await self._ask(ws, resumption.snapshot)
        log.info("config stream open on %s, resumed from %s", first.notifier, resumption.position)
        acker = _Acker(ws.send, self._ack_interval_s)
        acks = asyncio.create_task(acker.run(), name="config-acks")
        refresh: asyncio.Task[None] | None = None
        caught_up = False
        try:
            async for raw in ws:
                message = TO_TILL.validate_json(raw)
                self.status.last_contact_at = self._clock()
                if isinstance(message, TokenExpiring):
                    if refresh is None or refresh.done():
                        refresh = asyncio.create_task(self._refresh(ws), name="config-token-refresh")
                    continue
                if isinstance(message, Refreshed):
                    log.info("stream token refreshed, valid until %s", message.expires_at.isoformat())
                    continue
                if isinstance(message, Hello):
                    raise StreamProtocolError("a second hello on one connection")
                applied = await session.apply(message)
                await self._ask(ws, applied.snapshot)
                if applied.stored_position is not None:
                    acker.note(applied.stored_position)
                if message.type == "synced" and not session.in_reset:
                    caught_up = True
                    self.status.caught_up = True
        except ConnectionClosed:
            pass
        finally:
            for task in (acks, refresh):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
        self._after_close(ws)
        return caught_up

    def _after_close(self, ws: ClientConnection) -> None:
        code, reason = ws.close_code, ws.close_reason
        if code in (CloseCode.TOKEN_REFUSED, CloseCode.FORBIDDEN):
            log.warning("the notifier refused the stream token (%s %s): a new one is fetched", code, reason)
            self._token = None
        elif code == CloseCode.PROTOCOL:
            log.error("the notifier did not understand the till: %s", reason)
        elif code is not None:
            log.info("config stream closed (%s %s)", code, reason)

    async def _ask(self, ws: ClientConnection, entities: tuple[EntityRef, ...]) -> None:
        for start in range(0, len(entities), SNAPSHOT_BATCH):
            await ws.send(Snapshot(entities=entities[start : start + SNAPSHOT_BATCH]).model_dump_json())

    async def _refresh(self, ws: ClientConnection) -> None:
        """A new token from pos-api, sent over the socket; tried again (with backoff) until it is had."""
        failures = 0
        while True:
            try:
                token = await self._tokens.fetch()
            except TokenUnavailableError as exc:
                failures += 1
                log.warning("no new stream token yet: %s", exc)
                await asyncio.sleep(self._delay(failures))
                continue
            self._token = token
            await ws.send(Refresh(token=token.token).model_dump_json())
            return
