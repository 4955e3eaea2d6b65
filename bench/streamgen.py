"""Thousands of tills on the notifier's config stream, held by `bench/streamgen` (Go) for the notifier's benchmark.

The generator takes as little as possible of the two cores it shares with the notifier under test: one goroutine
per till reads its WebSocket, acknowledges what it receives (at most one ack per till per 500 ms, one at once after
`synced`) and answers the notifier's pings. Python drives it over its stdin and stdout, one JSON value per line
(the line protocol is described at the top of bench/streamgen/main.go): it starts it with the tills and their
stream tokens, learns when they are all synced, names the change it just wrote to learn when each till received it,
and asks how fast the tills caught up after the notifier restarted. Receive times are the wall clock in unix
nanoseconds, the clock of `time.time_ns()`: a delivery's latency is a receive time minus the moment the bench's
write was acknowledged.

The notifier's benchmark (bench/notifier.py, to come) would use it so:

1. start the notifier (one process) and register 10,000 tills (`finalize.bench_tills`), each with a stream token
   from pos-api (`POST /v1/till/stream-token`);
2. `with StreamGen.start(streamgen(inst), url, tills) as gen: synced = gen.wait_synced()` — the time the 10,000
   took to connect and sync, and the failures by close code;
3. write a change in the back office (a category of the territory: every till; a price of one shop's product:
   that shop's tills), note `time.time_ns()` when the write is acknowledged, then
   `gen.watch(entity_id, version, deadline_s=10, expected=<the shop's tills or None>)`: the p50/p99/max of
   `Delivery.latencies_ms(acknowledged_ns)`, the tills that missed it and those that got it without being meant to;
4. in a generator started with `mode="storm"`: restart the notifier, then `gen.storm_report(deadline_s=120)`:
   how long until the last till synced again, and the spread of the catch-ups;
5. `gen.close()`: messages per till and the generator's memory, shown beside the notifier's RSS and CPU.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self
from uuid import UUID

from caisse_stack.layout import Instance

SOURCE = Path(__file__).resolve().parent / "streamgen"


def build(binary: Path) -> Path:
    """The generator built at `binary` from bench/streamgen, again only when its sources are newer."""
    newest = max(p.stat().st_mtime for p in SOURCE.iterdir())
    if not binary.is_file() or binary.stat().st_mtime < newest:
        go = shutil.which("go")
        if go is None:
            raise SystemExit("Go is needed to build bench/streamgen")
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=SOURCE, check=True)
    return binary


def streamgen(inst: Instance) -> Path:
    """The generator, built once into the instance folder (beside bench/loadgen's binary)."""
    return build(inst.folder / "bin" / "streamgen")


@dataclass(frozen=True)
class StreamTill:
    """A till as the generator connects it: its POS, its stream token, the position it resumes from."""

    pos_id: str
    token: str
    position: int | None = None


@dataclass(frozen=True)
class Delivery:
    """Who received one change (an entity at a version), and when."""

    entity_id: str
    version: int
    expected: int
    times_ns: list[int]
    missing: int
    unexpected: int
    missing_pos_ids: list[str]
    unexpected_pos_ids: list[str]
    waited_ms: float

    def latencies_ms(self, since_ns: int) -> list[float]:
        """The delivery latency of every till that received the change, from `since_ns` (the write's ack), sorted."""
        return sorted((t - since_ns) / 1e6 for t in self.times_ns)


@dataclass(frozen=True)
class StormReport:
    """How the tills came back after the notifier restarted."""

    tills: int
    disconnected: int
    caught_up: int
    not_caught_up: int
    catch_up_ms: list[float]
    elapsed_ms: float
    """From the first till's disconnect to the last till's `synced` after it reconnected."""
    reconnects: int
    first_disconnect_ns: int
    first_synced_ns: int
    """The first till back: from there to `last_synced_ns`, the notifier's catch-up without its own restart."""
    last_synced_ns: int

    @property
    def median_catch_up_ms(self) -> float:
        return statistics.median(self.catch_up_ms) if self.catch_up_ms else 0.0


@dataclass
class StreamGen:
    """A running generator, driven over its stdin and stdout; use it as a context manager so that it stops."""

    process: subprocess.Popen[str]
    synced: dict[str, Any] | None = None
    done: dict[str, Any] | None = field(default=None)

    @classmethod
    def start(
        cls,
        binary: Path,
        url: str,
        tills: list[StreamTill],
        mode: Literal["connect", "storm"] = "connect",
        **params: float | int | None,
    ) -> StreamGen:
        """Start the generator on `url` (ws://127.0.0.1:…/v1/stream) with every till connecting at once.

        `mode="storm"` makes the tills reconnect and resume when the notifier closes them; `params` are the job's
        others (dial_concurrency, connect_timeout_s, retry_max_ms, half_open_s, ping_s, position).
        """
        process = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        gen = cls(process)
        job = {"url": url, "mode": mode, "tills": [t.__dict__ for t in tills], **params}
        gen._send(job)
        return gen

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _pipe(self, name: Literal["stdin", "stdout"]) -> IO[str]:
        pipe = self.process.stdin if name == "stdin" else self.process.stdout
        assert pipe is not None
        return pipe

    def _send(self, message: dict[str, Any]) -> None:
        pipe = self._pipe("stdin")
        pipe.write(json.dumps(message) + "\n")
        pipe.flush()

    def _next(self, event: str) -> dict[str, Any]:
        line = self._pipe("stdout").readline()
        if not line:
            code = self.process.wait()
            errors = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"streamgen stopped ({code}) before its {event} event: {errors.strip()}")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("event") != event:
            raise RuntimeError(f"streamgen answered {line.strip()[:300]} where {event} was expected")
        return answer

    def wait_synced(self) -> dict[str, Any]:
        """Wait until every till is synced or failed (or the job's connect_timeout_s): the `synced` event.

        It holds `count` (synced), `failed`, `timed_out`, `elapsed_ms` since the start, `failures` (`by_code`, and
        the first ones with their close code and reason: a refused token shows as 4401) and `nofile` (the open-files
        limit the generator has, and whether it is enough).
        """
        if self.synced is None:
            self.synced = self._next("synced")
        return self.synced

    def watch(
        self,
        entity_id: str | UUID,
        version: int,
        deadline_s: float,
        expected: list[str] | None = None,
        linger_s: float = 0.0,
    ) -> Delivery:
        """When each till received `entity_id` at `version`, waiting up to `deadline_s` for the last one.

        The change may already have arrived: each till remembers its last 64 receipts. `expected` names the POS ids
        meant to receive it (None: every till); any other that receives it counts as unexpected, and `linger_s`
        keeps watching for those once every expected till has it.
        """
        self.wait_synced()
        self._send(
            {
                "cmd": "watch",
                "entity_id": str(entity_id),
                "version": version,
                "deadline_s": deadline_s,
                "expected": expected,
                "linger_s": linger_s,
            }
        )
        answer = self._next("watch")
        return Delivery(
            entity_id=answer["entity_id"],
            version=answer["version"],
            expected=answer["expected"],
            times_ns=answer["times_ns"],
            missing=answer["missing"],
            unexpected=answer["unexpected"],
            missing_pos_ids=answer["missing_pos_ids"],
            unexpected_pos_ids=answer["unexpected_pos_ids"],
            waited_ms=answer["waited_ms"],
        )

    def storm_report(self, deadline_s: float) -> StormReport:
        """Once every till still alive synced again after a disconnect (or at `deadline_s`): how they came back.

        Ask it once the notifier is restarted; the next storm counts from there.
        """
        self.wait_synced()
        self._send({"cmd": "storm", "deadline_s": deadline_s})
        answer = self._next("storm")
        return StormReport(
            tills=answer["tills"],
            disconnected=answer["disconnected"],
            caught_up=answer["caught_up"],
            not_caught_up=answer["not_caught_up"],
            catch_up_ms=answer["catch_up_ms"],
            elapsed_ms=answer["elapsed_ms"],
            reconnects=answer["reconnects"],
            first_disconnect_ns=answer["first_disconnect_ns"],
            first_synced_ns=answer["first_synced_ns"],
            last_synced_ns=answer["last_synced_ns"],
        )

    def stats(self) -> dict[str, Any]:
        """Messages per till (in the order of the tills given), acks, reconnects, closes by code, failures, memory."""
        self.wait_synced()
        self._send({"cmd": "stats"})
        return self._next("stats")

    def close(self) -> dict[str, Any]:
        """Close every connection (1000) and stop the generator: its last stats."""
        if self.done is None:
            self.wait_synced()
            self._send({"cmd": "close"})
            self.done = self._next("done")
            self._pipe("stdin").close()
            self.process.wait(timeout=30)
        return self.done
