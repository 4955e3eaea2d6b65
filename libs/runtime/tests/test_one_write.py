"""The services' HTTP protocol: an ordinary answer leaves in one write, a streamed one is not held back."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from caisse_runtime.one_write import OneWriteHttpToolsProtocol

Scope = dict[str, Any]


class RecordingTransport(asyncio.Transport):
    """What uvicorn writes to the socket, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def ordinary(scope: Scope, receive: Any, send: Any) -> None:
    body = b'{"number": 42}'
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def streamed(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await asyncio.sleep(0.05)
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    await send({"type": "http.response.body", "body": b"last"})


class Connection:
    """One client connection to the protocol, answering with `app`."""

    def __init__(self, app: Any) -> None:
        self.answered: asyncio.Queue[None] = asyncio.Queue()

        async def answering(scope: Scope, receive: Any, send: Any) -> None:
            await app(scope, receive, send)
            self.answered.put_nowait(None)

        config = uvicorn.Config(answering, http=OneWriteHttpToolsProtocol, lifespan="off", log_level="warning")
        config.load()
        self.protocol = OneWriteHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        self.transport = RecordingTransport()
        self.protocol.connection_made(self.transport)

    async def ask(self, request: bytes) -> None:
        self.protocol.data_received(request)
        async with asyncio.timeout(5):
            await self.answered.get()
        await asyncio.sleep(0.01)  # a turn of the loop for anything held

    def close(self) -> list[bytes]:
        self.protocol.connection_lost(None)
        return self.transport.writes


async def test_an_answer_leaves_head_and_body_in_one_write() -> None:
    connection = Connection(ordinary)
    await connection.ask(b"POST /v1/x HTTP/1.1\r\nHost: pos\r\nContent-Length: 0\r\n\r\n")
    writes = connection.close()
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 201 Created\r\n")
    assert writes[0].endswith(b'\r\n\r\n{"number": 42}')


async def test_each_answer_of_a_kept_alive_connection_is_one_write() -> None:
    connection = Connection(ordinary)
    for _ in range(3):
        await connection.ask(b"GET /a HTTP/1.1\r\nHost: pos\r\n\r\n")
    writes = connection.close()
    assert len(writes) == 3
    assert all(w.startswith(b"HTTP/1.1 201") and w.endswith(b"42}") for w in writes)


async def test_a_streamed_answer_sends_its_head_at_once_and_its_chunks_as_they_come() -> None:
    connection = Connection(streamed)
    await connection.ask(b"GET /stream HTTP/1.1\r\nHost: pos\r\n\r\n")
    writes = connection.close()
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n"), "the head did not wait for a body 50 ms away"
    assert b"".join(writes[1:]) == b"5\r\nfirst\r\n4\r\nlast\r\n0\r\n\r\n"
