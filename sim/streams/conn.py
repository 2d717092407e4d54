"""One WebSocket connection of the simulator with its outgoing queue (market and user-data
streams, spot and USD-M alike).

Messages are serialised once (:func:`dumps`) and queued per connection; one writer task per
connection drains its queue, so ordering per connection equals publishing order. A connection
whose queue overflows is dropped (a slow consumer must reconnect and backfill, as on Binance).
"""

from __future__ import annotations

import asyncio
from asyncio import Queue
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

QUEUE_LIMIT = 20000
CLOSE = "\x00close"  # queued by Conn.close_after(): the writer sends a close frame


def dumps(obj: Any) -> str:
    """Compact JSON text."""
    return orjson.dumps(obj).decode()


@dataclass(eq=False)
class Conn:
    """One WebSocket connection with its outgoing queue."""

    ws: web.WebSocketResponse
    request: web.Request
    streams: set[str] = field(default_factory=set)
    combined: bool = False
    queue: Queue[str | None] = field(default_factory=lambda: Queue(QUEUE_LIMIT))
    user_sent: int = 0  # user-data messages sent on this connection

    def send(self, text: str) -> None:
        """Queue ``text``; abort the connection if the client cannot keep up."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        if not self.queue.full():
            self.queue.put_nowait(None)

    def close_after(self) -> None:
        """Close the WebSocket (normal close frame) once the queued messages are sent."""
        self.send(CLOSE)

    async def writer(self) -> None:
        """Drain the queue into the socket until ``None`` or the socket closes."""
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            if text is CLOSE:
                await self.ws.close()
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
