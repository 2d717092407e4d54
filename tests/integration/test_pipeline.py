"""Candle → features → rule → decision on real data, and restart parity."""

from __future__ import annotations

import asyncpg
import numpy as np

from engine.candlefile import CandleArrays, read_candles
from engine.contracts import Candle
from engine.pipeline import StreamProcessor
from engine.settings import RiskSettings, Settings
from tests.conftest import DATA
from tests.unit.test_bracket import RULES

N = 2500
SETTINGS = Settings(risk=RiskSettings(max_open_positions=100))


def candles(c: CandleArrays, start: int, stop: int) -> list[Candle]:
    return [
        Candle(
            venue="sim",
            symbol="BTCUSDT",
            tf="15m",
            open_time=int(c.open_time[i]),
            close_time=int(c.open_time[i]) + 899_999,
            open=float(c.open[i]),
            high=float(c.high[i]),
            low=float(c.low[i]),
            close=float(c.close[i]),
            volume=float(c.volume[i]),
        )
        for i in range(start, stop)
    ]


async def run(pool: asyncpg.Pool, rows: list[Candle], proc: StreamProcessor | None = None) -> None:
    proc = proc or StreamProcessor(SETTINGS, "sim", RULES, "15m")
    for c in rows:
        await proc.process(pool, c, 0.0, live=True)


async def snapshot(pool: asyncpg.Pool) -> tuple[list[int], list[tuple[float, ...]]]:
    async with pool.acquire() as conn:
        d = [r["open_time"] for r in await conn.fetch("SELECT open_time FROM decisions ORDER BY 1")]
        ind = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT ema20, ema200, rsi14, macd_hist, atr14 FROM indicators ORDER BY open_time"
            )
        ]
    return d, ind


async def test_restart_resumes_with_identical_decisions(
    db_url: str, pool: asyncpg.Pool, pg_server_url: str
) -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    rows = candles(data, 0, N)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
    await run(pool, rows[:1200])
    # a new process: restores feature state from the database and continues
    proc = StreamProcessor(SETTINGS, "sim", RULES, "15m")
    async with pool.acquire() as conn:
        assert await proc.restore(conn) == rows[1199].open_time
    await run(pool, rows[1100:], proc)  # overlapping replay: already-seen candles are skipped
    split = await snapshot(pool)

    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE candles, indicators, feature_state, signals, decisions CASCADE"
        )
    await run(pool, rows)
    whole = await snapshot(pool)
    assert split[0] == whole[0] and len(whole[0]) >= 3, whole[0]
    assert len(whole[1]) == N
    np.testing.assert_array_equal(np.array(split[1]), np.array(whole[1]))  # NaN == NaN here


async def test_no_decision_when_trading_is_off_or_equity_unknown(pool: asyncpg.Pool) -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    await run(pool, candles(data, 0, N))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM decisions") == 0
        assert await conn.fetchval("SELECT count(*) FROM signals") >= 3
