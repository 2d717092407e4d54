"""Automatic kill-switch trips: daily drawdown breach and stale market data.

Thresholds come from ``[guards]`` in the settings (the module constants are the defaults):

- ``DAILY_DRAWDOWN_LIMIT``: trip when the published equity (``control.equity_quote`` for
  spot, ``control.equity_quote_usdm`` for USD-M: each marked to market from one account
  snapshot, see :mod:`router.equity`) falls this fraction below the first figure of the
  venue's UTC day (kept in ``control.<key>_day_open``; the venue's clock, so that a fast
  replay is judged per market day).
- ``STALE_TIMEFRAMES``: trip when the newest candle of a traded symbol in the ``candles``
  table is older than this many timeframes, checked only while the venue is live (its user
  stream connected). Against the simulator the candle's ``received_at`` is used, because
  replayed candles carry historical open times; against Binance its ``close_time``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import asyncpg

from greenlight.core.clock import Clock, SystemClock, utc_now
from router.metrics import guard_checks

log = logging.getLogger(__name__)
DAILY_DRAWDOWN_LIMIT = Decimal("0.05")
STALE_TIMEFRAMES = 3
GUARD_INTERVAL_S = 10.0
EQUITY_KEYS = ("equity_quote", "equity_quote_usdm")


async def drawdown_breach(
    conn: asyncpg.Connection, key: str, limit: Decimal = DAILY_DRAWDOWN_LIMIT
) -> str | None:
    """The breach description for the ``key`` equity, or ``None``.

    Days are the venue's: the first snapshot of a venue day is that day's opening equity
    (written with the snapshot, :func:`router.equity.store_snapshot`), so a replay that runs
    a month of market in an hour is judged day by market day.
    """
    value = await conn.fetchval("SELECT value FROM control WHERE key = $1", key)
    opening = await conn.fetchval("SELECT value FROM control WHERE key = $1", f"{key}_day_open")
    if value is None or not isinstance(opening, dict):
        return None
    equity = Decimal(str(value))  # marked to market from one snapshot (router.equity)
    start = Decimal(opening["equity"])
    if start <= 0:
        return None
    drop = (start - equity) / start
    if drop < limit:
        return None
    day = opening["day"]
    return f"daily drawdown {drop:.2%} on {key} ({start} → {equity}) on {day} breaches {limit:.0%}"


async def stale_symbols(
    conn: asyncpg.Connection,
    symbols: Sequence[str],
    tf: str,
    tf_ms: int,
    now: datetime,
    use_received_at: bool,
    stale_timeframes: int = STALE_TIMEFRAMES,
) -> list[str]:
    """Symbols whose newest ``tf`` candle is older than ``stale_timeframes`` timeframes."""
    limit_s = stale_timeframes * tf_ms / 1000
    stale = []
    for symbol in symbols:
        if use_received_at:
            last = await conn.fetchval(
                "SELECT extract(epoch FROM max(received_at))::float8 FROM candles"
                " WHERE symbol = $1 AND tf = $2",
                symbol,
                tf,
            )
        else:
            last = await conn.fetchval(
                "SELECT max(close_time) / 1000.0 FROM candles WHERE symbol = $1 AND tf = $2",
                symbol,
                tf,
            )
        if last is not None and now.timestamp() - float(last) > limit_s:
            stale.append(symbol)
    return stale


@dataclass
class Guards:
    """Runs both checks periodically and trips the kill switch (once per episode)."""

    pool: asyncpg.Pool
    trip: Callable[[str], Awaitable[None]]
    symbols: Sequence[str]
    tf: str
    tf_ms: int
    use_received_at: bool
    live: Callable[[], bool]
    clock: Clock = field(default_factory=SystemClock)
    drawdown_limit: Decimal = DAILY_DRAWDOWN_LIMIT
    stale_timeframes: int = STALE_TIMEFRAMES

    def __post_init__(self) -> None:
        self._tripped: set[str] = set()

    async def check_once(self) -> list[str]:
        """Run both checks; trip for each new breach; return the reasons found."""
        now = utc_now(self.clock)
        found: dict[str, str] = {}
        async with self.pool.acquire() as conn:
            for key in EQUITY_KEYS:
                breach = await drawdown_breach(conn, key, self.drawdown_limit)
                if breach:
                    found[f"drawdown:{key}"] = breach
            if self.live():
                stale = await stale_symbols(
                    conn,
                    self.symbols,
                    self.tf,
                    self.tf_ms,
                    now,
                    self.use_received_at,
                    self.stale_timeframes,
                )
                for symbol in stale:
                    found[f"stale:{symbol}"] = (
                        f"stale market data: no {self.tf} candle on {symbol} for over"
                        f" {self.stale_timeframes} timeframes"
                    )
        guard_checks(found)
        self._tripped &= set(found)  # an episode ends when its condition clears
        fresh = [(kind, text) for kind, text in found.items() if kind not in self._tripped]
        for kind, text in fresh:
            self._tripped.add(kind)
            log.error("guard breach: %s", text)
            await self.trip(text)
        return [text for _, text in fresh]

    async def run(self, interval_s: float = GUARD_INTERVAL_S) -> None:
        """Check every ``interval_s`` until cancelled; one failure never stops the loop."""
        while True:
            try:
                await self.check_once()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("guard check failed: %s", exc)
            await asyncio.sleep(interval_s)
