"""What a unit of work is to the use cases of every service: entered, committed, rolled back when not committed.

A service's own `UnitOfWork` protocol extends this one with its repositories; its SQL adapter (on
`caisse_runtime.pg.PooledWork`) and its in-memory fake both implement it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class UnitOfWork(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed."""

    async def commit(self) -> None: ...
