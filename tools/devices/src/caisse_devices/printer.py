"""A virtual ESC/POS receipt printer on 127.0.0.1, for the till agent's tests, benchmarks and demo.

Modelled on the shape of the MIT `cognitivegears/ha-escpos-thermal-printer` test emulator (a server, a command
parser, the printer's state, simulated errors; HARDWARE.md §5), written for Caisse: an asyncio TCP server that
records each connection's print data as a job, decodes its text through the character table the job selected
(`ESC t n`), counts the cuts (`GS V`) and the drawer pulses (`ESC p`), and answers the real-time status requests
(`DLE EOT n`) as an Epson printer does. It simulates what a shop's printer does to a till: switched off (the
port refuses connections), out of paper (the status says so; what is sent anyway is not printed) and a connection
dropped in the middle of a job. `VirtualSerialPrinter` is the same printer on a serial line: a pseudo-terminal whose
device file (/dev/pts/N) a till opens as its serial printer.

`python -m caisse_devices.printer --port N` runs one until interrupted, printing each job's text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pty
import sys
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

ESC: Final = 0x1B
GS: Final = 0x1D
DLE: Final = 0x10
EOT: Final = 0x04

CODE_PAGES: Final[dict[int, str]] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
    40: "iso8859_15",
}
"""ESC t n → the Python codec of that table (the ones a French till may select)."""

_ESC_ARGS: Final[dict[int, int]] = {
    ord("@"): 0,  # initialise
    ord("2"): 0,  # default line spacing
    ord("3"): 1,  # line spacing
    ord("!"): 1,  # print mode
    ord("E"): 1,  # bold
    ord("G"): 1,  # double strike
    ord("-"): 1,  # underline
    ord("M"): 1,  # font
    ord("a"): 1,  # alignment
    ord("{"): 1,  # upside down
    ord("d"): 1,  # print and feed n lines
    ord("J"): 1,  # print and feed n dots
    ord("t"): 1,  # character table
    ord("R"): 1,  # international character set
    ord("V"): 1,  # rotation
    ord("p"): 3,  # drawer pulse m t1 t2
}
_GS_ARGS: Final[dict[int, int]] = {
    ord("!"): 1,  # character size
    ord("B"): 1,  # reverse
    ord("b"): 1,  # smoothing
    ord("H"): 1,  # HRI position
    ord("h"): 1,  # barcode height
    ord("w"): 1,  # barcode width
    ord("f"): 1,  # HRI font
    ord("r"): 1,  # status transmission
    ord("a"): 1,  # automatic status back
}

STATUS_FIXED: Final = 0x12
"""Bits 1 and 4 of every real-time status byte are always set."""
OFFLINE_BIT: Final = 0x08
PAPER_NEAR_END: Final = 0x0C
PAPER_END: Final = 0x60


class IncompleteCommandError(Exception):
    """The buffer ends in the middle of a command: wait for more bytes."""


@dataclass
class Job:
    """What one connection printed: its raw data (status requests left out), decoded."""

    data: bytes = b""
    text: str = ""
    cuts: int = 0
    drawer_pulses: list[int] = field(default_factory=list)
    """The drawer pin of each pulse (0: pin 2, 1: pin 5)."""
    code_pages: list[int] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    images: list[tuple[int, int]] = field(default_factory=list)
    """The size in dots (width, height) of each raster image."""
    status_requests: list[int] = field(default_factory=list)
    unknown: list[bytes] = field(default_factory=list)
    """Commands this printer does not know (a test fails on them: a real printer would print garbage)."""
    complete: bool = True
    """False when the connection ended in the middle of a command or was dropped by the printer."""


class Decoder:
    """Reads an ESC/POS byte stream as a printer does, command by command, whatever the chunks it comes in."""

    def __init__(self) -> None:
        self.job = Job()
        self._pending = b""
        self._codec = "cp437"
        self._text: list[str] = []

    def feed(self, chunk: bytes) -> list[int]:
        """Decode `chunk`; returns the real-time status requests (DLE EOT n) met, in order, to be answered."""
        buffer = self._pending + chunk
        position = 0
        asked: list[int] = []
        while position < len(buffer):
            try:
                position = self._one(buffer, position, asked)
            except IncompleteCommandError:
                break
        self._pending = buffer[position:]
        self.job.text = "".join(self._text)
        return asked

    def finish(self) -> Job:
        """The job as decoded; a command left half-sent marks it incomplete."""
        if self._pending:
            self.job.complete = False
        self.job.text = "".join(self._text)
        return self.job

    def _need(self, buffer: bytes, end: int) -> None:
        if end > len(buffer):
            raise IncompleteCommandError

    def _one(self, buffer: bytes, at: int, asked: list[int]) -> int:
        byte = buffer[at]
        if byte == DLE:
            self._need(buffer, at + 3)
            if buffer[at + 1] == EOT:
                asked.append(buffer[at + 2])
                self.job.status_requests.append(buffer[at + 2])
                return at + 3
            self.job.unknown.append(buffer[at : at + 2])
            return at + 2
        if byte in (ESC, GS):
            self._need(buffer, at + 2)
            command = buffer[at + 1]
            end = self._command(buffer, at, byte, command)
            self.job.data += buffer[at:end]
            return end
        # text up to the next control byte
        end = at
        while end < len(buffer) and buffer[end] not in (ESC, GS, DLE):
            end += 1
        raw = buffer[at:end]
        self.job.data += raw
        printable = raw.replace(b"\r", b"")
        self._text.append(printable.decode(self._codec, errors="replace"))
        return end

    def _command(self, buffer: bytes, at: int, prefix: int, command: int) -> int:
        if prefix == ESC and command in _ESC_ARGS:
            end = at + 2 + _ESC_ARGS[command]
            self._need(buffer, end)
            argument = buffer[at + 2 : end]
            if command == ord("t"):
                self.job.code_pages.append(argument[0])
                self._codec = CODE_PAGES.get(argument[0], "cp437")
            elif command == ord("p"):
                self.job.drawer_pulses.append(argument[0] & 0x01)
            elif command == ord("@"):
                self._codec = "cp437"
            elif command == ord("d"):
                self._text.append("\n" * argument[0])
            return end
        if prefix == GS and command in _GS_ARGS:
            end = at + 2 + _GS_ARGS[command]
            self._need(buffer, end)
            return end
        if prefix == GS and command == ord("V"):
            self._need(buffer, at + 3)
            mode = buffer[at + 2]
            end = at + 4 if mode in (65, 66, 97, 98, 103, 104) else at + 3
            self._need(buffer, end)
            self.job.cuts += 1
            return end
        if prefix == GS and command == ord("("):  # GS ( k / GS ( L …: pL pH then pL + 256 pH bytes
            self._need(buffer, at + 5)
            size = buffer[at + 3] + 256 * buffer[at + 4]
            end = at + 5 + size
            self._need(buffer, end)
            body = buffer[at + 5 : end]
            if buffer[at + 2] == ord("k") and body[:3] == b"1P0":
                self.job.qr_codes.append(body[3:].decode("latin-1"))
            return end
        if prefix == GS and command == ord("v"):  # GS v 0 m xL xH yL yH: a raster image
            self._need(buffer, at + 8)
            width_bytes = buffer[at + 4] + 256 * buffer[at + 5]
            height = buffer[at + 6] + 256 * buffer[at + 7]
            end = at + 8 + width_bytes * height
            self._need(buffer, end)
            self.job.images.append((width_bytes * 8, height))
            return end
        self.job.unknown.append(buffer[at : at + 2])
        return at + 2


def decode(data: bytes) -> Job:
    """Decode a whole job's bytes (golden tests: the text a receipt prints)."""
    decoder = Decoder()
    decoder.feed(data)
    return decoder.finish()


def status_answer(request: int, paper: str) -> bytes:
    """The printer's answer to `DLE EOT request` with its paper `ok`, `near_end` or `out`."""
    if request == 4:  # paper roll sensor
        return bytes([STATUS_FIXED | {"ok": 0, "near_end": PAPER_NEAR_END, "out": PAPER_END}[paper]])
    if request == 1:  # printer status: off line while the paper is out
        return bytes([STATUS_FIXED | (OFFLINE_BIT if paper == "out" else 0)])
    return bytes([STATUS_FIXED])


class VirtualPrinter:
    """An ESC/POS printer on 127.0.0.1:<port> (0: an ephemeral port, read `port` once started).

    Each connection is one job, kept in `jobs` once the connection ends (a job sent while out of paper goes to
    `unprinted`, one dropped mid-way to `dropped`). Set `paper` to `"out"` or `"near_end"`, call `go_offline()` /
    `go_online()`, or `drop_next_job_after(n)` to cut the next job's connection after n bytes of print data."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.jobs: list[Job] = []
        self.unprinted: list[Job] = []
        self.dropped: list[Job] = []
        self.paper = "ok"
        self.connections = 0
        self.ended = 0
        """Connections ended, status queries included."""
        self._drop_after: int | None = None
        self._server: asyncio.Server | None = None
        self._printed = asyncio.Condition()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()

    async def go_offline(self) -> None:
        """Switched off: the port refuses connections until `go_online()`."""
        await self.stop()

    async def go_online(self) -> None:
        await self.start()

    @property
    def online(self) -> bool:
        return self._server is not None

    def drop_next_job_after(self, data_bytes: int) -> None:
        """The next job's connection is cut once it has sent `data_bytes` bytes of print data."""
        self._drop_after = data_bytes

    async def wait_for_jobs(self, count: int, *, within_s: float | None = 10.0) -> list[Job]:
        """Wait until `count` jobs were printed (a test's wait with a deadline; None: no deadline); the jobs."""
        await self.wait_until(lambda: len(self.jobs) >= count, within_s=within_s)
        return self.jobs

    async def wait_until(self, done: Callable[[], bool], *, within_s: float | None = 10.0) -> None:
        """Wait until `done()` holds, checked each time a connection has ended (printed, unprinted or dropped)."""
        async with self._printed:
            await asyncio.wait_for(self._printed.wait_for(done), within_s)

    def _status(self, request: int) -> bytes:
        return status_answer(request, self.paper)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        decoder = Decoder()
        drop_after, self._drop_after = self._drop_after, None
        dropped = False
        try:
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                if drop_after is not None and len(decoder.job.data) + len(chunk) >= drop_after:
                    decoder.feed(chunk[: max(drop_after - len(decoder.job.data), 0)])
                    dropped = True
                    writer.transport.abort()  # a reset, as a printer switched off mid-job
                    break
                for request in decoder.feed(chunk):
                    writer.write(self._status(request))
                await writer.drain()
        except ConnectionError:
            dropped = True
        finally:
            if not dropped:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
        job = decoder.finish()
        async with self._printed:
            if not job.data:
                pass  # a status query only
            elif dropped:
                job.complete = False
                self.dropped.append(job)
            elif self.paper == "out":
                self.unprinted.append(job)
            else:
                self.jobs.append(job)
            self.ended += 1
            self._printed.notify_all()


class VirtualSerialPrinter:
    """An ESC/POS printer on a serial line: the far end of a pseudo-terminal, whose device file (`device`, a real
    /dev/pts/N once started) the till opens as its serial printer. A serial line has no connection per job: what
    arrives is decoded as one stream (`job`), and each status request is answered at once. Set `paper` as on
    `VirtualPrinter`."""

    def __init__(self) -> None:
        self.paper = "ok"
        self.device = ""
        self._decoder = Decoder()
        self._changed = asyncio.Event()
        self._fds: tuple[int, int] | None = None

    @property
    def job(self) -> Job:
        """Everything received so far, decoded."""
        return self._decoder.job

    async def start(self) -> None:
        controller, line = pty.openpty()
        tty.setraw(line)  # no echo, no line editing: the bytes pass as sent, before the till opens the device
        os.set_blocking(controller, False)
        self._fds = (controller, line)  # the line kept open here too: the till closing it is no hang-up
        self.device = os.ttyname(line)
        asyncio.get_running_loop().add_reader(controller, self._readable)

    async def stop(self) -> None:
        if self._fds is not None:
            (controller, line), self._fds = self._fds, None
            asyncio.get_running_loop().remove_reader(controller)
            os.close(controller)
            os.close(line)

    async def wait_until(self, done: Callable[[Job], bool], *, within_s: float = 10.0) -> Job:
        """Wait until `done(job)` holds, checked each time bytes arrived (a deadline, not a sleep); the job."""
        async with asyncio.timeout(within_s):
            while not done(self.job):
                self._changed.clear()
                await self._changed.wait()
        return self.job

    def _readable(self) -> None:
        assert self._fds is not None  # noqa: S101 (read only while started)
        try:
            chunk = os.read(self._fds[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        for request in self._decoder.feed(chunk):
            os.write(self._fds[0], status_answer(request, self.paper))
        self._changed.set()


async def _run(port: int) -> None:
    printer = VirtualPrinter(port)
    await printer.start()
    sys.stdout.write(f"virtual ESC/POS printer on 127.0.0.1:{printer.port}\n")
    sys.stdout.flush()
    shown = 0
    while True:
        await printer.wait_for_jobs(shown + 1, within_s=None)
        for job in printer.jobs[shown:]:
            sys.stdout.write(f"--- job ({job.cuts} cut(s), {len(job.drawer_pulses)} drawer pulse(s)) ---\n")
            sys.stdout.write(job.text + "\n")
        shown = len(printer.jobs)
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """`python -m caisse_devices.printer --port N`: serve until interrupted, showing each job's text."""
    parser = argparse.ArgumentParser(prog="caisse_devices.printer", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100, help="the TCP port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args.port))


if __name__ == "__main__":
    main()
