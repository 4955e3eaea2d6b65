"""caisse_stack: starts the real local infrastructure (Kafka, PostgreSQL) for `make up`, `make test` and fixtures."""

from __future__ import annotations

from dataclasses import dataclass

from caisse_stack import kafka, postgres
from caisse_stack.install import install, missing_packages
from caisse_stack.layout import Instance, instance


@dataclass(frozen=True, slots=True)
class Infra:
    """What a running instance offers: a Kafka bootstrap address and a PostgreSQL server."""

    instance: Instance

    @property
    def kafka_bootstrap(self) -> str:
        return self.instance.kafka_bootstrap

    @property
    def pg_port(self) -> int:
        return self.instance.pg_port

    def database_url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        """The SQLAlchemy URL of `database` for the `caisse` role."""
        return postgres.dsn(self.instance, database).replace("postgresql://", f"{driver}://", 1)

    def dsn(self, database: str) -> str:
        return postgres.dsn(self.instance, database)

    def create_database(self, name: str) -> None:
        postgres.ensure_databases(self.instance, (name,))

    def drop_database(self, name: str) -> None:
        postgres.drop_database(self.instance, name)


def ensure_up(name: str = "test") -> Infra:
    """Start whatever of the instance's Kafka and PostgreSQL is not running; ready, with topics and databases."""
    inst = instance(name)
    if missing_packages():
        install()
    postgres.start(inst)
    kafka.start(inst)
    postgres.wait_ready(inst)
    postgres.ensure_databases(inst)
    kafka.wait_ready(inst)
    kafka.create_topics(inst)
    return Infra(inst)


def ensure_down(name: str) -> None:
    inst = instance(name)
    kafka.stop(inst)
    postgres.stop(inst)


__all__ = ["Infra", "Instance", "ensure_down", "ensure_up", "install"]
