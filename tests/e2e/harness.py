"""Runs Caisse's real services as processes against the test instance of Kafka and PostgreSQL."""

from __future__ import annotations

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

from caisse_stack import Infra
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
class Stack:
    """Fresh databases for one test module and the services started on them."""

    infra: Infra
    workdir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)

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
        env = service_env(
            definition,
            self.infra.instance,
            port=port,
            database=db,
            extra={"trace_exporter": "console", "trace_file": str(self.workdir / f"{name}{tag}.spans.jsonl"), **extra},
        )
        proc = ServiceProcess(name=name, env=env, port=port, workdir=self.workdir, tag=tag)
        self.services[name + tag] = proc
        return proc

    def close(self) -> None:
        for proc in self.services.values():
            proc.stop()
        for db in self.databases:
            self.infra.drop_database(db)
