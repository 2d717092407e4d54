"""Writes what the engine writes for one candle — the candle, its indicator row, SMC events,
new zones, a regime change and the stream's ``feature_state`` — in one transaction, from a
real candle file, so the bot's alert follower can be tested without running the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from greenlight.core.candlefile import read_candles
from tests.conftest import TEST_DATA

CANDLES = TEST_DATA / "btcusdt_1h_2025_01" / "btcusdt-1h.csv"
HOUR = 3_600_000


@dataclass(frozen=True)
class NewZone:
    """A zone that becomes known on the candle (``start`` candles earlier)."""

    kind: str  # OB | FVG
    direction: str  # bullish | bearish
    top: float
    bottom: float
    start_back: int = 2


class MarketTape:
    """BTCUSDT 1h candles of January 2025, written one at a time."""

    def __init__(self, pool: asyncpg.Pool, venue: str = "sim", symbol: str = "BTCUSDT") -> None:
        self.pool = pool
        self.key = (venue, symbol, "1h")
        self.c = read_candles(CANDLES)

    def time(self, i: int) -> int:
        """Open time of candle ``i``."""
        return int(self.c.open_time[i])

    def low(self, i: int) -> float:
        return float(self.c.low[i])

    def high(self, i: int) -> float:
        return float(self.c.high[i])

    async def history(self, upto: int) -> None:
        """Candles 0..upto-1 without analysis (the chart's background)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(_CANDLE_SQL, [self._row(i) for i in range(upto)])

    async def candle(
        self,
        i: int,
        structure: Sequence[tuple[str, float]] = (),
        zones: Sequence[NewZone] = (),
        regime: str | None = None,
    ) -> int:
        """Candle ``i`` with its analysis rows, committed together; returns its open time."""
        t = self.time(i)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_CANDLE_SQL, *self._row(i))
            for kind, level in structure:
                await conn.execute(
                    "INSERT INTO smc_events (venue, symbol, tf, open_time, kind, level,"
                    " ref_swing_time) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    *self.key,
                    t,
                    kind,
                    level,
                    self.time(max(0, i - 6)),
                )
            for z in zones:
                await conn.execute(
                    "INSERT INTO zones (venue, symbol, tf, kind, direction, start_time,"
                    " known_time, top, bottom) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                    *self.key,
                    z.kind,
                    z.direction,
                    self.time(i - z.start_back),
                    t,
                    z.top,
                    z.bottom,
                )
            if regime is not None:
                await conn.execute(
                    "INSERT INTO regimes (venue, symbol, tf, open_time, regime)"
                    " VALUES ($1,$2,$3,$4,$5)",
                    *self.key,
                    t,
                    regime,
                )
            await conn.execute(
                "INSERT INTO feature_state (venue, symbol, tf, open_time, state)"
                " VALUES ($1,$2,$3,$4,'\\x00') ON CONFLICT (venue, symbol, tf)"
                " DO UPDATE SET open_time = EXCLUDED.open_time",
                *self.key,
                t,
            )
        return t

    def _row(self, i: int) -> tuple[object, ...]:
        c, t = self.c, self.time(i)
        values = (c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i])
        return (*self.key, t, t + HOUR - 1, *(str(float(v)) for v in values))


_CANDLE_SQL = (
    "INSERT INTO candles (venue, symbol, tf, open_time, close_time, open, high, low, close,"
    " volume) VALUES ($1,$2,$3,$4,$5,$6::numeric,$7::numeric,$8::numeric,$9::numeric,"
    "$10::numeric) ON CONFLICT DO NOTHING"
)
