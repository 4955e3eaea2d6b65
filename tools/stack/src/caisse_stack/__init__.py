"""caisse_stack: starts the real local infrastructure (Kafka, PostgreSQL) for `make up`, `make test` and fixtures."""

from __future__ import annotations

from dataclasses import dataclass

from caisse_stack import kafka, postgres
from caisse_stack.install import install, missing_packages
from caisse_stack.layout import Instance, instance
from caisse_stack.lock import instance_lock


@dataclass(frozen=True, slots=True)
class Infra:
    """What a running instance offers: a Kafka bootstrap address and a PostgreSQL server for the `caisse` role."""

    instance: Instance
    kafka_bootstrap: str
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str

    @classmethod
    def of(cls, inst: Instance) -> Infra:
        return cls(inst, inst.kafka_bootstrap, "127.0.0.1", inst.pg_port, postgres.ROLE, postgres.PASSWORD)

    def database_url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        """The SQLAlchemy URL of `database` for the `caisse` role."""
        return f"{driver}://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{database}"

    def dsn(self, database: str) -> str:
        """The libpq/asyncpg URL of `database` for the `caisse` role."""
        return self.database_url(database, driver="postgresql")

    def create_database(self, name: str) -> None:
        """Create `name` (owned by `caisse`) unless it exists."""
        postgres.ensure_databases(self.instance, (name,))

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting its sessions; nothing if it does not exist."""
        postgres.drop_database(self.instance, name)


def ensure_up(name: str = "test") -> Infra:
    """Start whatever of the instance's Kafka and PostgreSQL is not running; ready, with topics and databases."""
    inst = instance(name)
    if missing_packages():
        install()
    with instance_lock(inst):
        postgres.start(inst)
        kafka.start(inst)
        postgres.wait_ready(inst)
        postgres.ensure_databases(inst)
        kafka.wait_ready(inst)
        kafka.create_topics(inst)
    return Infra.of(inst)


def ensure_down(name: str) -> None:
    inst = instance(name)
    with instance_lock(inst):
        kafka.stop(inst)
        postgres.stop(inst)


__all__ = ["Infra", "Instance", "ensure_down", "ensure_up", "install"]
