"""What says that PostgreSQL is away, as asyncpg raises it or wrapped by SQLAlchemy, and what says something else."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from caisse_runtime.database import database_down


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """`orig` as SQLAlchemy raises it: its own error, caused by asyncpg's."""
    try:
        try:
            raise orig
        except BaseException as inner:
            raise sa_exc.DBAPIError("select 1", {}, inner, connection_invalidated=invalidated) from inner
    except sa_exc.DBAPIError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        wrapped(asyncpg.AdminShutdownError("terminating connection due to administrator command")),
        wrapped(RuntimeError("lost"), invalidated=True),
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 0 reached"),
    ],
)
def test_an_error_of_a_database_away_is_recognised_as_itself_or_underneath(error: BaseException) -> None:
    assert database_down(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        wrapped(asyncpg.UniqueViolationError("duplicate key value violates unique constraint")),
        asyncpg.InterfaceError("cannot use Connection.transaction() in a manually started transaction"),
        ValueError("a bug"),
    ],
)
def test_a_statement_that_failed_is_not_taken_for_a_database_away(error: BaseException) -> None:
    assert not database_down(error)
