"""The till's SQLite file: WAL with full syncs, its schema migrated step by step by `PRAGMA user_version`, each step
whole or not at all, and a file newer than the program refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hw_proxy.adapters.store import MIGRATIONS, LocalStore, migrate


async def test_a_new_file_is_in_wal_with_full_syncs_at_the_latest_schema(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "till" / "store.sqlite3"))
    await store.open()
    try:
        assert await store.answers()
        assert await store.schema_version() == len(MIGRATIONS)
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "till" / "store.sqlite3")
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_opening_again_applies_nothing_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "store.sqlite3")
    for _ in range(2):
        store = LocalStore(path)
        await store.open()
        assert (await store.stream_state()).position is None
        await store.close()


def test_a_step_that_fails_leaves_the_file_at_the_last_step_that_committed(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    steps = (("create table a (x integer)",), ("create table b (y integer)", "this is not sql"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, steps)
    assert conn.execute("pragma user_version").fetchone()[0] == 1
    assert conn.execute("select name from sqlite_master where name = 'b'").fetchone() is None
    assert migrate(conn, (*steps[:1], ("create table b (y integer)",))) == 2
    conn.close()


def test_a_file_from_a_newer_hw_proxy_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    conn.execute(f"pragma user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(conn)
    conn.close()


async def test_the_synchronous_setting_is_full_on_the_open_connection(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "store.sqlite3"))
    await store.open()
    try:
        assert await store.pragma("synchronous") == 2  # FULL
    finally:
        await store.close()
