"""pos-api's processes starting together on an empty database (two replicas, or one with several workers) make
one bootstrap admin between them, and every one of them starts."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import asyncpg

from caisse_runtime.service import utc_now
from harness import Stack
from pos_api.adapters.sql import SqlPool
from pos_api.service_layer.config import digest, ensure_bootstrap_admin
from pos_api.service_layer.services import Services


def test_processes_starting_together_make_one_bootstrap_admin(stack: Stack) -> None:
    relay_less = stack.service("pos-api", tag="_bootstrap", run_relay="false")
    relay_less.start()  # its migrations make the tables
    relay_less.stop()
    token = secrets.token_urlsafe(32)
    admins, rows = asyncio.run(_start_together(stack, token, processes=4))
    assert len(set(admins)) == 1, admins
    assert rows == 1


def _services(pool: SqlPool) -> Services:
    return Services(uow=pool.work, clock=utc_now, new_id=uuid.uuid4)


async def _start_together(stack: Stack, token: str, processes: int) -> tuple[list[uuid.UUID], int]:
    database = stack.database("pos-api", "_bootstrap")
    pools = [SqlPool(stack.infra.dsn(database), size=2) for _ in range(processes)]
    try:
        for pool in pools:
            await pool.start()
        admins = await asyncio.gather(*(ensure_bootstrap_admin(token, _services(pool)) for pool in pools))
    finally:
        for pool in pools:
            await pool.stop()
    conn = await asyncpg.connect(stack.infra.dsn(database))
    try:
        rows: int = await conn.fetchval(
            "select count(*) from operator_credentials where token_sha256 = $1", digest(token)
        )
    finally:
        await conn.close()
    return list(admins), rows
