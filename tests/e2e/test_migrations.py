"""Every service's schema migrations on real PostgreSQL, checked with pytest-alembic's own tests: one head;
an empty database upgrades to it; each revision upgrades one step at a time, downgrades again and upgrades once
more. And down to the start, nothing a migration made is left behind. A release can be rolled back without
hand-made SQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import alembic.config
import pytest
from pytest_alembic import MigrationContext
from pytest_alembic.config import Config
from pytest_alembic.tests import test_single_head_revision, test_up_down_consistency, test_upgrade
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from caisse_runtime.database import ALEMBIC_DIR
from harness import Stack

SERVICES = ("pos-api", "session-service", "paheko-bridge", "notifier")
REPO = Path(__file__).resolve().parents[2]

__all__ = [
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def alembic_config(service: str) -> Config:
    """The runtime's shared environment (`env.py`) over the service's own revisions, as the service runs them."""
    options = {
        "script_location": str(ALEMBIC_DIR),
        "version_locations": str(REPO / "services" / service / "migrations"),
        "path_separator": "os",
    }
    return Config(alembic_config=alembic.config.Config(config_args=options))


@pytest.fixture
def alembic_engine(service: str, stack: Stack) -> AsyncEngine:
    """An empty database of its own for each check; no pool, so no connection outlives the event loop that
    pytest-alembic opens it in."""
    database = f"{stack.database(service)}_m{len(stack.databases)}"
    stack.infra.create_database(database)
    stack.databases.append(database)
    return create_async_engine(stack.infra.database_url(database), poolclass=NullPool)


LEFT_IN_SCHEMA = """
select 'table ' || tablename from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'
union all select 'sequence ' || sequencename from pg_sequences where schemaname = 'public'
union all select 'function ' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public'
union all select 'type ' || t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'public' and t.typtype in ('e', 'd', 'c') and t.typrelid = 0
"""


def test_every_downgrade_to_the_start_leaves_nothing_behind(
    alembic_runner: MigrationContext, alembic_engine: AsyncEngine
) -> None:
    """Down to base, nothing a migration made stays: no table, sequence, function or type (the up-and-down
    check above only notices what would stop the next upgrade)."""
    alembic_runner.migrate_up_to("heads")
    made = asyncio.run(_left(alembic_engine))
    assert made, "the migrations made something"
    alembic_runner.migrate_down_to("base")
    assert asyncio.run(_left(alembic_engine)) == []


async def _left(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(text(LEFT_IN_SCHEMA))).scalars())
