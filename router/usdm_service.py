"""The USD-M half of the router process: venue, sender, listen-key user stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from greenlight.core.settings import Settings
from router import futures_lifecycle, lifecycle
from router.core import APPLY_ERRORS, Core
from router.errors import TemporaryError, VenueError
from router.sender import FuturesSender
from router.venues.base import AlgoReport, ExecutionEvent
from router.venues.binance_http import ExchangeObserver, VenueConfig
from router.venues.binance_usdm import BinanceUsdm
from router.venues.binance_usdm_stream import KEEPALIVE_S, UsdmUserStream

log = logging.getLogger(__name__)


class UsdmWiring:
    """Creates the USD-M adapter and stream and plugs them into the shared :class:`Core`."""

    def __init__(
        self,
        settings: Settings,
        config: VenueConfig,
        core: Core,
        observer: ExchangeObserver,
        on_error: Callable[[VenueError], None],
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.settings = settings
        self.venue = BinanceUsdm(config, observer=observer, on_error=on_error)
        self.stream = UsdmUserStream(self.venue, config.ws_url, keepalive_s, config.timeout_s)
        self.core = core
        settle = settings.venue.recv_window_ms / 1000 + 1.0
        core.futures, core.fsender = self.venue, FuturesSender(self.venue, settle)
        core.leverage_cap = settings.futures.leverage_cap
        core.margin_type = settings.futures.margin_type
        self.after_fill: Callable[[], Awaitable[None]] | None = None  # e.g. equity refresh

    async def start(self, attempts: int = 30, delay_s: float = 1.0) -> None:
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
        for symbol in self.settings.market.futures_symbols:
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
            await futures_lifecycle.on_algo(self.core, report)
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
