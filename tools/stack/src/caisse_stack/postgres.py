"""PostgreSQL for the launcher: a cluster of the project's own (Debian's server binaries, run as `postgres`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Final

import asyncpg

from caisse_stack import blocking
from caisse_stack.layout import Instance
from caisse_stack.processes import read_pid, require_free

ROLE: Final = "caisse"
PASSWORD: Final = "caisse"  # noqa: S105 - a loopback-only cluster for development and tests
SERVICE_DATABASES: Final = ("caisse_pos_api", "caisse_session_service", "caisse_paheko_bridge", "caisse_notifier")


def bin_dir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name), reverse=True
    )
    if not candidates:
        raise SystemExit("PostgreSQL's server is missing: run `caisse-stack install`")
    return candidates[0].parent


def folder(inst: Instance) -> Path:
    return inst.folder / "postgres"


def data_dir(inst: Instance) -> Path:
    return folder(inst) / "data"


def log_file(inst: Instance) -> Path:
    return folder(inst) / "postgres.log"


def _as_owner(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user that Debian's package creates."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise SystemExit("runuser is missing (util-linux)")
    return [runuser, "-u", "postgres", "--", *argv]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def pid(inst: Instance) -> int | None:
    """The postmaster's pid if the cluster runs (PostgreSQL manages its own pid file)."""
    return read_pid(data_dir(inst) / "postmaster.pid", remove_stale=False)


SETTINGS_FILE = "caisse.conf"
"""Written anew at every start and included by postgresql.conf, so a changed setting reaches old clusters."""


def _settings(inst: Instance, version: int) -> str:
    return f"""# Caisse launcher ({inst.name}): rewritten at every start
listen_addresses = '127.0.0.1'
port = {inst.pg_port}
unix_socket_directories = '{folder(inst) / "run"}'
max_connections = 300
shared_buffers = 256MB
work_mem = 8MB
wal_level = minimal
max_wal_senders = 0
synchronous_commit = on
# Every sale writes a few kilobytes of WAL: checkpoints far enough apart that full-page images stay rare,
# and those compressed.
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = {"lz4" if version >= 15 else "on"}
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %d '
"""


def _write_settings(inst: Instance, data: Path) -> None:
    conf = data / "postgresql.conf"
    include = f"include_if_exists = '{SETTINGS_FILE}'"
    if include not in conf.read_text():
        with conf.open("a") as out:
            out.write(f"\n{include}\n")
    version = int((data / "PG_VERSION").read_text().strip().split(".")[0])
    (data / SETTINGS_FILE).write_text(_settings(inst, version))
    _chown_to_postgres(data / SETTINGS_FILE)


def start(inst: Instance) -> int:
    """Create (first time) and start the cluster of `inst` unless it runs; the postmaster's pid."""
    if (running := pid(inst)) is not None:
        return running
    require_free(inst.pg_port, "PostgreSQL")
    base = folder(inst)
    data = data_dir(inst)
    run = base / "run"
    for path in (base, run):
        path.mkdir(parents=True, exist_ok=True)
        _chown_to_postgres(path)
    binaries = bin_dir()
    if not (data / "PG_VERSION").is_file():
        subprocess.run(
            _as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _write_settings(inst, data)
    log = log_file(inst)
    log.touch()
    _chown_to_postgres(log)
    deadline = time.monotonic() + 30
    while (
        subprocess.run(
            _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
        != 0
    ):
        # After a crash of the postmaster, its children hold the lock for a few seconds more: try again.
        if time.monotonic() > deadline or "already exists" not in log.read_text()[-2000:]:
            raise SystemExit(f"PostgreSQL did not start; see {log}")
        time.sleep(1)
    started = pid(inst)
    if started is None:
        raise SystemExit(f"PostgreSQL did not start; see {log}")
    return started


def admin_dsn(inst: Instance, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{inst.pg_port}/{database}"


def dsn(inst: Instance, database: str) -> str:
    return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{inst.pg_port}/{database}"


async def _answers(inst: Instance) -> bool:
    try:
        conn = await asyncpg.connect(admin_dsn(inst), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        value: int = await conn.fetchval("select 1")
        return value == 1
    finally:
        await conn.close()


def wait_ready(inst: Instance, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if blocking.run(_answers(inst)):
            return
        time.sleep(0.3)
    raise SystemExit(f"PostgreSQL did not answer within {timeout_s:.0f}s; see {log_file(inst)}")


async def _ensure_role_and_databases(inst: Instance, databases: tuple[str, ...]) -> list[str]:
    conn = await asyncpg.connect(admin_dsn(inst))
    created: list[str] = []
    try:
        if not await conn.fetchval("select 1 from pg_roles where rolname = $1", ROLE):
            await conn.execute(f"create role {ROLE} login createdb password '{PASSWORD}'")
        for name in databases:
            if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
                await conn.execute(f'create database "{name}" owner {ROLE}')
                created.append(name)
        return created
    finally:
        await conn.close()


def ensure_databases(inst: Instance, databases: tuple[str, ...] = SERVICE_DATABASES) -> list[str]:
    """The `caisse` role and one database per service, created if missing; the names created."""
    return blocking.run(_ensure_role_and_databases(inst, databases))


async def _drop(inst: Instance, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn(inst))
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def drop_database(inst: Instance, name: str) -> None:
    blocking.run(_drop(inst, name))


def stop(inst: Instance) -> bool:
    if pid(inst) is None:
        return False
    subprocess.run(
        _as_owner([str(bin_dir() / "pg_ctl"), "-D", str(data_dir(inst)), "-m", "fast", "-w", "stop"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return True
