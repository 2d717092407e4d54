"""The USD-M half of the router process: the listen-key user stream feeding the USD-M
market, and what ``GET /v1/state`` shows about it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from router import lifecycle
from router.core import APPLY_ERRORS, Core
from router.errors import TemporaryError
from router.markets.usdm import UsdmMarket
from router.snapshot import Snapshot
from router.venues.base import AlgoReport, ExecutionEvent
from router.wiring import UsdmVenue

log = logging.getLogger(__name__)


async def on_algo(core: Core, market: UsdmMarket, report: AlgoReport) -> None:
    """Apply an ``ALGO_UPDATE`` and move its decision on."""

    async def apply(snap: Snapshot) -> None:
        await market.apply_algo(snap, report)

    await lifecycle.on_update(core, report.client_algo_id, "algo update", apply)


class UsdmWiring:
    """Plugs the USD-M adapter and stream into the shared :class:`Core`."""

    def __init__(self, venue: UsdmVenue, core: Core, market: UsdmMarket) -> None:
        self.venue = venue.rest
        self.stream = venue.stream
        self.core = core
        self.market = market
        self.after_fill: Callable[[], Awaitable[None]] | None = None  # e.g. equity refresh

    async def start(
        self, symbols: tuple[str, ...] | list[str], attempts: int = 30, delay_s: float = 1.0
    ) -> None:
        """Connect (waiting while the venue is unreachable), then load the symbols' rules."""
        for attempt in range(1, attempts + 1):
            try:
                await self.venue.start()
                break
            except TemporaryError as exc:
                if attempt == attempts:
                    raise
                log.warning("USD-M venue not reachable (%s); retrying in %.0fs", exc, delay_s)
                await asyncio.sleep(delay_s)
        for symbol in symbols:
            await self.venue.rules(symbol)

    async def on_order(self, event: ExecutionEvent) -> None:
        """Apply an ``ORDER_TRADE_UPDATE``."""
        try:
            await lifecycle.on_execution(self.core, event)
        except APPLY_ERRORS as exc:
            self.core.note_unapplied(event.client_order_id, exc)
        if event.fill is not None and self.after_fill is not None:
            await self.after_fill()

    async def on_algo(self, report: AlgoReport) -> None:
        """Apply an ``ALGO_UPDATE``."""
        try:
            await on_algo(self.core, self.market, report)
        except APPLY_ERRORS as exc:
            self.core.note_unapplied(report.client_algo_id, exc)

    def run_stream(self, on_connected: Callable[[], Awaitable[None]]) -> Coroutine[Any, Any, None]:
        """The user-stream coroutine (reconnects forever; reconcile on every connect)."""
        return self.stream.run(self.on_order, self.on_algo, on_connected)

    def state(self) -> dict[str, Any]:
        """What ``GET /v1/state`` shows about the USD-M venue."""
        return {
            "name": self.venue.name,
            "user_stream_connected": self.stream.connected,
            "user_stream_reconnects": self.stream.reconnects,
            "user_stream_error": self.stream.last_error,
            "user_messages_handled": self.stream.messages_handled,
            "listen_key_keepalives": self.stream.keepalives,
            "time_offset_ms": self.venue.time_offset_ms,
            "used_weight_1m": self.venue.used_weight,
        }

    async def close(self) -> None:
        """Close the adapter's session."""
        with contextlib.suppress(Exception):
            await self.venue.close()
