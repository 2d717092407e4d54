"""Spot user data over the WebSocket API (``userDataStream.subscribe.signature``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import websockets

from greenlight.core.clock import Clock
from router.errors import VenueDataError
from router.signing import ws_signature
from router.venues.base import ExecutionHandler
from router.venues.binance_decode import decode_execution_report
from router.venues.binance_spot import VenueConfig
from router.venues.reconnect import ReconnectingStream, json_frames

log = logging.getLogger(__name__)


class SubscribeError(RuntimeError):
    """The WebSocket API refused the subscription."""


class BinanceUserStream(ReconnectingStream):
    """Connects, subscribes, delivers ``executionReport`` events, reconnects on loss.

    ``connected`` is true while subscribed; ``down_since`` is the monotonic time the stream
    was lost (or first attempted), ``None`` while connected.
    """

    def __init__(
        self, config: VenueConfig, time_offset: Callable[[], int], clock: Clock | None = None
    ) -> None:
        self.config = config
        self._time_offset = time_offset
        super().__init__(clock)
        self._ids = itertools.count(1)

    async def run(
        self, on_event: ExecutionHandler, on_connected: Callable[[], Awaitable[None]]
    ) -> None:
        """Deliver events forever; after every (re)subscription call ``on_connected``."""

        async def session() -> None:
            async with websockets.connect(
                self.config.ws_url,
                open_timeout=self.config.timeout_s,
                max_size=2**22,
                close_timeout=1.0,
            ) as ws:
                await self._subscribe(ws)
                self._mark_connected()

                async def work() -> None:
                    await on_connected()
                    await self._pump(ws, on_event)

                await self._watched(ws, work())

        await self._reconnect_forever(session, log, "user data stream")

    async def _subscribe(self, ws: Any) -> None:
        params = {
            "apiKey": self.config.api_key,
            "timestamp": str(self.clock.now_ms() + self._time_offset()),
        }
        params["signature"] = ws_signature(self.config.api_secret, params)
        req_id = str(next(self._ids))
        request = {"id": req_id, "method": "userDataStream.subscribe.signature", "params": params}
        await ws.send(orjson.dumps(request).decode())
        while True:
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), self.config.timeout_s))
            if reply.get("id") == req_id:
                break
        if reply.get("status") != 200:
            raise SubscribeError(f"subscription refused: {reply.get('error')}")

    async def _pump(self, ws: Any, on_event: ExecutionHandler) -> None:
        async for msg in json_frames(ws, log, "user data stream"):
            event = msg.get("event") if isinstance(msg, dict) else None
            if not isinstance(event, dict):
                continue
            try:
                await self._handle(event, on_event)
            finally:
                self.messages_handled += 1

    async def _handle(self, event: dict[str, Any], on_event: ExecutionHandler) -> None:
        kind = event.get("e")
        if kind == "eventStreamTerminated":
            raise ConnectionError("venue terminated the user data stream")
        if kind != "executionReport":
            return
        try:
            decoded = decode_execution_report(event)
        except (VenueDataError, ValueError) as exc:
            log.error("undecodable executionReport %s: %s", event, exc)
            return
        await on_event(decoded)
