"""Riding out a database restart: which errors mean "unavailable", bounded back-off with one
warning per outage, retry with recovery, and the service loop's catch-up."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from greenlight.core.db import DatabaseError
from greenlight.core.db_outage import (
    Backoff,
    ResilientLoop,
    db_unavailable,
    retry_while_unavailable,
)

SHUTTING_DOWN = asyncpg.CannotConnectNowError("the database system is shutting down")


class FakeSleep:
    """Records the delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def wrapped(cause: BaseException) -> DatabaseError:
    try:
        raise DatabaseError(f"cannot connect to PostgreSQL: {cause}") from cause
    except DatabaseError as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        SHUTTING_DOWN,
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        ConnectionRefusedError(111, "Connection refused"),
        FileNotFoundError(2, "No such file or directory"),  # the server's socket is gone
        TimeoutError(),
        wrapped(ConnectionRefusedError(111, "Connection refused")),
    ],
)
def test_unavailable(exc: BaseException) -> None:
    assert db_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.InvalidPasswordError("password authentication failed"),
        wrapped(asyncpg.InvalidCatalogNameError('database "x" does not exist')),
        ValueError("bad bracket"),
    ],
)
def test_not_unavailable(exc: BaseException) -> None:
    assert not db_unavailable(exc)


async def test_backoff_is_bounded_and_warns_once_per_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = FakeSleep()
    backoff = Backoff("bot", first_s=0.25, max_s=2.0, sleep=sleep)
    caplog.set_level(logging.DEBUG, "greenlight.core.db_outage")
    for _ in range(6):
        await backoff.wait(SHUTTING_DOWN)
    assert sleep.delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "bot: database unavailable (CannotConnectNowError: the database system is shutting"
        " down), retrying in 0.25s"
    ]
    assert backoff.recovered()
    assert not backoff.recovered(), "an outage ends once"
    assert "bot: database available again after" in caplog.records[-1].getMessage()
    await backoff.wait(SHUTTING_DOWN)
    assert sleep.delays[-1] == 0.25, "a new outage starts from the first delay"
    assert backoff.outages == 1


async def test_retry_recovers_before_each_new_try() -> None:
    calls: list[str] = []
    failures = [SHUTTING_DOWN, ConnectionRefusedError(111, "refused")]

    async def op() -> int:
        calls.append("op")
        if failures:
            raise failures.pop(0)
        return 7

    async def recover() -> None:
        calls.append("recover")

    backoff = Backoff("engine", sleep=FakeSleep())
    assert await retry_while_unavailable(op, backoff, recover) == 7
    assert calls == ["op", "recover", "op", "recover", "op"]
    assert backoff.outages == 1


async def test_retry_lets_other_errors_through() -> None:
    async def op() -> None:
        raise asyncpg.UniqueViolationError("duplicate key")

    with pytest.raises(asyncpg.UniqueViolationError):
        await retry_while_unavailable(op, Backoff("engine", sleep=FakeSleep()))


async def test_loop_catches_up_after_an_outage_and_when_asked() -> None:
    log: list[str] = []
    script: list[BaseException | None] = [None, SHUTTING_DOWN, None, None]
    done = asyncio.Event()

    async def step() -> None:
        log.append("step")
        outcome = script.pop(0) if script else None
        if not script:
            done.set()
            await asyncio.Event().wait()  # park until cancelled
        if outcome is not None:
            raise outcome

    async def catch_up() -> None:
        log.append("catch_up")

    loop = ResilientLoop("bot", step, catch_up, Backoff("bot", sleep=FakeSleep()))
    loop.fall_behind()
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["catch_up", "step", "step", "catch_up", "step", "step"]


async def test_loop_stops_on_other_errors() -> None:
    async def step() -> None:
        raise RuntimeError("bug")

    async def catch_up() -> None:
        return None

    with pytest.raises(RuntimeError, match="bug"):
        await ResilientLoop("bot", step, catch_up, Backoff("bot", sleep=FakeSleep())).run()
