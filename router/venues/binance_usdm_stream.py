"""USD-M user data through a listen key: keepalive, ``listenKeyExpired``, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import websockets

from greenlight.core.clock import Clock
from router.errors import VenueDataError, VenueError
from router.venues.base import AlgoHandler, ExecutionHandler
from router.venues.binance_usdm_decode import decode_algo_update, decode_order_update
from router.venues.reconnect import ReconnectingStream, json_frames

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


class UsdmUserStream(ReconnectingStream):
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
        clock: Clock | None = None,
    ) -> None:
        self.keys = keys
        self.ws_base = ws_base.rstrip("/")
        self.keepalive_s = keepalive_s
        self.open_timeout_s = open_timeout_s
        super().__init__(clock)
        self.keepalives = 0

    async def run(
        self,
        on_order: ExecutionHandler,
        on_algo: AlgoHandler,
        on_connected: Callable[[], Awaitable[None]],
    ) -> None:
        """Deliver events forever; after every (re)connection call ``on_connected``."""

        async def session() -> None:
            key = await self.keys.new_listen_key()
            url = f"{self.ws_base}/ws/{key}"
            async with websockets.connect(
                url, open_timeout=self.open_timeout_s, max_size=2**22, close_timeout=1.0
            ) as ws:
                self._mark_connected()
                keepalive = asyncio.create_task(self._keepalive())

                async def work() -> None:
                    await on_connected()
                    await self._pump(ws, on_order, on_algo)

                try:
                    await self._watched(ws, work())
                finally:
                    keepalive.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keepalive

        await self._reconnect_forever(session, log, "futures user data stream")

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.keys.keepalive_listen_key()
                self.keepalives += 1
            except VenueError as exc:
                log.warning("listen key keepalive failed: %s", exc)

    async def _pump(self, ws: Any, on_order: ExecutionHandler, on_algo: AlgoHandler) -> None:
        async for msg in json_frames(ws, log, "futures user stream"):
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
            finally:
                self.messages_handled += 1
