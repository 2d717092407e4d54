"""Reconnect-with-backoff loop and link health shared by the user data streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from greenlight.core.clock import Clock, SystemClock

FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0
HEARTBEAT_S = 5.0  # defaults; the router derives both from guards.user_stream_down_s
PONG_TIMEOUT_S = 5.0


class ReconnectingStream:
    """Health fields plus a loop that reruns one session forever, backing off on loss.

    ``connected`` is true while a session is up; ``down_since`` is the monotonic time the
    venue was last heard on a stream that is now lost (or of the first attempt), ``None``
    while connected. ``last_heard`` is the last pong (or connection): a session pings every
    ``heartbeat_s`` and ends when a pong takes longer than ``pong_timeout_s``, so a venue that
    freezes without closing the socket is noticed (see :meth:`_watched`).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.connected = False
        self.down_since: float | None = self.clock.monotonic()
        self.last_heard = self.clock.monotonic()
        self.last_error = ""
        self.reconnects = 0
        self.messages_handled = 0  # venue messages fully handled (the handler returned)
        self.heartbeat_s = HEARTBEAT_S
        self.pong_timeout_s = PONG_TIMEOUT_S
        self._delay = FIRST_DELAY_S

    def set_heartbeat(self, interval_s: float, timeout_s: float) -> None:
        """Ping every ``interval_s``; a pong later than ``timeout_s`` ends the session."""
        self.heartbeat_s, self.pong_timeout_s = interval_s, timeout_s

    def silent_since(self) -> float:
        """Monotonic time the venue was last heard on this stream (or of the first attempt)."""
        if self.connected or self.down_since is None:
            return self.last_heard
        return self.down_since

    def _mark_connected(self) -> None:
        """Record a live session and reset the backoff."""
        self.connected, self.down_since = True, None
        self.messages_handled = 0  # counted per connection, as the venue counts what it sent
        self.last_heard = self.clock.monotonic()
        self._delay = FIRST_DELAY_S

    async def _watched(self, ws: Any, work: Awaitable[None]) -> None:
        """Run ``work`` (the session's reading) while pinging ``ws``; the session ends when
        ``work`` does, or with :class:`ConnectionError` when a pong is late."""
        reader = asyncio.ensure_future(work)
        beat = asyncio.ensure_future(self._heartbeat(ws))
        try:
            done, _ = await asyncio.wait({reader, beat}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (reader, beat):
                task.cancel()
            await asyncio.gather(reader, beat, return_exceptions=True)

    async def _heartbeat(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                async with asyncio.timeout(self.pong_timeout_s):
                    pong = await ws.ping()
                    await pong
            except TimeoutError:
                raise ConnectionError(f"no pong within {self.pong_timeout_s:g}s") from None
            self.last_heard = self.clock.monotonic()

    async def _reconnect_forever(
        self, session: Callable[[], Awaitable[None]], log: logging.Logger, what: str
    ) -> None:
        """Run ``session`` again and again; any loss is logged as ``what`` and backed off."""
        self._delay = FIRST_DELAY_S
        while True:
            try:
                await session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any loss: log, mark down, retry with backoff
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s lost: %s", what, self.last_error)
            if self.connected or self.down_since is None:
                # Silence counts from the last sign of life, not from when we gave up.
                self.down_since = self.last_heard if self.connected else self.clock.monotonic()
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, MAX_DELAY_S)


async def json_frames(ws: Any, log: logging.Logger, what: str) -> AsyncIterator[Any]:
    """The decoded JSON messages of ``ws``; a non-JSON frame is logged (as ``what``) and skipped."""
    async for frame in ws:
        try:
            yield orjson.loads(frame)
        except orjson.JSONDecodeError:
            log.warning("%s: non-JSON frame ignored", what)
