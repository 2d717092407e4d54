"""USD-M user data through a listen key: keepalive, ``listenKeyExpired``, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
import websockets

from router.errors import VenueDataError, VenueError
from router.venues.base import AlgoHandler, ExecutionHandler
from router.venues.binance_usdm_decode import decode_algo_update, decode_order_update

log = logging.getLogger(__name__)
KEEPALIVE_S = 30 * 60.0


class ListenKeySource(Protocol):
    """Creates and extends listen keys (the USD-M REST adapter)."""

    async def new_listen_key(self) -> str:
        """A valid listen key."""

    async def keepalive_listen_key(self) -> None:
        """Extend the current key."""


class ListenKeyExpired(ConnectionError):
    """The venue said the listen key expired; a new one is needed."""


class UsdmUserStream:
    """Delivers ``ORDER_TRADE_UPDATE`` and ``ALGO_UPDATE`` events, reconnecting on loss.

    ``ws_base`` is the private stream base (``…/private``); the stream is ``/ws/<key>``.
    ``down_since`` is the monotonic time the stream was lost, ``None`` while connected.
    """

    def __init__(
        self,
        keys: ListenKeySource,
        ws_base: str,
        keepalive_s: float = KEEPALIVE_S,
        open_timeout_s: float = 5.0,
    ) -> None:
        self.keys = keys
        self.ws_base = ws_base.rstrip("/")
        self.keepalive_s = keepalive_s
        self.open_timeout_s = open_timeout_s
        self.connected = False
        self.down_since: float | None = time.monotonic()
        self.last_error = ""
        self.reconnects = 0
        self.keepalives = 0

    async def run(
        self,
        on_order: ExecutionHandler,
        on_algo: AlgoHandler,
        on_connected: Callable[[], Awaitable[None]],
    ) -> None:
        """Deliver events forever; after every (re)connection call ``on_connected``."""
        delay = 0.2
        while True:
            try:
                key = await self.keys.new_listen_key()
                url = f"{self.ws_base}/ws/{key}"
                async with websockets.connect(
                    url, open_timeout=self.open_timeout_s, max_size=2**22, close_timeout=1.0
                ) as ws:
                    self.connected, self.down_since = True, None
                    delay = 0.2
                    keepalive = asyncio.create_task(self._keepalive())
                    try:
                        await on_connected()
                        await self._pump(ws, on_order, on_algo)
                    finally:
                        keepalive.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await keepalive
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any loss: log, mark down, retry with backoff
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("futures user data stream lost: %s", self.last_error)
            if self.connected or self.down_since is None:
                self.down_since = time.monotonic()
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.keys.keepalive_listen_key()
                self.keepalives += 1
            except VenueError as exc:
                log.warning("listen key keepalive failed: %s", exc)

    async def _pump(self, ws: Any, on_order: ExecutionHandler, on_algo: AlgoHandler) -> None:
        async for frame in ws:
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError:
                log.warning("futures user stream: non-JSON frame ignored")
                continue
            if not isinstance(msg, dict):
                continue
            event = msg.get("data", msg) if "stream" in msg else msg
            kind = event.get("e") if isinstance(event, dict) else None
            if kind == "listenKeyExpired":
                raise ListenKeyExpired("listen key expired")
            try:
                if kind == "ORDER_TRADE_UPDATE":
                    await on_order(decode_order_update(event))
                elif kind == "ALGO_UPDATE":
                    await on_algo(decode_algo_update(event))
            except (VenueDataError, ValueError, TypeError) as exc:
                log.error("undecodable %s %s: %s", kind, event, exc)
