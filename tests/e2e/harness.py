"""Runs Caisse's real services as processes against the test instance of Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from caisse_contracts.topics import CONSUMER_GROUPS
from caisse_stack import Infra, demo_data
from caisse_stack.demo_data import Demo, DemoTill
from caisse_stack.kafka import start_group_at_end
from caisse_stack.services import BY_NAME, service_env

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """One service as a real OS process, restartable, with its log and its spans in files."""

    name: str
    env: dict[str, str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    tag: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def as_pos_api(self) -> dict[str, str]:
        """Headers of a call to session-service as pos-api makes it for itself (its service token)."""
        return {"Authorization": f"Bearer {self.env['SESSION_SERVICE_SERVICE_TOKEN']}"}

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}{self.tag}.log"

    @property
    def trace_path(self) -> Path:
        return self.workdir / f"{self.name}{self.tag}.spans.jsonl"

    def start(self, timeout_s: float = 60.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / self.name)],
            env={**os.environ, **self.env, **self.extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{self.tail()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        code = self.process.returncode
        self.process = None
        return code

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Till:
    """A demo till driven by a test: its device headers and its own gap-free ticket numbers."""

    till: DemoTill
    demo: Demo
    territory_id: str
    company_id: str
    next_number: int = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Device-Serial": self.till.serial, "X-Device-Secret": self.till.secret}

    def number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number

    @classmethod
    def of(cls, demo: Demo, index: int) -> Till:
        till = demo.tills[index]
        tag = "NC" if till.currency == "XPF" else "FR"
        return cls(till, demo, demo.territories[tag], demo.companies[tag])


@dataclass
class Stack:
    """Fresh databases for one test module and the services started on them."""

    infra: Infra
    workdir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    demos: dict[str, Demo] = field(default_factory=dict)

    def database(self, service: str, tag: str = "") -> str:
        base = BY_NAME[service].database
        if base is None:
            raise ValueError(f"{service} has no central database")
        return f"{base}_{self.suffix}{tag}"

    def service(self, name: str, *, tag: str = "", **extra: str) -> ServiceProcess:
        """A service on a free port, a fresh database of this stack (one per tag), spans to a file (JSON lines)."""
        definition = BY_NAME[name]
        db = self.database(name, tag) if definition.database else None
        if db is not None and db not in self.databases:
            self.infra.create_database(db)
            self.databases.append(db)
        port = free_port()
        if name == "pos-api":
            extra = {"bootstrap_admin_token": self.admin_token(tag), **extra}
            if (sessions := self.services.get("session-service" + tag)) is not None:
                extra = {"session_service_url": sessions.url, **extra}
        if name == "notifier" and (pos_api := self.services.get("pos-api" + tag)) is not None:
            extra = {"pos_api_url": pos_api.url, **extra}
        if name == "hw-proxy" and (notifier := self.services.get("notifier" + tag)) is not None:
            extra = {"notifier_url": notifier.url.replace("http://", "ws://", 1), **extra}
        env = service_env(
            definition,
            self.infra.instance,
            port=port,
            database=db,
            extra={
                "trace_exporter": "console",
                "trace_file": str(self.workdir / f"{name}{tag}.spans.jsonl"),
                "consumer_group_suffix": f".{self.suffix}{tag}",
                **extra,
            },
        )
        for group in CONSUMER_GROUPS:
            if group.service == name and not group.reads_whole_history:
                asyncio.run(
                    start_group_at_end(self.infra.kafka_bootstrap, group.name + f".{self.suffix}{tag}", group.topics)
                )
        proc = ServiceProcess(name=name, env=env, port=port, workdir=self.workdir, tag=tag)
        self.services[name + tag] = proc
        return proc

    def admin_token(self, tag: str = "") -> str:
        return f"admin-{self.suffix}{tag}"

    def demo(self, pos_api: ServiceProcess) -> Demo:
        """The demo hierarchy and catalogue in this pos-api's database (loaded once per database)."""
        if pos_api.tag not in self.demos:
            self.demos[pos_api.tag] = demo_data.load(pos_api.url, self.admin_token(pos_api.tag))
        return self.demos[pos_api.tag]

    def close(self) -> None:
        for proc in self.services.values():
            proc.stop()
        for db in self.databases:
            self.infra.drop_database(db)
