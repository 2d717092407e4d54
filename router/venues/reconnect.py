"""Reconnect-with-backoff loop and link health shared by the user data streams."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


class ReconnectingStream:
    """Health fields plus a loop that reruns one session forever, backing off on loss.

    ``connected`` is true while a session is up; ``down_since`` is the monotonic time the
    stream was lost (or first attempted), ``None`` while connected.
    """

    def __init__(self) -> None:
        self.connected = False
        self.down_since: float | None = time.monotonic()
        self.last_error = ""
        self.reconnects = 0
        self.messages_handled = 0  # venue messages fully handled (the handler returned)
        self._delay = FIRST_DELAY_S

    def _mark_connected(self) -> None:
        """Record a live session and reset the backoff."""
        self.connected, self.down_since = True, None
        self._delay = FIRST_DELAY_S

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
                self.down_since = time.monotonic()
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
