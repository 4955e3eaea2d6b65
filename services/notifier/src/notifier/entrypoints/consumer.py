"""The notifier reads `caisse.config.v1` whole at every start (no consumer group: every replica reads every
change), each batch into its picture and on to the tills (`Intake`)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from caisse_contracts.events import ConfigChangedV1
from caisse_contracts.topics import CONFIG, NOTIFIER_CONFIG
from caisse_runtime.kafka import EnvelopeConsumer, Positioned
from notifier.domain.placement import Placement
from notifier.service_layer.intake import Intake, Read


class TopicShapeError(RuntimeError):
    """The config topic is not as the positions need it."""


def subscribe(broker: KafkaBroker, intake: Intake, *, max_records: int = 1000) -> None:
    async def on_config(batch: Sequence[Positioned]) -> None:
        await intake.take(
            [
                Read(
                    p.offset,
                    p.envelope.data,
                    Placement(
                        p.envelope.tenant.territory_id,
                        p.envelope.tenant.company_id,
                        p.envelope.tenant.shop_id,
                        p.envelope.tenant.pos_id,
                    ),
                )
                for p in batch
            ]
        )

    consumer = EnvelopeConsumer(
        topic=CONFIG.name, group=NOTIFIER_CONFIG.name, payloads=[ConfigChangedV1], handle_positioned=on_config
    )
    # A change reaches the tills within a second: the topic is asked every 10 ms when quiet, not every 200.
    consumer.subscribe(broker, max_records=max_records, gather_wait_ms=10, idle_poll_ms=10, whole_history=True)


async def end_of_topic(bootstrap: str) -> int:
    """The position the rebuild must reach before the notifier is ready: the config topic's last offset now (-1:
    empty). Raises `TopicShapeError` unless the topic has exactly one partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([CONFIG.name])
    finally:
        await admin.close()
    partitions = described.get("partitions") or []
    if len(partitions) != 1:
        raise TopicShapeError(
            f"{CONFIG.name} has {len(partitions)} partitions; the stream's positions need exactly one"
        )
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(CONFIG.name, 0)
        ends = await consumer.end_offsets([partition])
        end: int = ends[partition]
        return end - 1
    finally:
        await consumer.stop()
