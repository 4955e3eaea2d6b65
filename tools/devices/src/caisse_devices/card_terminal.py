"""Our Caisse-AP card terminal simulator: an asyncio TCP server on 127.0.0.1 that answers a till's payment requests
as a French terminal would (HARDWARE.md §4), with the outcome each request should get scripted by the tests.

Outcomes: `success` (contact), `contactless`, `refused` (AF=04), `forbidden` (AF=05), `abandoned` (AF=11, the
customer pressed the red key), `timed_out` (AF=08, no card presented in time), `slow` (success after `slow_s`),
`silent` (the terminal never answers: the till's client timeout), `dropped` (the connection is closed without an
answer). A request with `BA=1` is acknowledged at once (`AE=11`), then answered. A request missing a mandatory
field is answered `AE=01 AF=09` (format error), as terminals do.

`split_answers` makes it write each final answer as some real terminals do, in several TCP writes with the status
`AE` in the first (`CZ` and `AE`, then one field per write, `write_gap_s` apart): a till that takes an answer as
whole at the first field boundary would miss the authorisation and the card number.

Tests drive it in-process: `script(...)` queues the outcomes of the next requests, `requests` records every
request received (a till that never charges twice sends one), `hold()` / `release()` keep the answers back until a
test lets them go. The demo runs it as `python -m caisse_devices.card_terminal --port N`, its outcome read from the
amount's last two digits (`by_amount`): …91 refused, …92 abandoned, …93 timed out, …94 contactless, …95 slow,
…96 dropped, …97 silent, anything else a success.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from caisse_contracts.caisse_ap import (
    AnswerMode,
    CaisseApError,
    Failure,
    FrameReader,
    PaymentRequest,
    Status,
    TerminalAnswer,
    encode_field,
)

log = logging.getLogger("caisse_devices.card_terminal")

LOOPBACK: Final = "127.0.0.1"


class Outcome(StrEnum):
    """What the simulated terminal does with one request."""

    SUCCESS = "success"
    CONTACTLESS = "contactless"
    REFUSED = "refused"
    FORBIDDEN = "forbidden"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    SLOW = "slow"
    SILENT = "silent"
    DROPPED = "dropped"


FAILURES: Final = {
    Outcome.REFUSED: Failure.REFUSED,
    Outcome.FORBIDDEN: Failure.FORBIDDEN,
    Outcome.ABANDONED: Failure.OPERATOR_ABANDON,
    Outcome.TIMED_OUT: Failure.TIMED_OUT,
}
BY_LAST_DIGITS: Final = {
    91: Outcome.REFUSED,
    92: Outcome.ABANDONED,
    93: Outcome.TIMED_OUT,
    94: Outcome.CONTACTLESS,
    95: Outcome.SLOW,
    96: Outcome.DROPPED,
    97: Outcome.SILENT,
}


def by_amount(request: PaymentRequest) -> Outcome:
    """The demo's rule: the outcome is read from the amount's last two digits (see the module's docstring)."""
    return BY_LAST_DIGITS.get(request.amount % 100, Outcome.SUCCESS)


@dataclass(frozen=True, slots=True)
class Received:
    """One request the terminal received, with the outcome it was given."""

    request: PaymentRequest
    outcome: Outcome


class CardTerminalSimulator:
    """The simulated terminal; `start()` listens on 127.0.0.1 (`port` 0: a free port, read back from `port`)."""

    def __init__(
        self,
        port: int = 0,
        *,
        rule: Callable[[PaymentRequest], Outcome] | None = None,
        slow_s: float = 2.0,
        contract: str = "4242420",
        split_answers: bool = False,
        write_gap_s: float = 0.02,
    ) -> None:
        self._port = port
        self._rule = rule or (lambda _: Outcome.SUCCESS)
        self._scripted: deque[Outcome] = deque()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self._released.set()
        self._received = asyncio.Condition()
        self.slow_s = slow_s
        self.contract = contract
        self.split_answers = split_answers
        self.write_gap_s = write_gap_s
        self.requests: list[Received] = []

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            for task in list(self._connections):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CardTerminalSimulator:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def script(self, *outcomes: Outcome) -> None:
        """The outcomes of the next requests, in order; once used up, the rule decides again."""
        self._scripted.extend(outcomes)

    def hold(self) -> None:
        """Keep every final answer back (the acknowledgement of `BA=1` still goes at once) until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def wait_requests(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Wait until `count` requests were received (a deadline, not a sleep); every request so far."""
        async with asyncio.timeout(timeout_s), self._received:
            await self._received.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    def _next_outcome(self, request: PaymentRequest) -> Outcome:
        return self._scripted.popleft() if self._scripted else self._rule(request)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (a connection is served in its own task)
        self._connections.add(task)
        frames = FrameReader(needs=None)
        try:
            while data := await reader.read(4096):
                for fields in frames.feed(data):
                    if not await self._answer(fields, writer):
                        return
        except CaisseApError as garbage:
            log.warning("not Caisse-AP, connection closed: %s", garbage)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, fields: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed (dropped)."""
        echo: dict[str, str] = {t: fields[t] for t in ("CA", "CB", "CD", "CE") if t in fields}
        version = fields.get("CZ", "0300")
        try:
            request = PaymentRequest.of(fields)
        except CaisseApError as wrong:
            log.info("request refused: %s", wrong)
            answer = TerminalAnswer(Status.NOT_DONE, failure=Failure.FORMAT_ERROR.value, echo=echo, version=version)
            writer.write(answer.encode())
            await writer.drain()
            return True
        outcome = self._next_outcome(request)
        async with self._received:
            self.requests.append(Received(request, outcome))
            self._received.notify_all()
        log.info("request %s of %s → %s", request.action.name, request.amount, outcome.value)
        if request.answer_mode is AnswerMode.IMMEDIATE:
            writer.write(TerminalAnswer(Status.ACCEPTED, echo=echo, version=version).encode())
            await writer.drain()
        await self._released.wait()
        if outcome is Outcome.DROPPED:
            return False
        if outcome is Outcome.SILENT:
            await asyncio.Event().wait()  # never answers: the till gives up at its own timeout
        if outcome is Outcome.SLOW:
            await asyncio.sleep(self.slow_s)
        await self._write_final(writer, self._final(request, outcome, echo, version))
        return True

    async def _write_final(self, writer: asyncio.StreamWriter, answer: TerminalAnswer) -> None:
        if not self.split_answers:
            writer.write(answer.encode())
            await writer.drain()
            return
        fields = answer.fields()
        pieces = [encode_field("CZ", fields.pop("CZ")) + encode_field("AE", fields.pop("AE"))]
        pieces += [encode_field(tag, value) for tag, value in fields.items()]
        for n, piece in enumerate(pieces):
            if n:
                await asyncio.sleep(self.write_gap_s)  # the terminal's own pace between its writes
            writer.write(piece)
            await writer.drain()

    def _final(self, request: PaymentRequest, outcome: Outcome, echo: dict[str, str], version: str) -> TerminalAnswer:
        failure = FAILURES.get(outcome)
        if failure is not None:
            return TerminalAnswer(Status.NOT_DONE, failure=failure.value, echo=echo, version=version)
        n = len(self.requests)
        contactless = outcome is Outcome.CONTACTLESS
        return TerminalAnswer(
            Status.DONE,
            authorisation=f"{100000 + n:06d}",
            masked_pan=f"497010######{n % 10000:04d}",
            expiry=f"{(time.gmtime().tm_year + 1) % 100:02d}12",
            read_mode="2" if contactless else "1",
            payment_mode="00B" if contactless else "001",
            contract=self.contract,
            aid="A0000000421010",
            echo=echo,
            version=version,
        )


def main(argv: list[str] | None = None) -> int:
    """`python -m caisse_devices.card_terminal --port N`: serve on 127.0.0.1 until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="caisse_devices.card_terminal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8888, help="the TCP port on 127.0.0.1 (default 8888)")
    parser.add_argument(
        "--outcome",
        choices=[o.value for o in Outcome],
        default=None,
        help="answer every request so (default: by the amount's last two digits)",
    )
    parser.add_argument("--slow-s", type=float, default=3.0, help="how long a slow answer takes (default 3 s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    fixed = Outcome(args.outcome) if args.outcome else None
    rule = (lambda _: fixed) if fixed is not None else by_amount

    async def run() -> None:
        simulator = CardTerminalSimulator(args.port, rule=rule, slow_s=args.slow_s)
        await simulator.start()
        log.info("card terminal simulator on %s:%s", LOOPBACK, simulator.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await simulator.stop()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
