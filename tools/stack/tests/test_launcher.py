"""The launcher: the real Kafka and PostgreSQL of the test instance, their topics and databases, idempotent start."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import socket
import stat
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from caisse_contracts.caisse_ap import FrameReader, PaymentRequest
from caisse_contracts.topics import CONFIG, all_topics
from caisse_stack import demo_data, ensure_up, kafka, postgres, services
from caisse_stack.demo_data import Demo, DemoTill
from caisse_stack.layout import INSTANCES, instance
from caisse_stack.processes import alive, read_pid
from caisse_stack.services import BY_NAME, service_env


def test_the_dev_and_test_instances_never_share_a_port() -> None:
    ports = [
        (i.kafka_port, i.controller_port, i.pg_port, *(i.service_port_base + n for n in range(1, 6)))
        for i in INSTANCES.values()
    ]
    flat = [p for group in ports for p in group]
    assert len(flat) == len(set(flat))


def test_the_broker_listens_on_loopback_only_and_creates_no_topic_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAISSE_STACK_PORT_SHIFT", raising=False)
    rendered = kafka.server_properties(instance("test"), data_dir=Path("/data"))
    assert "listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093" in rendered
    assert "auto.create.topics.enable=false" in rendered
    assert "process.roles=broker,controller" in rendered


@pytest.mark.integration
def test_the_test_instance_answers_with_every_registry_topic_and_the_config_topic_compacted() -> None:
    infra = ensure_up("test")
    configs = kafka.topic_configs(infra.instance)
    assert {t.name for t in all_topics()} <= set(configs)
    assert configs[CONFIG.name]["cleanup.policy"] == "compact"
    assert configs["caisse.ticket.v1"]["cleanup.policy"] == "delete"


@pytest.mark.integration
def test_every_service_database_answers_for_the_caisse_role() -> None:
    infra = ensure_up("test")

    async def answer(db: str) -> int:
        conn = await asyncpg.connect(infra.dsn(db))
        try:
            value: int = await conn.fetchval("select 1")
            return value
        finally:
            await conn.close()

    for db in postgres.SERVICE_DATABASES:
        assert asyncio.run(answer(db)) == 1


@pytest.mark.integration
def test_the_cluster_runs_with_the_launchers_settings_and_listens_on_loopback_only() -> None:
    infra = ensure_up("test")

    async def settings() -> dict[str, str]:
        conn = await asyncpg.connect(infra.dsn(postgres.SERVICE_DATABASES[0]))
        try:
            names = ("listen_addresses", "max_wal_size", "checkpoint_timeout", "wal_compression", "synchronous_commit")
            return {name: await conn.fetchval(f"show {name}") for name in names}
        finally:
            await conn.close()

    shown = asyncio.run(settings())
    assert shown["listen_addresses"] == "127.0.0.1"
    assert (shown["max_wal_size"], shown["checkpoint_timeout"], shown["synchronous_commit"]) == ("4GB", "15min", "on")
    assert shown["wal_compression"] in {"lz4", "pglz", "on"}


@pytest.mark.integration
def test_a_second_start_reuses_the_running_processes() -> None:
    inst = ensure_up("test").instance
    kafka_pid, pg_pid = read_pid(kafka.pid_file(inst)), postgres.pid(inst)
    assert kafka_pid is not None
    assert pg_pid is not None
    assert alive(kafka_pid)
    assert alive(pg_pid)
    ensure_up("test")
    assert (read_pid(kafka.pid_file(inst)), postgres.pid(inst)) == (kafka_pid, pg_pid)


@pytest.mark.integration
def test_a_database_created_for_a_test_can_be_dropped_again() -> None:
    infra = ensure_up("test")
    infra.create_database("caisse_launcher_probe")
    infra.drop_database("caisse_launcher_probe")

    async def exists() -> bool:
        conn = await asyncpg.connect(postgres.admin_dsn(infra.instance))
        try:
            return bool(await conn.fetchval("select 1 from pg_database where datname = 'caisse_launcher_probe'"))
        finally:
            await conn.close()

    assert asyncio.run(exists()) is False


def test_php_cli_is_installed_when_missing_for_the_paheko_plugins_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    installer = importlib.import_module("caisse_stack.install")  # the module, not the function of that name
    found = installer.shutil.which
    monkeypatch.setattr(installer.shutil, "which", lambda name: None if name == "php" else found(name))
    assert installer.missing_php() == ["php-cli"]
    assert "php-cli" in installer.missing_packages()


def test_pos_api_gets_one_stream_signing_key_per_instance_made_once_owner_only_and_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CAISSE_STACK_ROOT", str(tmp_path))
    monkeypatch.delenv("CAISSE_STACK_PORT_SHIFT", raising=False)
    inst = instance("test")
    pos_api = BY_NAME["pos-api"]
    first = service_env(pos_api, inst, port=1)["POS_API_STREAM_SIGNING_KEY"]
    path = tmp_path / ".stack" / "test" / "stream-signing-key.pem"
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(first.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert service_env(pos_api, inst, port=1)["POS_API_STREAM_SIGNING_KEY"] == first
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    other = dataclasses.replace(inst, name="dev")
    assert service_env(pos_api, other, port=1)["POS_API_STREAM_SIGNING_KEY"] != first


def test_the_notifier_reads_the_keys_from_pos_api_and_the_till_finds_the_notifier(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CAISSE_STACK_ROOT", str(tmp_path))
    monkeypatch.setenv("CAISSE_STACK_PORT_SHIFT", "2000")
    inst = instance("test")
    notifier = service_env(BY_NAME["notifier"], inst, port=BY_NAME["notifier"].port(inst))
    assert notifier["NOTIFIER_POS_API_URL"] == "http://127.0.0.1:30101"
    assert notifier["NOTIFIER_OPS_TOKEN"] == (tmp_path / ".stack" / "test" / "notifier-ops-token").read_text().strip()
    till = service_env(BY_NAME["hw-proxy"], inst, port=BY_NAME["hw-proxy"].port(inst))
    assert till["HW_PROXY_NOTIFIER_URL"] == "ws://127.0.0.1:30104"
    assert "STREAM_SIGNING_KEY" not in " ".join(notifier) + " ".join(till)


def test_hw_proxy_is_the_demo_first_till_once_the_demo_exists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAISSE_STACK_ROOT", str(tmp_path))
    monkeypatch.delenv("CAISSE_STACK_PORT_SHIFT", raising=False)
    inst = instance("test")
    hw_proxy = BY_NAME["hw-proxy"]
    assert "HW_PROXY_DEVICE_SERIAL" not in service_env(hw_proxy, inst, port=1)  # no demo yet: no till
    demo = Demo(
        admin_token="x",
        tills=[DemoTill("p", "s", "TILL-1", "secret-1", "EUR"), DemoTill("q", "s", "TILL-2", "secret-2", "EUR")],
    )
    inst.folder.mkdir(parents=True, exist_ok=True)
    demo.save(inst.folder / "demo.json")
    env = service_env(hw_proxy, inst, port=1)
    assert (env["HW_PROXY_DEVICE_SERIAL"], env["HW_PROXY_DEVICE_SECRET"]) == ("TILL-1", "secret-1")


def test_the_card_terminal_simulator_of_make_up_listens_on_loopback_answers_and_stops_with_the_services(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CAISSE_STACK_ROOT", str(tmp_path))
    monkeypatch.setenv("CAISSE_STACK_PORT_SHIFT", "4000")
    inst = instance("test")
    port = services.card_terminal_port(inst)
    assert port not in {s.port(inst) for s in services.SERVICES}
    pid = services.start_card_terminal(inst)
    try:
        assert services.start_card_terminal(inst) == pid  # started once
        with socket.create_connection(("127.0.0.1", port), timeout=5) as terminal:
            terminal.sendall(
                PaymentRequest(amount=1291, currency_numeric=978).encode()
            )  # …91: refused (the demo's rule)
            frames = FrameReader()
            answers: list[dict[str, str]] = []
            while not answers:
                answers = frames.feed(terminal.recv(4096))
        assert (answers[0]["AE"], answers[0]["AF"]) == ("01", "04")
        assert services.stop_all(inst) == ["card-terminal"]
        assert not alive(pid)
    finally:
        services.stop_all(inst)


def test_the_demos_first_till_pays_by_card_on_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[dict[str, object]] = []

    class Recorder:
        """The back office as the demo loader calls it: records what it creates."""

        def __init__(self, *_: object) -> None:
            pass

        def create(self, kind: str, body: dict[str, object]) -> dict[str, object]:
            created.append({"kind": kind, **body})
            return {"item": {"id": f"{kind}-{len(created)}"}, "secret": "s"}

        def close(self) -> None:
            pass

    monkeypatch.setattr(demo_data, "BackOffice", Recorder)
    monkeypatch.setattr(demo_data, "_catalogue", lambda *_: None)  # the tills are what this test reads
    demo_data.load("http://pos-api", "token", card_terminal_port=12345)
    tills = [c for c in created if c["kind"] == "pos"]
    assert tills[0]["card_terminal"] == {"host": "127.0.0.1", "port": 12345}
    assert all("card_terminal" not in t for t in tills[1:])
