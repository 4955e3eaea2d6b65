"""The registry of Kafka topics: names, keys, producers, consumers, retention, and one DLQ per consumer group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

DAY_MS: Final = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    """One Kafka topic of the platform.

    `key` names what the record key holds, so that one till's (or one entity's) events stay in order.
    A compacted topic keeps the latest record per key forever; others keep records for `retention_ms`.
    """

    name: str
    key: str
    event_types: tuple[str, ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    compacted: bool = False
    retention_ms: int = 14 * DAY_MS
    partitions: int = 6

    def config(self) -> dict[str, str]:
        """The topic-level Kafka configuration that the launcher and the ops tooling apply."""
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


@dataclass(frozen=True, slots=True)
class ConsumerGroup:
    """A consumer group and the topics it reads; its dead letters go to `<topic>.<group>.dlq`."""

    name: str
    service: str
    topics: tuple[str, ...] = field(default_factory=tuple)
    reads_whole_history: bool = False
    """A view of a compacted topic: a new group starts at the beginning, never at the end."""

    def dlq(self, topic: str) -> str:
        return dlq_topic(topic, self.name)


def dlq_topic(topic: str, group: str) -> str:
    return f"{topic}.{group}.dlq"


TICKETS: Final = Topic(
    name="caisse.ticket.v1",
    key="pos_id",
    event_types=("ticket.finalized",),
    producers=("pos-api",),
    consumers=("session-service", "paheko-bridge"),
    retention_ms=30 * DAY_MS,
)
SESSIONS: Final = Topic(
    name="caisse.session.v1",
    key="pos_id",
    event_types=("session.opened", "session.closed", "session.deposit_confirmed"),
    producers=("session-service",),
    consumers=("pos-api", "paheko-bridge"),
    retention_ms=30 * DAY_MS,
)
CONFIG: Final = Topic(
    name="caisse.config.v1",
    key="entity_type:entity_id",
    event_types=("config.changed",),
    producers=("pos-api",),
    consumers=("notifier", "session-service", "paheko-bridge"),
    compacted=True,
    partitions=1,
)
"""One partition: its offsets are one total order of every change, the position a till resumes from on any notifier
replica (`caisse_contracts.stream`). Back-office changes are few; one partition carries thousands a second."""
STOCK: Final = Topic(
    name="caisse.stock.v1",
    key="shop_id",
    event_types=("stock.moved",),
    producers=("pos-api",),
    consumers=(),
)
PAHEKO: Final = Topic(
    name="caisse.paheko.v1",
    key="company_id",
    event_types=("paheko.ticket.pushed", "paheko.session.synced", "paheko.reconciliation.failed"),
    producers=("paheko-bridge",),
    consumers=(),
)
PRESENCE: Final = Topic(
    name="caisse.presence.v1",
    key="pos_id",
    event_types=("till.presence",),
    producers=("notifier",),
    consumers=(),
    compacted=True,
)

TOPICS: Final[tuple[Topic, ...]] = (TICKETS, SESSIONS, CONFIG, STOCK, PAHEKO, PRESENCE)

SESSION_SERVICE_TICKETS: Final = ConsumerGroup("session-service.tickets", "session-service", (TICKETS.name,))
POS_API_SESSIONS: Final = ConsumerGroup("pos-api.sessions", "pos-api", (SESSIONS.name,))
PAHEKO_BRIDGE: Final = ConsumerGroup("paheko-bridge", "paheko-bridge", (TICKETS.name, SESSIONS.name))
NOTIFIER_CONFIG: Final = ConsumerGroup("notifier.config", "notifier", (CONFIG.name,), reads_whole_history=True)
"""No group in Kafka: each replica reads the whole topic at every start; the name is its dead letters'."""
SESSION_SERVICE_CONFIG: Final = ConsumerGroup(
    "session-service.config", "session-service", (CONFIG.name,), reads_whole_history=True
)
PAHEKO_BRIDGE_CONFIG: Final = ConsumerGroup(
    "paheko-bridge.config", "paheko-bridge", (CONFIG.name,), reads_whole_history=True
)

CONSUMER_GROUPS: Final[tuple[ConsumerGroup, ...]] = (
    SESSION_SERVICE_TICKETS,
    POS_API_SESSIONS,
    PAHEKO_BRIDGE,
    NOTIFIER_CONFIG,
    SESSION_SERVICE_CONFIG,
    PAHEKO_BRIDGE_CONFIG,
)


def dlq_topics() -> tuple[Topic, ...]:
    """One dead-letter topic per (consumer group, topic it reads), kept long enough for ops to replay."""
    return tuple(
        Topic(
            name=group.dlq(name),
            key="original key",
            event_types=(),
            producers=(group.service,),
            consumers=("ops",),
            retention_ms=90 * DAY_MS,
            partitions=1,
        )
        for group in CONSUMER_GROUPS
        for name in group.topics
    )


def all_topics() -> tuple[Topic, ...]:
    """Every topic the platform needs, DLQs included: what the launcher creates."""
    return TOPICS + dlq_topics()


def topic_for(event_type: str) -> Topic:
    for topic in TOPICS:
        if event_type in topic.event_types:
            return topic
    raise KeyError(event_type)
