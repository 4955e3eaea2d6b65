"""The till's SQLite file: WAL with full syncs, its schema migrated step by step by `PRAGMA user_version`, each step
whole or not at all, and a file newer than the program refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from till_examples import AT, SERIAL, place_items

from hw_proxy.adapters.store import MIGRATIONS, LocalStore, migrate
from hw_proxy.domain.config_cache import CachedItem, EntityKey
from hw_proxy.domain.config_views import ConfigViews


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


async def test_the_config_items_are_read_once_and_read_again_after_each_change(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "till.sqlite3"))
    await store.open()
    try:
        first = await store.items()
        assert await store.items() is first, "the same items while nothing changed"
        items = place_items()
        kind, ident, item = items[0]
        await store.record(
            CachedItem(EntityKey(kind, ident), int(item["version"]), item, position=1),
            position=1,
            at=AT,
            seen_in_reset=False,
        )
        changed = await store.items()
        assert changed is not first
        assert [i.key for i in changed] == [EntityKey(kind, ident)]
        await store.synced(2, AT)
        assert await store.items() is changed, "a position synced changes no item"
        await store.begin_reset(AT)
        assert await store.finish_reset(3, AT) == 1
        assert await store.items() == ()
    finally:
        await store.close()


def test_the_place_and_the_catalogue_are_parsed_once_for_the_same_items() -> None:
    items = tuple(
        CachedItem(EntityKey(kind, ident), int(item["version"]), item, position=n)
        for n, (kind, ident, item) in enumerate(place_items(), start=1)
    )
    views = ConfigViews()
    place = views.place(items, SERIAL)
    assert place is not None
    selling = views.selling(items, place)
    assert views.place(items, SERIAL) is place
    assert views.selling(items, place) is selling
    again = (*items,)  # the store's next read: another object, parsed again
    assert views.place(again, SERIAL) is not place
    assert views.place(again, SERIAL) == place
    assert views.selling(again, place) is not selling
    assert views.place(items, "ANOTHER-TILL") is None
