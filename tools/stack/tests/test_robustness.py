"""The launcher under stress: reused pids, concurrent launches, callers inside an event loop, URLs of an instance."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from caisse_stack import Infra, blocking, ensure_up, kafka, postgres
from caisse_stack.layout import instance
from caisse_stack.lock import folder_lock
from caisse_stack.processes import read_pid, start_detached


def test_a_pid_file_whose_pid_now_names_another_process_is_stale(tmp_path: Path) -> None:
    pid_file = tmp_path / "ours.pid"
    pid_file.write_text("1\nstarted=0\n")  # pid 1 runs, but it did not start at tick 0
    assert read_pid(pid_file) is None
    assert not pid_file.exists()


def test_a_detached_process_is_found_again_by_its_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    pid = start_detached(["sleep", "30"], log_file=tmp_path / "sleep.log", pid_file=pid_file, cwd=tmp_path)
    try:
        assert read_pid(pid_file) == pid
    finally:
        subprocess.run(["kill", str(pid)], check=True)


def test_a_detached_process_may_open_as_many_files_as_the_hard_limit_allows(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))  # a low soft limit, as distributions give
    try:
        pid_file = tmp_path / "limits.pid"
        start_detached(
            ["sh", "-c", "ulimit -Sn; ulimit -Hn"], log_file=tmp_path / "limits.log", pid_file=pid_file, cwd=tmp_path
        )
        deadline = time.monotonic() + 10
        while len((tmp_path / "limits.log").read_text().split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        started_soft, started_hard = (tmp_path / "limits.log").read_text().split()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]), hard))
    assert started_soft == started_hard == str(hard)


def test_the_urls_of_an_instance_name_its_port_and_the_caisse_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAISSE_STACK_PORT_SHIFT", raising=False)
    infra = Infra.of(instance("test"))
    assert infra.kafka_bootstrap == "127.0.0.1:29092"
    assert infra.dsn("caisse_pos_api") == "postgresql://caisse:caisse@127.0.0.1:25432/caisse_pos_api"
    assert infra.database_url("x").startswith("postgresql+asyncpg://caisse:caisse@127.0.0.1:25432/")


def test_a_port_shift_moves_every_port_of_an_instance_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAISSE_STACK_PORT_SHIFT", "1000")
    shifted = instance("test")
    assert (shifted.kafka_port, shifted.controller_port, shifted.pg_port, shifted.service_port_base) == (
        30092,
        30093,
        26432,
        29100,
    )
    assert shifted.folder == instance("test").folder  # the checkout, not the shift, owns the data
    for bad in ("a lot", "-5", "50000"):
        monkeypatch.setenv("CAISSE_STACK_PORT_SHIFT", bad)
        with pytest.raises(SystemExit, match="CAISSE_STACK_PORT_SHIFT"):
            instance("test")


async def test_a_coroutine_runs_to_completion_even_under_a_running_loop() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert blocking.run(answer()) == 42


def test_a_folder_lock_lets_one_holder_in_at_a_time(tmp_path: Path) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def hold() -> None:
        with folder_lock(tmp_path):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1, 1]


@pytest.mark.integration
def test_concurrent_launches_of_the_same_instance_share_one_broker_and_one_cluster() -> None:
    script = "from caisse_stack import ensure_up; ensure_up('test')"
    launches = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [launch.wait(timeout=240) for launch in launches] == [0, 0, 0]
    inst = ensure_up("test").instance
    assert read_pid(kafka.pid_file(inst)) is not None
    assert postgres.pid(inst) is not None


@pytest.mark.integration
async def test_an_async_fixture_can_start_the_instance() -> None:
    infra = ensure_up("test")
    assert infra.pg_port == instance("test").pg_port
