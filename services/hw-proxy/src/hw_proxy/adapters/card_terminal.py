"""The POS's card terminal over TCP, in Caisse-AP (HARDWARE.md §4): one connection per operation, the request
sent, the `BA=1` acknowledgement passed over, and the final answer read within the client timeout.

What the till can be sure of is told apart from what it cannot: a terminal that cannot be reached got nothing
(`TerminalUnreachableError`); a request sent and no final answer read (timeout, connection cut, an answer that is
not Caisse-AP) may have charged the card (`TerminalUnansweredError`), and the operation stays pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from caisse_contracts.caisse_ap import CaisseApError, FrameReader, PaymentRequest, Status, TerminalAnswer
from caisse_contracts.config import CardTerminalFields
from hw_proxy.service_layer.ports import TerminalUnansweredError, TerminalUnreachableError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 5.0
"""A terminal on the shop's network accepts a connection at once; longer means it is off or unplugged."""


class CaisseApTerminal:
    """The `CardTerminal` port over asyncio TCP streams."""

    def __init__(self, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self._connect_timeout_s = connect_timeout_s

    async def transact(self, setup: CardTerminalFields, request: PaymentRequest) -> TerminalAnswer:
        try:
            async with asyncio.timeout(min(self._connect_timeout_s, setup.timeout_s)):
                reader, writer = await asyncio.open_connection(setup.host, setup.port)
        except (OSError, TimeoutError) as away:
            raise TerminalUnreachableError(f"{setup.host}:{setup.port}: {away!r}") from None
        try:
            return await self._exchange(reader, writer, setup, request)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        setup: CardTerminalFields,
        request: PaymentRequest,
    ) -> TerminalAnswer:
        frames = FrameReader()
        try:
            async with asyncio.timeout(setup.timeout_s):
                writer.write(request.encode())
                await writer.drain()
                while True:
                    data = await reader.read(4096)
                    if not data:
                        raise TerminalUnansweredError("connection_lost", "the terminal closed the connection")
                    for fields in frames.feed(data):
                        answer = TerminalAnswer.of(fields)
                        if answer.status is Status.ACCEPTED:
                            log.info("the terminal took the request in; its final answer follows")
                            continue
                        return answer
        except TimeoutError:
            raise TerminalUnansweredError("no_answer", f"no final answer within {setup.timeout_s:g} s") from None
        except CaisseApError as garbled:
            raise TerminalUnansweredError("invalid_answer", str(garbled)) from None
        except OSError as cut:
            raise TerminalUnansweredError("connection_lost", repr(cut)) from None
