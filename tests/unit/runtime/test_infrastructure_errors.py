"""Which database errors are retried forever (infrastructure) and which may be dead-lettered."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from services.runtime.db import is_infrastructure_error


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "exc",
    [
        DBAPIError("SELECT 1", {}, asyncpg.exceptions.CannotConnectNowError("not yet accepting connections")),
        DBAPIError("SELECT 1", {}, _PgError("57P01")),  # admin shutdown
        DBAPIError("SELECT 1", {}, _PgError("08006")),  # connection failure
        DBAPIError("SELECT 1", {}, _PgError("53300")),  # too many connections
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        ConnectionRefusedError(111, "refused"),
    ],
)
def test_connection_problems_are_infrastructure(exc: BaseException) -> None:
    assert is_infrastructure_error(exc)


def test_wrapped_cause_is_found() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("handler failed") from inner
    except RuntimeError as outer:
        assert is_infrastructure_error(outer)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad input"),
        IntegrityError("INSERT", {}, _PgError("23505")),  # unique violation: a data problem
        DBAPIError("SELECT 1", {}, _PgError("22003")),  # numeric out of range
    ],
)
def test_data_problems_are_not_infrastructure(exc: BaseException) -> None:
    assert not is_infrastructure_error(exc)
