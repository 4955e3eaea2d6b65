"""The POS's card terminal over TCP, in Caisse-AP (HARDWARE.md §4): one connection per operation, the request
sent, the `BA=1` acknowledgement passed over, and the final answer read within the client timeout.

The protocol has no frame length, and a terminal may split its answer across TCP writes with the status `AE` in
the first: an answer read up to a field boundary is taken as whole only once the terminal has sent nothing more for
a quiet interval (or closed the connection), so a slip is never cut short of its authorisation or card number.

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
QUIET_S: Final = 0.1
"""How long the terminal must stay silent after an answer that ends on a field boundary before it is taken whole."""


class CaisseApTerminal:
    """The `CardTerminal` port over asyncio TCP streams."""

    def __init__(self, *, connect_timeout_s: float = CONNECT_TIMEOUT_S, quiet_s: float = QUIET_S) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._quiet_s = quiet_s

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
        frames = FrameReader(settle=True)
        try:
            async with asyncio.timeout(setup.timeout_s):
                writer.write(request.encode())
                await writer.drain()
                while True:
                    for fields in await self._next_messages(reader, frames):
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

    async def _next_messages(self, reader: asyncio.StreamReader, frames: FrameReader) -> list[dict[str, str]]:
        """The messages the next read completes: a message followed by the next one at once; one that ends where
        the bytes end once the terminal stayed quiet for the interval, or closed the connection after it."""
        if frames.ready:
            try:
                data = await asyncio.wait_for(reader.read(4096), self._quiet_s)
            except TimeoutError:
                return frames.flush()
        else:
            data = await reader.read(4096)
        if not data:
            if frames.ready:
                return frames.flush()
            raise TerminalUnansweredError("connection_lost", "the terminal closed the connection")
        return frames.feed(data)
