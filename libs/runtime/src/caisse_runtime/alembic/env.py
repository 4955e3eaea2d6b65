"""Alembic environment shared by every service: runs the service's migrations on the connection it is handed.

A service's start hands it a connection (`migrate`). A test of the migrations (pytest-alembic) hands it the async
engine of an empty database: the migrations then run on one of its connections, committed at the end.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()


handed = context.config.attributes["connection"]
if isinstance(handed, AsyncEngine):
    asyncio.run(_run_on(handed))
else:
    _run(handed)
