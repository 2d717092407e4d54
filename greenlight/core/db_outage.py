"""Riding out a restart of the PostgreSQL server, shared by the engine, the router and the bot.

- :func:`db_unavailable` tells "the server cannot be reached right now" (down, starting,
  shutting down, the session cut) from an error in the statement.
- :class:`Backoff` waits such an outage out: bounded exponential delays, one warning line per
  outage ("database unavailable, retrying in …") and one when it is over.
- :func:`retry_while_unavailable` retries one operation, restoring in-memory state from what
  was committed before each new try (the engine's per-candle transaction).
- :class:`ResilientLoop` runs a service loop's step forever and sweeps ("catch up") after
  an outage.
- :class:`ResilientListener` is a LISTEN connection that is re-opened after the server
  restarts and tells its owner, who sweeps what was notified meanwhile.

Nothing here makes an operation idempotent: callers retry only what is safe to repeat (a
transaction that either committed or did not, re-read from the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from greenlight.core.db import DatabaseError

T = TypeVar("T")
log = logging.getLogger(__name__)

# Errors meaning "the server cannot be reached right now": refused / no socket / timed out,
# the session cut (08xxx), the server starting up or shutting down (57P0x), no free slot.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
# Everything a database call may raise: unavailability and errors in the statement alike.
DB_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)
NotifyCallback = Callable[[Any, int, str, str], None]  # asyncpg's listener signature
WARN_AGAIN_S = 60.0


def db_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached right now (down, restarting, the
    connection cut) rather than that the statement is wrong: worth waiting out and retrying.

    A :class:`greenlight.core.db.DatabaseError` is judged by its cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _UNAVAILABLE):
            return True
        if isinstance(seen, asyncpg.InterfaceError):
            return "closed" in str(seen)  # a connection the server cut, used again
        if isinstance(seen, asyncpg.InternalClientError):
            # "cannot switch to state …; another operation is in progress": the server's
            # FATAL (shutdown) reached an idle pooled connection before its socket closed
            return "another operation" in str(seen)
        if not isinstance(seen, DatabaseError):
            return False
        seen = seen.__cause__
    return False


class _PoolFloorFilter(logging.Filter):
    """Drops asyncpg's "Failed to restore the pool connection floor" tracebacks while the
    server is unavailable: :class:`Backoff` already says so in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not db_unavailable(exc)


def quiet_pool_floor_retries() -> None:
    """Install :class:`_PoolFloorFilter` on asyncpg's pool logger (idempotent)."""
    logger = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, _PoolFloorFilter) for f in logger.filters):
        logger.addFilter(_PoolFloorFilter())


class Backoff:
    """Bounded exponential back-off for code that waits out a database outage.

    The first failure of an outage is logged as one warning, later ones at most once a
    minute (the rest at DEBUG); the first success after it logs the recovery.
    """

    def __init__(
        self,
        who: str,
        first_s: float = 0.25,
        max_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.who = who
        self.first_s, self.max_s = first_s, max_s
        self._sleep = sleep
        self._delay = first_s
        self.down_since: float | None = None  # monotonic start of the current outage
        self._warned_at = 0.0
        self.outages = 0  # outages ridden out so far
        quiet_pool_floor_retries()

    async def wait(self, exc: BaseException) -> None:
        """Log the failure (see the class) and sleep the next delay."""
        now = time.monotonic()
        reason = f"{type(exc).__name__}: {exc}"
        if self.down_since is None:
            self.down_since, self._warned_at = now, now
            log.warning(
                "%s: database unavailable (%s), retrying in %.2gs", self.who, reason, self._delay
            )
        elif now - self._warned_at >= WARN_AGAIN_S:
            self._warned_at = now
            log.warning(
                "%s: database still unavailable after %.0fs (%s), retrying every %.2gs",
                self.who,
                now - self.down_since,
                reason,
                self._delay,
            )
        else:
            log.debug("%s: database unavailable (%s)", self.who, reason)
        await self._sleep(self._delay)
        self._delay = min(self._delay * 2, self.max_s)

    def recovered(self) -> bool:
        """Note a success; ``True`` (and one log line) when it ends an outage."""
        if self.down_since is None:
            return False
        down_s = time.monotonic() - self.down_since
        log.warning("%s: database available again after %.1fs", self.who, down_s)
        self.down_since, self._delay = None, self.first_s
        self.outages += 1
        return True


async def retry_while_unavailable(
    op: Callable[[], Awaitable[T]],
    backoff: Backoff,
    recover: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """``await op()`` until it succeeds, waiting out database outages with ``backoff``.

    After a failure, ``recover`` (e.g. reload in-memory state from what was committed) runs
    before ``op`` is tried again, and is retried the same way. Other errors propagate."""
    failed = False
    while True:
        try:
            if failed and recover is not None:
                await recover()
            result = await op()
        except Exception as exc:
            if not db_unavailable(exc):
                raise
            failed = True
            await backoff.wait(exc)
            continue
        backoff.recovered()
        return result


class ResilientLoop:
    """Calls one step of a service loop forever, riding out database outages: a failed step
    is retried after :class:`Backoff`, and ``catch_up`` (a sweep of what may have been
    missed) runs before the next step after an outage or after :meth:`fall_behind`."""

    def __init__(
        self,
        who: str,
        step: Callable[[], Awaitable[None]],
        catch_up: Callable[[], Awaitable[None]],
        backoff: Backoff | None = None,
    ) -> None:
        self.step, self.catch_up = step, catch_up
        self.backoff = backoff or Backoff(who)
        self._behind = False

    def fall_behind(self) -> None:
        """Ask for ``catch_up`` before the next step (e.g. notifications were missed while
        the LISTEN connection was down)."""
        self._behind = True

    async def run(self) -> None:
        """Until cancelled; errors other than database unavailability propagate."""
        while True:
            try:
                if self._behind:
                    self._behind = False
                    await self.catch_up()
                await self.step()
            except Exception as exc:
                if not db_unavailable(exc):
                    raise
                self._behind = True
                await self.backoff.wait(exc)
                continue
            self.backoff.recovered()


class ResilientListener:
    """LISTEN on ``channels`` over a connection of its own that survives a restart of the
    server: when the connection is lost (noticed at once, or by a ping every ``check_s``) it
    is re-opened with :class:`Backoff`, the channels are listened to again and
    ``on_reconnect`` is called, so that its owner can sweep what was notified meanwhile.

    The connection shows as ``greenlight <who> listener`` in ``pg_stat_activity``."""

    def __init__(
        self,
        url: str,
        channels: Sequence[str],
        on_notify: NotifyCallback,
        on_reconnect: Callable[[], None] | None = None,
        who: str = "listener",
        check_s: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.url, self.channels, self.who = url, tuple(channels), who
        self.on_notify, self.on_reconnect = on_notify, on_reconnect
        self.check_s = check_s
        self.backoff = backoff or Backoff(f"{who} listener")
        self.reconnects = 0
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        """Open the first connection (waiting out an outage: the caller has just reached the
        database, so it is restarting rather than missing)."""
        self._conn = await retry_while_unavailable(self._open, self.backoff)

    async def run(self) -> None:
        """Watch the connection and re-open it whenever it is lost, until cancelled or
        :meth:`close`."""
        if self._conn is None and not self._closed:
            await self.start()
        while not self._closed:
            await self._until_lost()
            if not self._closed:
                await self._reopen()

    async def close(self) -> None:
        """Close the connection and end :meth:`run` (idempotent)."""
        self._closed = True
        self._lost.set()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    @property
    def connected(self) -> bool:
        """Whether the LISTEN connection is up right now."""
        return self._conn is not None and not self._conn.is_closed()

    async def _open(self) -> asyncpg.Connection:
        name = f"greenlight {self.who} listener"
        conn = await asyncpg.connect(
            self.url, timeout=10, server_settings={"application_name": name}
        )
        try:
            lost = self._lost = asyncio.Event()
            conn.add_termination_listener(lambda _c: lost.set())
            for channel in self.channels:
                await conn.add_listener(channel, self.on_notify)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def _until_lost(self) -> None:
        conn = self._conn
        while conn is not None and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check_s)
                break
            try:  # a quiet connection may be dead without a word (a cut network)
                await conn.execute("SELECT 1", timeout=self.check_s)
            except Exception as exc:
                if not db_unavailable(exc):
                    raise
                break
        if conn is not None:
            conn.terminate()

    async def _reopen(self) -> None:
        log.info("%s: LISTEN connection lost; reconnecting", self.who)
        conn: asyncpg.Connection | None = None
        while conn is None and not self._closed:
            try:
                conn = await self._open()
            except Exception as exc:
                if not db_unavailable(exc):
                    raise
                await self.backoff.wait(exc)
        if conn is None or self._closed:  # closed while reconnecting
            if conn is not None:
                conn.terminate()
            return
        self._conn = conn
        self.backoff.recovered()
        self.reconnects += 1
        log.info("%s: listening again on %s", self.who, ", ".join(self.channels))
        if self.on_reconnect is not None:
            self.on_reconnect()
