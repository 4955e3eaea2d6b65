"""PostgreSQL for a service: the async engine, and schema migrations (Alembic) applied at start under a lock."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Final

import asyncpg
import sqlparse
from alembic import command, op
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ALEMBIC_DIR: Final = Path(__file__).parent / "alembic"


def migrations_beside(package_file: str) -> Path:
    """A service's migrations: inside the package when installed from a wheel, beside `src/` in a checkout."""
    package = Path(package_file).parent
    inside = package / "migrations"
    return inside if inside.is_dir() else package.parents[1] / "migrations"


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


def _upgrade(connection: Connection, versions_dir: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions_dir))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine, versions_dir: Path) -> None:
    """Bring the service's schema to its latest migration; replicas starting together wait for each other."""
    lock_key = zlib.crc32(str(engine.url.database).encode())
    async with engine.connect() as conn:
        await conn.execute(text("select pg_advisory_lock(:k)"), {"k": lock_key})
        await conn.commit()
        try:
            await conn.run_sync(_upgrade, versions_dir)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        finally:
            await conn.execute(text("select pg_advisory_unlock(:k)"), {"k": lock_key})
            await conn.commit()


def execute_script(sql: str) -> None:
    """Run a SQL script inside a migration, one statement at a time (asyncpg prepares single statements)."""
    for statement in sqlparse.split(sql):
        op.execute(statement)


DOWN_ERRORS: Final[tuple[type[BaseException], ...]] = (
    OSError,  # refused, reset, timed out: the server is not there (ConnectionError, TimeoutError)
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or broke
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01: terminated by a shutdown
    asyncpg.CrashShutdownError,  # 57P02: another backend crashed, everyone is cut
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.ConnectionDoesNotExistError,  # the connection closed in the middle of a statement
    sa_exc.TimeoutError,  # no pooled connection came in time
)
"""What PostgreSQL being away (down, restarting, cut off, full) raises, as itself or underneath SQLAlchemy's."""

DATABASE_ERRORS: Final[tuple[type[Exception], ...]] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
)
"""The kinds of exception that may carry one of `DOWN_ERRORS`; the HTTP edge looks inside each."""


def database_down(exc: BaseException) -> bool:
    """Whether `exc`, or what it wraps, says that the database is away rather than that a statement failed."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of causes is short; a cycle must not hang a request
        if seen is None:
            return False
        if isinstance(seen, DOWN_ERRORS):
            return True
        if isinstance(seen, asyncpg.InterfaceError) and "connection is closed" in str(seen):
            return True
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        answer: int = (await conn.execute(text("select 1"))).scalar_one()
        return answer == 1
