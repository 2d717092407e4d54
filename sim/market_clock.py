"""What drives a simulated market: the clock and prices the exchange side is matched against.

:class:`sim.replay.player.Replay` replays candle files; :class:`sim.paper.feed.LiveFeed` follows a
live market-data source (the paper venue). The REST handlers, the admin endpoints and the
state read either through this protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sim.replay.player import KlineUpdate


class MarketClock(Protocol):
    """Market time, last prices and price updates of one market (spot or USD-M)."""

    shift_ms: int  # how far candle times are moved from the real calendar
    symbols: list[str]
    last_price: dict[str, float]
    in_progress: dict[str, KlineUpdate]

    @property
    def now_ms(self) -> int:
        """Market time (ms): server time, event and transaction times are read off it."""

    @property
    def replayed(self) -> int:
        """Candles closed since start."""

    @property
    def total(self) -> int:
        """Candles this run will close (0: open-ended)."""

    @property
    def finished(self) -> bool:
        """No candle will close any more."""

    @property
    def paused(self) -> bool:
        """Whether the clock is held."""

    @property
    def candles_per_second(self) -> float:
        """Pace in candles per wall-clock second (0: real time)."""

    @property
    def current_open_time(self) -> int:
        """Open time (ms) of the candle in progress."""

    def visible_range(self, symbol: str) -> tuple[int, int]:
        """Row range ``[lo, hi)`` of ``symbol``'s closed candles visible to clients."""

    def add_listener(self, fn: Callable[[list[KlineUpdate]], None]) -> None:
        """Call ``fn`` with every batch of price updates."""

    def pause(self) -> None:
        """Hold the clock."""

    def resume(self) -> None:
        """Let the clock run again."""

    def set_speed(self, candles_per_second: float) -> None:
        """Change the pace."""

    def advance(self, ms: int) -> int:
        """Move the clock ``ms`` on; returns the updates emitted."""

    async def run(self) -> None:
        """Drive the market until finished or cancelled."""
