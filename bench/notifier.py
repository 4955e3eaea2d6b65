"""The notifier on the real stack with 10,000 tills on its config stream: how fast a back-office change reaches
them, how fast they all come back after a restart, and what holding them costs in memory and CPU.

Every service runs on the launcher's test instance (fresh consumer groups, as the other benchmarks), the notifier
as one process. The tills are held by `bench/streamgen` (Go, one goroutine per till, so that 10,000 connections
take little of the two cores it shares with the notifier): all in the demo's France territory and its company,
TILLS_IN_SHOP of them in the demo shop that the shop-level change edits, the others in shops of their own (random
ids: the notifier places a till by its token's claims). Their stream tokens are signed here as pos-api signs them,
with the instance's stream signing key and pos-api's own signer, so pos-api's `/v1/stream-keys` verifies them.

- Territory-wide change: the territory is edited through pos-api's back office (`PUT /v1/territories/{id}`, the
  federation admin's token); time zero is pos-api's HTTP answer; the path is pos-api → outbox → relay → Kafka →
  notifier → every till. Each run's delivery latencies (receive time at the till − time zero, the same wall clock)
  go into the p50/p99/max; CPU per delivered message is the notifier process's CPU (/proc) from just before the
  write to SETTLE_S after the last till received it (the tills' acks included), divided by the deliveries.
- Shop-level change: one shop edited (`PUT /v1/shops/{id}`): only its TILLS_IN_SHOP tills may receive it; the
  generator counts every other till that does (it must be none) for LINGER_S after the last expected one.
- Reconnect storm: the generator is held still (SIGSTOP), the notifier stopped with SIGTERM (it closes every
  connection with 1012), the territory edited while it is away, the notifier started again; once it answers
  /readyz the tills are let go (SIGCONT): all at once they find their connections closed, reconnect and resume,
  and the generator reports when the first one was back and when the last one had caught up (its `synced`, with
  the change it missed). Held still, the tills do not dial a port nobody listens on: on loopback, thousands of
  such dials from ephemeral ports end up connecting the port to itself when the instance's ports lie inside
  `net.ipv4.ip_local_port_range` (a large CAISSE_STACK_PORT_SHIFT), and the notifier could not bind it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import calibration
from bench.cpu import CpuShares, cpu_seconds
from bench.finalize import fresh_consumers, percentile
from bench.idle_rss import rss_mb
from bench.report import Figure
from bench.streamgen import Delivery, StormReport, StreamGen, StreamTill, streamgen
from caisse_contracts.stream import STREAM_PATH, STREAM_TOKEN_MAX_S, StreamClaims
from caisse_contracts.topics import CONFIG
from caisse_stack import ensure_up
from caisse_stack.demo import ensure_demo_data
from caisse_stack.layout import Instance
from caisse_stack.processes import read_pid, stop_pid
from caisse_stack.services import BY_NAME, admin_token, pid_file, start_all, stop_all, stream_signing_key
from pos_api.adapters.stream_tokens import Ed25519StreamTokenSigner

TILLS = 10_000
TILLS_IN_SHOP = 100
OTHER_SHOPS = 99
"""The other tills sit in this many shops of their own (about a hundred tills each, like the demo shop's)."""
TERRITORY_RUNS = 5
SHOP_RUNS = 5
TOKEN_TTL_S = STREAM_TOKEN_MAX_S
CONNECT_TIMEOUT_S = 300.0
WATCH_DEADLINE_S = 30.0
LINGER_S = 1.0
SETTLE_S = 2.0
"""After the last delivery, the tills' acks reach the notifier and its presence writer flushes them."""
STORM_DEADLINE_S = 120.0
PORT_WAIT_S = 90.0
PAUSE_S = 2.0
"""Between two writes: each fan-out starts on a quiet notifier."""
TERRITORY_FIELDS_OMITTED = {"id", "version", "updated_at", "updated_by"}


@dataclass(frozen=True)
class Placed:
    """The demo's France territory, company and first shop, where the bench's tills sit."""

    territory_id: str
    company_id: str
    shop_id: str


@dataclass(frozen=True)
class FanOut:
    """One back-office write and who received it."""

    delivery: Delivery
    latencies_ms: list[float]
    write_ms: float
    """The back office's answer time (the PUT)."""
    cpu_s: float
    """The notifier's CPU from just before the write to SETTLE_S after the last delivery."""
    window_s: float
    relayed_ms: float | None
    """From the write's answer to its record in Kafka (the relay's timestamp): the part before the notifier."""


@dataclass(frozen=True)
class Storm:
    """The notifier stopped with SIGTERM and started again, and how the tills came back."""

    report: StormReport
    resumed_ns: int
    """When the tills were let go, the notifier started again and ready (wall clock, the generator's clock)."""
    stopped_s: float
    """SIGTERM until the process was gone (it closes every connection first)."""
    port_wait_s: float
    held: str
    ready_s: float
    """From its start to its /readyz answering (the launcher polls every 0.3 s), the tills held still meanwhile."""
    missed: Delivery
    """The territory change written while it was away."""


class BackOffice:
    """pos-api's back office with the federation admin's token: read an entity, write it back changed."""

    def __init__(self, url: str, token: str, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def read(self, path: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/{path}")
        response.raise_for_status()
        item: dict[str, Any] = response.json()["item"]
        return item

    def write(self, path: str, item: dict[str, Any], **changed: Any) -> tuple[int, int, int]:
        """PUT `item` with `changed`: (its new version, time.time_ns() before the request, after its answer)."""
        body = {k: v for k, v in item.items() if k not in TERRITORY_FIELDS_OMITTED} | changed
        before = time.time_ns()
        response = self.client.put(f"/v1/{path}", json=body, headers={"If-Match": f'"{item["version"]}"'})
        answered = time.time_ns()
        if response.status_code != 200:
            raise RuntimeError(f"PUT /v1/{path}: {response.status_code} {response.text[:300]}")
        version: int = response.json()["item"]["version"]
        return version, before, answered

    def close(self) -> None:
        self.client.close()


def tills_of(placed: Placed, signing_key_pem: str) -> tuple[list[StreamTill], list[str]]:
    """TILLS stream tokens signed as pos-api signs them; the POS ids of the demo shop's tills among them."""
    signer = Ed25519StreamTokenSigner(signing_key_pem, ttl_s=TOKEN_TTL_S)
    shops = [placed.shop_id] + [str(uuid.uuid4()) for _ in range(OTHER_SHOPS)]
    now = int(time.time())
    tills, in_shop = [], []
    for n in range(TILLS):
        pos = uuid.uuid4()
        shop = shops[0] if n < TILLS_IN_SHOP else shops[1 + n % OTHER_SHOPS]
        claims = StreamClaims.model_validate(
            {
                "sub": f"pos:{pos}",
                "pos": pos,
                "shop": shop,
                "company": placed.company_id,
                "territory": placed.territory_id,
                "iat": now,
                "exp": now + TOKEN_TTL_S,
            }
        )
        tills.append(StreamTill(pos_id=str(pos), token=signer.sign(claims)))
        if shop == placed.shop_id:
            in_shop.append(str(pos))
    return tills, in_shop


def check_keys(pos_api: str, signing_key_pem: str) -> None:
    """pos-api publishes the key the bench signs with (else every till would be refused with 4401)."""
    kid = Ed25519StreamTokenSigner(signing_key_pem, ttl_s=TOKEN_TTL_S).key_set().keys[0].kid
    published = httpx.get(f"{pos_api}/v1/stream-keys", timeout=10).raise_for_status().json()
    if kid not in {k["kid"] for k in published["keys"]}:
        raise SystemExit("pos-api does not publish the instance's stream signing key: tokens would be refused")


def notifier_pid(inst: Instance) -> int:
    pid = read_pid(pid_file(inst, "notifier"))
    if pid is None:
        raise RuntimeError("the notifier is not running")
    return pid


def open_files_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return f"{soft}/{hard}"
    return "?"


def sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip().replace("\t", "–")
    except OSError:
        return "?"


def fan_out(
    gen: StreamGen,
    office: BackOffice,
    pid: int,
    path: str,
    entity_id: str,
    changed: dict[str, Any],
    expected: list[str] | None,
    linger_s: float = 0.0,
) -> FanOut:
    item = office.read(path)
    cpu_before, began = cpu_seconds(pid) or 0.0, time.monotonic()
    version, sent, answered = office.write(path, item, **changed)
    delivery = gen.watch(entity_id, version, deadline_s=WATCH_DEADLINE_S, expected=expected, linger_s=linger_s)
    time.sleep(SETTLE_S)
    cpu_after, ended = cpu_seconds(pid) or 0.0, time.monotonic()
    relayed = relayed_ns(office.bootstrap, entity_id, version)
    return FanOut(
        delivery,
        delivery.latencies_ms(answered),
        (answered - sent) / 1e6,
        cpu_after - cpu_before,
        ended - began,
        (relayed - answered) / 1e6 if relayed is not None else None,
    )


def port_free(port: int) -> bool:
    """Whether the launcher could bind the notifier's port again (its check: SO_REUSEADDR, 127.0.0.1)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def holders(port: int) -> str:
    """The sockets on `port`, as `ss` lists them (what keeps the notifier from binding it again)."""
    done = subprocess.run(["ss", "-tan", f"( sport = :{port} )"], capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()[1:]
    return "; ".join(" ".join(line.split()) for line in lines[:5]) + (f" (+{len(lines) - 5})" if len(lines) > 5 else "")


def wait_port(inst: Instance) -> tuple[float, str]:
    """Wait until the notifier's port can be bound again (up to PORT_WAIT_S): how long, and what held it.

    Any outgoing connection of the machine may have taken it as its source port when the instance's ports lie
    inside `net.ipv4.ip_local_port_range`; such a socket keeps it for a minute in TIME-WAIT."""
    port = BY_NAME["notifier"].port(inst)
    began, held = time.monotonic(), ""
    while not port_free(port):
        held = held or holders(port)
        if time.monotonic() - began > PORT_WAIT_S:
            raise RuntimeError(f"the notifier's port {port} stayed taken for {PORT_WAIT_S:.0f} s: {held}")
        time.sleep(0.2)
    return time.monotonic() - began, held


def relayed_ns(bootstrap: str, entity_id: str, version: int) -> int | None:
    """When pos-api's relay sent the change to Kafka (its record's timestamp, unix ns at ms precision): splits a
    delivery into the write's way to Kafka and the notifier's part. None when it is not among the newest records."""

    async def look() -> int | None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(CONFIG.name, 0)
            consumer.assign([partition])
            end = (await consumer.end_offsets([partition]))[partition]
            consumer.seek(partition, max(0, end - 50))
            found, position = None, max(0, end - 50)
            deadline = time.monotonic() + 10
            while position < end and time.monotonic() < deadline:
                for record in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                    position = record.offset + 1
                    data = json.loads(record.value or b"{}").get("data", {})
                    if data.get("entity_id") == entity_id and data.get("version") == version:
                        found = record.timestamp * 1_000_000
            return found
        finally:
            await consumer.stop()

    return asyncio.run(look())


class Shares:
    """CPU seconds by process over a phase (`bench.cpu`'s services, PostgreSQL and Kafka, plus the generator)."""

    def __init__(self, inst: Instance, generator: int | None = None) -> None:
        self.generator = generator
        self._shares = CpuShares(inst)
        self._shares.start()
        self._generator_s = cpu_seconds(generator) or 0.0 if generator is not None else 0.0
        self._began = time.monotonic()

    def stop(self) -> str:
        self._shares.stop()
        spent = {name: ms / 1000 for name, ms in self._shares.per_item(1).items() if name != "load generator"}
        if self.generator is not None:
            spent["streamgen"] = (cpu_seconds(self.generator) or 0.0) - self._generator_s
        wall = time.monotonic() - self._began
        ranked = sorted(spent.items(), key=lambda kv: kv[1], reverse=True)
        return f"{wall:.1f} s wall, CPU s " + ", ".join(f"{name} {s:.1f}" for name, s in ranked if s >= 0.05)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def relayed(run: FanOut) -> str:
    return f"{run.relayed_ms:.0f} ms" if run.relayed_ms is not None else "?"


def describe(runs: list[FanOut]) -> str:
    return "; ".join(
        f"run {i}: first {min(r.latencies_ms):.0f} p50 {statistics.median(r.latencies_ms):.0f} p99 {percentile(r.latencies_ms, 0.99):.0f}"
        f" max {max(r.latencies_ms):.0f} ms, {len(r.latencies_ms)} received, {r.delivery.missing} missing,"
        f" {r.delivery.unexpected} unexpected; in Kafka {relayed(r)}"
        for i, r in enumerate(runs, 1)
        if r.latencies_ms
    )


def run() -> list[Figure]:
    inst = ensure_up("test").instance
    binary = streamgen(inst)
    stop_all(inst)
    yardstick = calibration.tpc_b(inst)  # on the quiet stack, before any service starts
    pos_api = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
    stream_url = f"ws://127.0.0.1:{BY_NAME['notifier'].port(inst)}{STREAM_PATH}"
    settings = fresh_consumers(inst)
    office = BackOffice(pos_api, admin_token(inst), inst.kafka_bootstrap)
    restore: list[tuple[str, str, Any]] = []
    try:  # a service that does not start stops the others with it
        start_all(inst, settings)
        demo = ensure_demo_data(inst)
        shop_id = demo.tills[0].shop_id
        placed = Placed(demo.territories["FR"], demo.companies["FR"], shop_id)
        key = stream_signing_key(inst)
        check_keys(pos_api, key)
        territory_path, shop_path = f"territories/{placed.territory_id}", f"shops/{placed.shop_id}"
        restore = [(territory_path, "name", office.read(territory_path)["name"])]
        restore.append((shop_path, "receipt_footer", office.read(shop_path)["receipt_footer"]))
        pid = notifier_pid(inst)
        say(
            f"notifier pid {pid}: open files {open_files_limit(pid)}; net.core.somaxconn {sysctl('net.core.somaxconn')},"
            f" net.ipv4.tcp_max_syn_backlog {sysctl('net.ipv4.tcp_max_syn_backlog')},"
            f" ephemeral ports {sysctl('net.ipv4.ip_local_port_range')}; {os.cpu_count()} cores"
        )
        tills, in_shop = tills_of(placed, key)
        minted = time.monotonic()
        rss_before = rss_mb(pid)
        connecting = Shares(inst)
        with StreamGen.start(binary, stream_url, tills, mode="storm", connect_timeout_s=CONNECT_TIMEOUT_S) as gen:
            connecting.generator = gen.process.pid
            synced = gen.wait_synced()
            say(f"CPU while the tills connected: {connecting.stop()}")
            say(
                f"{synced['count']} of {synced['tills']} tills synced in {synced['elapsed_ms'] / 1000:.1f} s"
                f" ({synced['failed']} failed {synced['failures']['by_code']}, timed out: {synced['timed_out']});"
                f" generator open files {synced['nofile']}"
            )
            if synced["count"] == 0:
                raise RuntimeError(f"no till synced: {synced['failures']}")
            connected = int(synced["count"])
            time.sleep(PAUSE_S)
            idle_cpu = cpu_seconds(pid) or 0.0
            time.sleep(5.0)
            idle_rate = ((cpu_seconds(pid) or 0.0) - idle_cpu) / 5.0
            rss_held = [rss_mb(pid)]
            say(
                f"notifier RSS {rss_before:.0f} MB before the tills, {rss_held[0]:.0f} MB holding {connected};"
                f" idle CPU with them {idle_rate * 100:.1f} % of a core"
            )
            name = restore[0][2]
            territory_runs = []
            fanning = Shares(inst, gen.process.pid)
            for n in range(1, TERRITORY_RUNS + 1):
                territory_runs.append(
                    fan_out(gen, office, pid, territory_path, placed.territory_id, {"name": f"{name} ({n})"}, None)
                )
                rss_held.append(rss_mb(pid))
                time.sleep(PAUSE_S)
            say("territory-wide change: " + describe(territory_runs))
            say(f"CPU over the {TERRITORY_RUNS} territory-wide changes (pauses included): {fanning.stop()}")
            footer = restore[1][2]
            shop_runs = []
            for n in range(1, SHOP_RUNS + 1):
                shop_runs.append(
                    fan_out(
                        gen,
                        office,
                        pid,
                        shop_path,
                        placed.shop_id,
                        {"receipt_footer": f"{footer} ({n})"},
                        in_shop,
                        linger_s=LINGER_S,
                    )
                )
                time.sleep(PAUSE_S)
            say("shop-level change: " + describe(shop_runs))
            before_storm = gen.stats()
            # The storm: the tills are held still (SIGSTOP to the generator), the notifier is stopped with SIGTERM, a
            # change is written while it is away, it is started again, and once it answers the tills are let go:
            # all at once, they find their connections closed, reconnect and resume.
            item = office.read(territory_path)
            os.kill(gen.process.pid, signal.SIGSTOP)
            try:
                stopping = time.monotonic()
                stop_pid(pid_file(inst, "notifier"), timeout_s=30)
                stopped_s = time.monotonic() - stopping
                missed_version, _, _ = office.write(territory_path, item, name=f"{name} (storm)")
                port_wait_s, held = wait_port(inst)
                restarting = time.monotonic()
                start_all(inst, settings)
                ready_s = time.monotonic() - restarting
            finally:
                resumed_ns = time.time_ns()
                os.kill(gen.process.pid, signal.SIGCONT)
            storming = Shares(inst, gen.process.pid)
            report = gen.storm_report(deadline_s=STORM_DEADLINE_S)
            say(f"CPU during the storm: {storming.stop()}")
            missed = gen.watch(placed.territory_id, missed_version, deadline_s=WATCH_DEADLINE_S)
            storm = Storm(report, resumed_ns, stopped_s, port_wait_s, held, ready_s, missed)
            pid = notifier_pid(inst)
            say(
                f"storm: SIGTERM took {stopped_s:.1f} s; its port free again after {port_wait_s:.1f} s more"
                f"{f' (held by: {held})' if held else ''}; ready {ready_s:.1f} s after its start;"
                f" {report.disconnected} disconnected, {report.caught_up} caught up, {report.not_caught_up} not,"
                f" {report.reconnects} dials after the first; the change written while it was away reached"
                f" {len(missed.times_ns)} ({missed.missing} missing)"
            )
            time.sleep(PAUSE_S)
            again = fan_out(gen, office, pid, territory_path, placed.territory_id, {"name": f"{name} (after)"}, None)
            say("territory-wide change after the restart (not in the figures): " + describe([again]))
            after = gen.stats()
            done = gen.close()
        used = time.monotonic() - minted
        say(
            f"generator: {after['messages_total']:,} messages, {after['acks_total']:,} acks, closes by code"
            f" {after['closes_by_code']} (before the storm {before_storm['closes_by_code']}), failures"
            f" {after['failures']['by_code']}; its peak RSS {done['memory']['max_rss_kb'] / 1024:.0f} MB;"
            f" tokens used for {used:.0f} s of their {TOKEN_TTL_S} s"
        )
    finally:
        with contextlib.suppress(Exception):
            for path, field_name, value in restore:
                office.write(path, office.read(path), **{field_name: value})
        office.close()
        stop_all(inst)
    return figures(connected, territory_runs, shop_runs, storm, rss_held, idle_rate, yardstick)


def figures(
    connected: int,
    territory_runs: list[FanOut],
    shop_runs: list[FanOut],
    storm: Storm,
    rss_held: list[float],
    idle_rate: float,
    yardstick: calibration.Yardstick,
) -> list[Figure]:
    wide = [ms for r in territory_runs for ms in r.latencies_ms]
    narrow = [ms for r in shop_runs for ms in r.latencies_ms]
    per_run_p99 = ", ".join(f"{percentile(r.latencies_ms, 0.99):.0f}" for r in territory_runs)
    missing = sum(r.delivery.missing for r in territory_runs)
    delivered = [len(r.latencies_ms) for r in territory_runs]
    cpu_us = [r.cpu_s * 1e6 / n for r, n in zip(territory_runs, delivered, strict=True) if n]
    net_us = [(r.cpu_s - idle_rate * r.window_s) * 1e6 / n for r, n in zip(territory_runs, delivered, strict=True) if n]
    cpu = statistics.median(cpu_us) if cpu_us else float("nan")
    writes = statistics.median(r.write_ms for r in territory_runs + shop_runs)
    report, ns = storm.report, 1e9
    came_back = report.first_synced_ns != 0 and report.not_caught_up == 0
    all_back_s = (report.last_synced_ns - storm.resumed_ns) / ns if came_back else float("nan")
    first_s = (report.first_synced_ns - storm.resumed_ns) / ns if report.first_synced_ns else float("nan")
    spread_s = (report.last_synced_ns - report.first_synced_ns) / ns if report.first_synced_ns else float("nan")
    catch_up = sorted(report.catch_up_ms)
    unexpected = sum(r.delivery.unexpected for r in shop_runs)
    return [
        Figure(
            what=f"config change → {connected:,} tills (territory PUT answered → received)",
            measured=percentile(wide, 0.99),
            unit="ms",
            target=1000,
            runs=len(wide),
            spread=f"p50 {statistics.median(wide):.0f} ms, max {max(wide):.0f} ms; p99 per run {per_run_p99} ms;"
            f" first till per run {', '.join(f'{min(r.latencies_ms):.0f}' for r in territory_runs)} ms;"
            f" of which PUT answered → record in Kafka {', '.join(relayed(r) for r in territory_runs)};"
            f" {missing} missing over {len(territory_runs)} writes; the PUT itself {writes:.0f} ms (median)",
        ),
        Figure(
            what=f"config change → one shop's {TILLS_IN_SHOP} tills among {connected:,} (shop PUT → received)",
            measured=percentile(narrow, 0.99),
            unit="ms",
            target=100,
            runs=len(narrow),
            spread=f"p50 {statistics.median(narrow):.0f} ms, max {max(narrow):.0f} ms;"
            f" p99 per run {', '.join(f'{percentile(r.latencies_ms, 0.99):.0f}' for r in shop_runs)} ms;"
            f" of which PUT answered → record in Kafka {', '.join(relayed(r) for r in shop_runs)};"
            f" {sum(r.delivery.missing for r in shop_runs)} missing over {len(shop_runs)} writes",
        ),
        Figure(
            what=f"shop-level change received by tills of other shops ({connected - TILLS_IN_SHOP:,} watched)",
            measured=unexpected,
            unit="tills",
            target=1,
            runs=len(shop_runs),
            spread=f"watched {LINGER_S:.0f} s more after the last expected till",
        ),
        Figure(
            what=f"reconnect storm, {report.disconnected:,} tills at once on a restarted notifier → all caught up",
            measured=all_back_s,
            unit="s",
            target=10,
            runs=report.caught_up,
            spread=f"first till back at {first_s:.2f} s, first → last {spread_s:.1f} s; {report.not_caught_up} not"
            f" caught up; per till (its disconnect seen → its synced) p50 {percentile(catch_up, 0.5) / 1000:.2f} s"
            f" p99 {percentile(catch_up, 0.99) / 1000:.2f} s; the change made meanwhile reached"
            f" {len(storm.missed.times_ns):,}; the restart itself: SIGTERM {storm.stopped_s:.1f} s, start → /readyz"
            f" {storm.ready_s:.1f} s",
        ),
        Figure(
            what=f"notifier RSS holding {connected:,} tills (reported; PRODUCT's 150 MB is for an idle service)",
            measured=statistics.median(rss_held),
            unit="MB",
            target=None,
            runs=len(rss_held),
            spread=f"{min(rss_held):.0f}–{max(rss_held):.0f} MB",
        ),
        Figure(
            what="notifier CPU per delivered message (territory fan-outs, acks included; reported)",
            measured=cpu,
            unit="µs",
            target=None,
            runs=len(cpu_us),
            spread=f"{', '.join(f'{u:.0f}' for u in cpu_us)} µs; less its idle CPU with the tills"
            f" ({idle_rate * 100:.1f} % of a core): {statistics.median(net_us):.0f} µs;"
            f" = {cpu * yardstick.tps / 1e6:.3f} pgbench transactions ({yardstick.tps:.0f} tps)",
        ),
    ]
