"""Apache Kafka for the launcher: jars from Maven Central, a single KRaft node on 127.0.0.1, the registry's topics."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from caisse_contracts.topics import TOPICS, all_topics
from caisse_stack import blocking
from caisse_stack.layout import KAFKA_VERSION, Instance, kafka_jars, pom_path
from caisse_stack.lock import folder_lock
from caisse_stack.processes import read_pid, require_free, start_detached, stop_pid

LOG4J2 = """\
status = warn
appender.file.type = Console
appender.file.name = STDOUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.requests.name = kafka.request.logger
logger.requests.level = WARN
"""


def ensure_jars() -> Path:
    """Kafka's jars resolved by Maven from the pinned POM, cached in `.stack/kafka-jars/<version>`."""
    target = kafka_jars()
    marker = target / ".complete"
    if marker.is_file():
        return target
    with folder_lock(target.parent):
        if marker.is_file():  # another launcher resolved them while this one waited
            return target
        return _resolve_jars(target, marker)


def _resolve_jars(target: Path, marker: Path) -> Path:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("Maven is missing: run `caisse-stack install`")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    sys.stdout.write(f"resolving Kafka {KAFKA_VERSION}'s jars with Maven into {target}\n")
    resolved = subprocess.run(
        [mvn, "-B", "-f", str(pom_path()), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"],
        check=False,
        capture_output=True,
        text=True,
    )
    if resolved.returncode != 0:  # Maven reports its errors on stdout: show them only when it fails
        sys.stdout.write(resolved.stdout[-4000:] + resolved.stderr[-2000:])
        raise SystemExit(f"Maven could not resolve Kafka {KAFKA_VERSION}'s jars (exit code {resolved.returncode})")
    if not any(staging.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        raise SystemExit(f"Maven did not bring kafka_2.13-{KAFKA_VERSION}.jar")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    marker.touch()
    return target


def server_properties(inst: Instance, data_dir: Path) -> str:
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{inst.controller_port}
listeners=PLAINTEXT://127.0.0.1:{inst.kafka_port},CONTROLLER://127.0.0.1:{inst.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{inst.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=67108864
"""


def _java_cp(jars: Path) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise SystemExit("Java is missing: run `caisse-stack install`")
    return [java, "-cp", f"{jars}/*"]


def folder(inst: Instance) -> Path:
    return inst.folder / "kafka"


def pid_file(inst: Instance) -> Path:
    return folder(inst) / "kafka.pid"


def log_file(inst: Instance) -> Path:
    return folder(inst) / "kafka.log"


def start(inst: Instance) -> int:
    """Start the broker of `inst` unless it runs; its pid."""
    if (pid := read_pid(pid_file(inst))) is not None:
        return pid
    require_free(inst.kafka_port, "Kafka")
    require_free(inst.controller_port, "Kafka's controller")
    jars = ensure_jars()
    base = folder(inst)
    data = base / "data"
    base.mkdir(parents=True, exist_ok=True)
    config = base / "server.properties"
    config.write_text(server_properties(inst, data))
    log4j = base / "log4j2.properties"
    log4j.write_text(LOG4J2)
    logging = f"-Dlog4j2.configurationFile={log4j}"
    if not (data / "meta.properties").is_file():
        cluster_id = uuid.uuid4().hex[:22]
        subprocess.run(
            [
                *_java_cp(jars),
                logging,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                "--standalone",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    java, cp, classpath = _java_cp(jars)
    argv = [java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Xss512k", logging, cp, classpath]
    return start_detached(
        [*argv, "kafka.Kafka", str(config)], log_file=log_file(inst), pid_file=pid_file(inst), cwd=base
    )


async def _answers(bootstrap: str) -> bool:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connections are expected while it starts
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


def wait_ready(inst: Instance, timeout_s: float = 90.0) -> None:
    """Until a real metadata request answers (a listening port is not enough)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_pid(pid_file(inst)) is None:
            raise SystemExit(f"Kafka exited; see {log_file(inst)}")
        if blocking.run(_answers(inst.kafka_bootstrap)):
            return
        time.sleep(0.5)
    raise SystemExit(f"Kafka did not answer within {timeout_s:.0f}s; see {log_file(inst)}")


async def _create_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics() if t.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=1, topic_configs=t.config())
                    for t in missing
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()


def create_topics(inst: Instance) -> list[str]:
    """Create the registry's topics that are missing (idempotent); the names created."""
    return blocking.run(_create_topics(inst.kafka_bootstrap))


async def _topic_configs(bootstrap: str) -> dict[str, dict[str, str]]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: PLC0415

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        names = [t.name for t in all_topics()]
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                configs[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
                }
        return configs
    finally:
        await admin.close()


def topic_configs(inst: Instance) -> dict[str, dict[str, str]]:
    """Each registry topic's configuration as the broker reports it."""
    return blocking.run(_topic_configs(inst.kafka_bootstrap))


def stop(inst: Instance) -> bool:
    return stop_pid(pid_file(inst), timeout_s=60)


async def start_group_at_end(bootstrap: str, group_id: str, topics: tuple[str, ...]) -> None:
    """Commit a new consumer group's offsets at the current end of its topics, so a fresh stack does not
    replay the broker's history; a group that already has offsets keeps them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        by_name = {t.name: t for t in TOPICS}
        partitions = [TopicPartition(t, p) for t in topics for p in range(by_name[t].partitions)]
        consumer.assign(partitions)
        committed = [await consumer.committed(tp) for tp in partitions]
        if any(offset is not None for offset in committed):
            return
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: ends[tp] for tp in partitions})
    finally:
        await consumer.stop()
