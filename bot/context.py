"""What a command handler and the alert loops may use: settings, database, roles, the
approval service, the router, the chart maker and the clock, in one object built by
:mod:`bot.service`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

from bot.access import AccessList
from bot.backtest_jobs import BacktestJobs
from greenlight.core.clock import Clock
from greenlight.core.settings import TIMEFRAMES_MS, Settings

if TYPE_CHECKING:
    from bot.approvals import ApprovalService, RouterPort
    from bot.charting import EquityPoint, Highlight


class ChartMaker(Protocol):
    """Renders PNG snapshots; every method returns the file path, or ``None`` when there is
    nothing to draw (logged)."""

    async def for_decision(self, decision: dict[str, Any]) -> Path | None:
        """The confirmation snapshot of a decision row."""
        ...

    async def for_stream(
        self, venue: str, symbol: str, tf: str, at: int | None, highlight: Highlight | None
    ) -> Path | None:
        """Candles of a stream up to ``at`` (latest when ``None``), structure, zones, and the
        event being alerted marked."""
        ...

    async def for_trade(self, decision: dict[str, Any]) -> Path | None:
        """A trade from entry to exit with its levels, fills and PnL."""
        ...

    async def equity(self, title: str, points: list[EquityPoint]) -> Path | None:
        """An equity curve."""
        ...


@dataclass
class BotContext:
    """Everything the bot's handlers share."""

    settings: Settings
    pool: asyncpg.Pool
    access: AccessList
    approvals: ApprovalService
    router: RouterPort
    charts: ChartMaker
    key: bytes
    clock: Clock  # the process's one clock (the approval service reads the same)
    backtests: BacktestJobs = field(init=False)  # /backtest, one at a time

    def __post_init__(self) -> None:
        self.backtests = BacktestJobs(self.clock)

    @property
    def tz(self) -> str:
        """The chats' timezone (``general.timezone``)."""
        return self.settings.general.timezone

    def streams(self) -> dict[str, str]:
        """Symbols the engine follows and the venue they are stored under."""
        name: str = self.settings.venue.name
        out: dict[str, str] = {s: name for s in self.settings.market.symbols}
        out.update({s: f"{name}-usdm" for s in self.settings.market.futures_symbols})
        return out

    def timeframes(self) -> tuple[str, ...]:
        """Timeframes with analysis rows (the trading timeframe first)."""
        m = self.settings.market
        return (m.timeframe, m.sub_timeframe) if m.sub_timeframe else (m.timeframe,)

    def stream_of(self, args: tuple[str, ...]) -> tuple[str, str, str] | str:
        """``(venue, symbol, tf)`` for ``SYMBOL [TF]`` arguments, or why they are wrong."""
        streams = self.streams()
        if not args or len(args) > 2:
            return "Give a symbol and optionally a timeframe, e.g. BTCUSDT 15m."
        symbol = args[0].upper()
        tf = args[1].lower() if len(args) == 2 else self.timeframes()[0]
        if symbol not in streams:
            return f"Unknown symbol {symbol}: this bot follows {', '.join(streams)}."
        if tf not in TIMEFRAMES_MS or tf not in self.timeframes():
            return f"Timeframe {tf} is not followed; use {' or '.join(self.timeframes())}."
        return streams[symbol], symbol, tf
