"""Background processes by pid file: start detached with logs to a file, check alive, stop by pid only."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def read_pid(pid_file: Path, *, remove_stale: bool = True) -> int | None:
    """The pid on the first line of `pid_file` if that process is alive; a stale file of ours is removed."""
    try:
        words = pid_file.read_text().split()
        pid = int(words[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    recorded = next((w.removeprefix("started=") for w in words[1:] if w.startswith("started=")), None)
    if alive(pid) and (recorded is None or recorded == started(pid)):  # a reused pid is not ours
        return pid
    if remove_stale:
        pid_file.unlink(missing_ok=True)
    return None


def started(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot: with the pid, it names one process even if pids are reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours is not alive
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def require_free(port: int, what: str) -> None:
    """Refuse to start `what` on a port another process holds (say which), rather than fail obscurely later."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"{what}: 127.0.0.1:{port} is already used by another process") from None


def start_detached(
    argv: Sequence[str], *, log_file: Path, pid_file: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `argv` in its own session (it outlives this command), output appended to `log_file`, with as many
    open files as the hard limit allows (`raise_open_files_limit`)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit()
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\nstarted={started(process.pid)}\n")
    return process.pid


def raise_open_files_limit() -> int:
    """Lift this process's soft limit of open files to its hard one, so that what it starts inherits it; the soft
    limit now.

    A socket is a file: the notifier holds one per connected till (10,000 in its benchmark), and a distribution's
    default soft limit (often 1,024) would refuse them long before the hard one (often 524,288); a container
    usually runs with both at the same high value.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def stop_pid(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM the process of `pid_file`, SIGKILL it after `timeout_s`; True if something was stopped."""
    pid = read_pid(pid_file)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive(pid):
        _reap(pid)
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
