"""Uvicorn's httptools protocol, writing a response's head and body to the socket in one write.

Uvicorn writes the status line and headers as soon as the application starts its response, then the body
in a second write. On loopback, and on any connection with a waiting reader, each write is a system call
that wakes the client, which reads the head, waits again and reads the body: two wake-ups on either side
for every answer of a few hundred bytes. Here the head is held until the body follows; the application
sends both in one step for any ordinary response, so they leave together. A response that streams, or has
no body, has its head sent on the loop's next turn, so nothing ever waits on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """A response's transport: its first write (the head) joins the second, or leaves on the loop's next turn."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._held = None
        self._transport.write(held + data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """Pass as uvicorn's `http` protocol class."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not before:  # a new request's response
            self.cycle.transport = _HeadWithBody(self.transport)  # type: ignore[assignment]
