"""bench/streamgen against a small stream server written with websockets and the contracts' messages.

The generator is built with `go build` and run as the notifier's benchmark runs it, through bench/streamgen.py: 50
tills connect, one with a refused token; a shop-level change reaches the shop's tills only, and is timed; the
server restarts on the same port and every till resumes from the position it acknowledged. The server parses
what the generator sends with the contracts' `FROM_TILL`, so a message of the wrong shape fails the test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from bench.streamgen import StreamGen, StreamTill, build
from caisse_contracts.events.config import EntityType
from caisse_contracts.stream import (
    FROM_TILL,
    STREAM_PATH,
    Ack,
    Change,
    CloseCode,
    Hello,
    Item,
    Reset,
    Resume,
    Scope,
    Synced,
    ToTill,
)

TERRITORY, COMPANY = uuid.uuid4(), uuid.uuid4()
SHOP_A, SHOP_B = uuid.uuid4(), uuid.uuid4()


@dataclass
class StreamServer:
    """A notifier reduced to the protocol: the log of changes, the live connections, what the tills said."""

    log: list[tuple[uuid.UUID | None, Change]] = field(default_factory=list)
    live: dict[ServerConnection, uuid.UUID] = field(default_factory=dict)
    resumes: dict[str, list[int | None]] = field(default_factory=dict)
    acks: dict[str, int] = field(default_factory=dict)
    acked: asyncio.Condition = field(default_factory=asyncio.Condition)
    server: Server | None = None

    def position(self) -> int | None:
        return len(self.log) - 1 if self.log else None

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        token = ws.request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token == "refused":
            await ws.close(CloseCode.TOKEN_REFUSED, "token refused: expired")
            return
        shop_text, pos_text = token.split(":")
        shop, pos = uuid.UUID(shop_text), uuid.UUID(pos_text)
        scope = Scope(territory_id=TERRITORY, company_id=COMPANY, shop_id=shop, pos_id=pos)
        await self.send(
            ws, Hello(notifier="fake", scope=scope, position=self.position(), token_expires_at=datetime.now(UTC))
        )
        resume = FROM_TILL.validate_json(await ws.recv())
        assert isinstance(resume, Resume)
        self.resumes.setdefault(pos_text, []).append(resume.position)
        if resume.position is None:
            await self.send(ws, Reset(scope=scope, reason="first"))
            await self.send(ws, Item(position=None, entity_type=EntityType.SHOP, entity_id=shop, version=1, item={}))
        else:
            for target, change in self.log[resume.position + 1 :]:
                if target in (None, shop):
                    await self.send(ws, change)
        await self.send(ws, Synced(position=self.position()))
        self.live[ws] = shop
        try:
            async for raw in ws:
                ack = FROM_TILL.validate_json(raw)
                assert isinstance(ack, Ack)
                async with self.acked:
                    self.acks[pos_text] = ack.position
                    self.acked.notify_all()
        finally:
            self.live.pop(ws, None)

    @staticmethod
    async def send(ws: ServerConnection, message: ToTill) -> None:
        await ws.send(message.model_dump_json())

    async def publish(self, shop: uuid.UUID | None, entity: uuid.UUID, version: int) -> int:
        change = Change(
            position=len(self.log),
            entity_type=EntityType.CATEGORY,
            entity_id=entity,
            from_version=version - 1,
            version=version,
            patch=(),
        )
        self.log.append((shop, change))
        for ws, till_shop in list(self.live.items()):
            if shop in (None, till_shop):
                await self.send(ws, change)
        return change.position

    async def wait_acks(self, pos_ids: list[str], position: int) -> None:
        async with asyncio.timeout(10), self.acked:
            await self.acked.wait_for(lambda: all(self.acks.get(p, -1) >= position for p in pos_ids))


async def start(stream: StreamServer, port: int = 0) -> int:
    stream.server = await serve(stream.handler, "127.0.0.1", port)
    return int(stream.server.sockets[0].getsockname()[1])


@pytest.fixture
async def stream() -> AsyncIterator[StreamServer]:
    server = StreamServer()
    yield server
    if server.server is not None:
        server.server.close()
        await server.server.wait_closed()


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("streamgen") / "streamgen")


def tills(shop: uuid.UUID, count: int) -> list[StreamTill]:
    return [StreamTill(pos_id=str(p), token=f"{shop}:{p}") for p in (uuid.uuid4() for _ in range(count))]


async def test_the_tills_sync_receive_a_shop_change_and_resume_after_a_restart(
    stream: StreamServer, binary: Path
) -> None:
    port = await start(stream)
    shop_a, shop_b = tills(SHOP_A, 30), tills(SHOP_B, 20)
    refused = StreamTill(pos_id=str(uuid.uuid4()), token="refused")
    url = f"ws://127.0.0.1:{port}{STREAM_PATH}"
    with StreamGen.start(binary, url, [*shop_a, *shop_b, refused], mode="storm", retry_max_ms=100) as gen:
        synced = await asyncio.to_thread(gen.wait_synced)
        assert (synced["count"], synced["failed"], synced["timed_out"]) == (50, 1, False)
        [failure] = synced["failures"]["first"]
        assert failure == {"pos_id": refused.pos_id, "close_code": 4401, "reason": "token refused: expired"}
        assert all(stream.resumes[t.pos_id] == [None] for t in [*shop_a, *shop_b])

        entity = uuid.uuid4()
        written = time.time_ns()
        position = await stream.publish(SHOP_A, entity, 2)
        expected = [t.pos_id for t in shop_a]
        delivery = await asyncio.to_thread(gen.watch, entity, 2, 5.0, expected, 0.3)
        assert (delivery.expected, len(delivery.times_ns), delivery.missing, delivery.unexpected) == (30, 30, 0, 0)
        assert all(0 <= latency < 5000 for latency in delivery.latencies_ms(written))

        await stream.publish(None, entity, 3)  # sent to every till: shop b's were not meant to get it
        delivery = await asyncio.to_thread(gen.watch, entity, 3, 5.0, expected, 0.3)
        assert (len(delivery.times_ns), delivery.unexpected) == (30, 20)
        assert set(delivery.unexpected_pos_ids) == {t.pos_id for t in shop_b}

        await stream.wait_acks([t.pos_id for t in [*shop_a, *shop_b]], position + 1)
        assert stream.server is not None
        stream.server.close()
        await stream.server.wait_closed()
        await start(stream, port)
        storm = await asyncio.to_thread(gen.storm_report, 20.0)
        assert (storm.disconnected, storm.caught_up, storm.not_caught_up) == (50, 50, 0)
        assert len(storm.catch_up_ms) == 50
        assert storm.elapsed_ms > 0
        assert storm.first_disconnect_ns < storm.first_synced_ns <= storm.last_synced_ns
        assert all(stream.resumes[t.pos_id] == [None, position + 1] for t in [*shop_a, *shop_b])

        done = await asyncio.to_thread(gen.close)
    assert done["closes_by_code"] == {"1001": 50, "4401": 1}
    # hello, reset, item, synced, the changes (2 for shop a, 1 for shop b), hello and synced again
    assert done["messages"] == [8] * 30 + [7] * 20 + [0]
    assert done["memory"]["heap_alloc_bytes"] > 0
    assert gen.process.returncode == 0
