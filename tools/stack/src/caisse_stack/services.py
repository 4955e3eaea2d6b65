"""The five services as background processes of an instance, configured by environment like in production."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from caisse_stack import postgres
from caisse_stack.demo_data import Demo
from caisse_stack.layout import Instance, repo_root
from caisse_stack.processes import read_pid, require_free, start_detached, stop_pid

__all__ = [
    "SERVICES",
    "card_terminal_port",
    "read_pid",
    "service_env",
    "start_all",
    "start_card_terminal",
    "status",
    "stop_all",
]


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    env_prefix: str
    database: str | None
    port_offset: int

    def port(self, inst: Instance) -> int:
        return inst.service_port_base + self.port_offset


SERVICES: Final = (
    Service("pos-api", "POS_API_", "caisse_pos_api", 1),
    Service("session-service", "SESSION_SERVICE_", "caisse_session_service", 2),
    Service("paheko-bridge", "PAHEKO_BRIDGE_", "caisse_paheko_bridge", 3),
    Service("notifier", "NOTIFIER_", "caisse_notifier", 4),
    Service("hw-proxy", "HW_PROXY_", None, 5),
)
BY_NAME: Final = {s.name: s for s in SERVICES}


def service_env(
    service: Service, inst: Instance, *, port: int, database: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment a service reads its settings from, pointing at `inst`'s Kafka and PostgreSQL."""
    p = service.env_prefix
    env = {f"{p}HOST": "127.0.0.1", f"{p}PORT": str(port), f"{p}KAFKA_BOOTSTRAP": inst.kafka_bootstrap}
    db = database or service.database
    if db is not None:
        env[f"{p}DATABASE_URL"] = postgres.dsn(inst, db).replace("postgresql://", "postgresql+asyncpg://", 1)
    if service.name == "pos-api":
        env[f"{p}BOOTSTRAP_ADMIN_TOKEN"] = admin_token(inst)
        env[f"{p}SESSION_SERVICE_URL"] = f"http://127.0.0.1:{BY_NAME['session-service'].port(inst)}"
        env[f"{p}BRIDGE_TOKEN"] = instance_token(inst, "bridge-token")
        env[f"{p}SESSION_SERVICE_TOKEN"] = service_token(inst)
        env[f"{p}STREAM_SIGNING_KEY"] = stream_signing_key(inst)
    if service.name == "session-service":
        env[f"{p}SERVICE_TOKEN"] = service_token(inst)
    if service.name == "paheko-bridge":
        env[f"{p}POS_API_URL"] = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
        env[f"{p}POS_API_TOKEN"] = instance_token(inst, "bridge-token")
        env[f"{p}OPS_TOKEN"] = instance_token(inst, "bridge-ops-token")
        env[f"{p}FEC_DIRECTORY"] = str(inst.folder / "fec")
    if service.name == "notifier":
        # where it reads the public keys of the tills' stream tokens (`<url>/v1/stream-keys`)
        env[f"{p}POS_API_URL"] = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
        env[f"{p}OPS_TOKEN"] = instance_token(inst, "notifier-ops-token")
    if service.name == "hw-proxy":
        env[f"{p}STORE_PATH"] = str(inst.folder / "hw-proxy" / "till.sqlite3")
        env[f"{p}POS_API_URL"] = f"http://127.0.0.1:{BY_NAME['pos-api'].port(inst)}"
        env[f"{p}NOTIFIER_URL"] = f"ws://127.0.0.1:{BY_NAME['notifier'].port(inst)}"
        if (till := demo_till(inst)) is not None:  # the till this instance's hw-proxy is, once the demo made one
            env[f"{p}DEVICE_SERIAL"], env[f"{p}DEVICE_SECRET"] = till
    env.update({f"{p}{k.upper()}": v for k, v in (extra or {}).items()})
    return env


def demo_till(inst: Instance) -> tuple[str, str] | None:
    """The serial and secret of the demo's first till, once the demo data was loaded (`demo.json`)."""
    path = inst.folder / "demo.json"
    if not path.is_file():
        return None
    tills = Demo.load(path).tills
    return (tills[0].serial, tills[0].secret) if tills else None


def restart(inst: Instance, name: str) -> int:
    """Stop one service if it runs and start it again with its current environment; wait for its /readyz."""
    service = BY_NAME[name]
    stop_pid(pid_file(inst, name), timeout_s=30)
    env = {**os.environ, **service_env(service, inst, port=service.port(inst))}
    pid = start_detached(
        [executable(name)], log_file=log_file(inst, name), pid_file=pid_file(inst, name), cwd=repo_root(), env=env
    )
    wait_ready(f"http://127.0.0.1:{service.port(inst)}", name, log_file(inst, name))
    return pid


def admin_token(inst: Instance) -> str:
    """The instance's first federation-admin token: random, made once, kept in `.stack/<instance>/admin-token`."""
    return instance_token(inst, "admin-token")


def service_token(inst: Instance) -> str:
    """The token pos-api calls session-service with: random, made once per instance, given to both."""
    return instance_token(inst, "session-service-token")


def instance_token(inst: Instance, name: str) -> str:
    """A random token of the instance, made once and kept in `.stack/<instance>/<name>` (readable by its owner)."""
    path = inst.folder / name
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


STREAM_SIGNING_KEY_FILE: Final = "stream-signing-key.pem"


def stream_signing_key(inst: Instance) -> str:
    """pos-api's Ed25519 key for the tills' stream tokens (PEM, PKCS8): made once per instance and kept in
    `.stack/<instance>/stream-signing-key.pem` (readable by its owner), so that tokens outlive a restart."""
    path = inst.folder / STREAM_SIGNING_KEY_FILE
    if not path.is_file():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private(path, pem.decode())
    return path.read_text()


def write_private(path: Path, text: str) -> None:
    """Create `path` whole and readable by its owner only, from the start; a file another launch made first is
    kept (never half written: the text goes to a private temporary file, then is linked in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise SystemExit(f"the {name} console script is not installed: run `uv sync --all-packages`")
    return found


def folder(inst: Instance) -> Path:
    return inst.folder / "services"


def pid_file(inst: Instance, name: str) -> Path:
    return folder(inst) / f"{name}.pid"


def log_file(inst: Instance, name: str) -> Path:
    return folder(inst) / f"{name}.log"


def start_all(inst: Instance, settings: dict[str, dict[str, str]] | None = None) -> dict[str, int]:
    """Start every service that does not run yet (`settings`: more of them, by service); wait for each /readyz."""
    folder(inst).mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    for service in SERVICES:
        if (running := read_pid(pid_file(inst, service.name))) is not None:
            pids[service.name] = running
            continue
        require_free(service.port(inst), service.name)
        extra = (settings or {}).get(service.name)
        env = {**os.environ, **service_env(service, inst, port=service.port(inst), extra=extra)}
        pids[service.name] = start_detached(
            [executable(service.name)],
            log_file=log_file(inst, service.name),
            pid_file=pid_file(inst, service.name),
            cwd=repo_root(),
            env=env,
        )
    for service in SERVICES:
        wait_ready(f"http://127.0.0.1:{service.port(inst)}", service.name, log_file(inst, service.name))
    return pids


def wait_ready(url: str, name: str, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{name} is not ready after {timeout_s:.0f}s; see {log}")


CARD_TERMINAL: Final = "card-terminal"
CARD_TERMINAL_PORT_OFFSET: Final = 8


def card_terminal_port(inst: Instance) -> int:
    """Where the demo's card terminal simulator listens (127.0.0.1): the demo's first till pays by card on it."""
    return inst.service_port_base + CARD_TERMINAL_PORT_OFFSET


def start_card_terminal(inst: Instance) -> int:
    """Start our Caisse-AP terminal simulator (`caisse_devices.card_terminal`, on 127.0.0.1) unless it runs; its
    outcome is read from each amount's last two digits (…91 refused, …92 abandoned, …93 timed out, …94
    contactless, …95 slow, …96 dropped, …97 silent, anything else approved). Waits until it accepts connections."""
    folder(inst).mkdir(parents=True, exist_ok=True)
    if (running := read_pid(pid_file(inst, CARD_TERMINAL))) is not None:
        return running
    port = card_terminal_port(inst)
    require_free(port, CARD_TERMINAL)
    pid = start_detached(
        [sys.executable, "-m", "caisse_devices.card_terminal", "--port", str(port)],
        log_file=log_file(inst, CARD_TERMINAL),
        pid_file=pid_file(inst, CARD_TERMINAL),
        cwd=repo_root(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return pid
        time.sleep(0.1)
    raise SystemExit(f"the card terminal simulator does not listen after 30s; see {log_file(inst, CARD_TERMINAL)}")


def stop_all(inst: Instance) -> list[str]:
    stopped = [s.name for s in reversed(SERVICES) if stop_pid(pid_file(inst, s.name), timeout_s=30)]
    if stop_pid(pid_file(inst, CARD_TERMINAL), timeout_s=10):
        stopped.append(CARD_TERMINAL)
    return stopped


def status(inst: Instance) -> dict[str, int | None]:
    return {s.name: read_pid(pid_file(inst, s.name)) for s in SERVICES}
