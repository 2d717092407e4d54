"""Real XRPUSDT 5m candles and their 15m resample, and an engine on the simulator, for the sub-
timeframe tests."""

from __future__ import annotations

import asyncio

import asyncpg

from engine.events import Candle
from engine.service import Engine
from greenlight.core.candlefile import read_candles
from greenlight.core.settings import (
    MarketSettings,
    RiskSettings,
    Settings,
    SimSettings,
    StrategySettings,
)
from sim.replay.resample import resample
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.helpers import eventually

VENUE = "sim-usdm"
SUB = read_candles(DATA / "XRPUSDT-perp-5m-futures.csv")
PARENT = resample(SUB, 900_000)


SUBS = candle_rows(SUB, VENUE, "XRPUSDT", "5m", 300_000)
PARENTS = candle_rows(PARENT, VENUE, "XRPUSDT", "15m", 900_000)


def subs_of(p: Candle) -> list[Candle]:
    return [s for s in SUBS if p.open_time <= s.open_time <= p.close_time]


ROWS = {
    "candles": "SELECT tf, open_time, close FROM candles ORDER BY 1, 2",
    "indicators": "SELECT open_time, macd_hist::text, atr14::text, extra FROM indicators"
    " ORDER BY 1",
    "swings": "SELECT tf, pivot_time, known_time, kind, label, price FROM swings ORDER BY 1,2,4",
    "smc_events": "SELECT tf, open_time, kind, level FROM smc_events ORDER BY 1, 2, 3",
    "zones": "SELECT tf, kind, start_time, known_time, mitigated_time, expired_time FROM zones"
    " ORDER BY 1, 2, 3",
    "signals": "SELECT agent, open_time, side, score, payload FROM signals ORDER BY 1, 2",
    "state": "SELECT tf, open_time, state, analysis_state FROM feature_state ORDER BY 1",
}


XRP = DATA / "XRPUSDT-perp-5m-futures.csv"


HISTORY = 301  # 15m candles before the replay starts: the engine warms up on 300 of them


def settings_for(port: int) -> Settings:
    return Settings(
        sim=SimSettings(port=port),
        market=MarketSettings(
            symbols=("BTCUSDT",), futures_symbols=("XRPUSDT",), sub_timeframe="5m"
        ),
        strategy=StrategySettings(agent="retest"),
        risk=RiskSettings(max_open_positions=100),
    )


async def stored(pool: asyncpg.Pool, tf: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT open_time, open, high, low, close FROM candles"
                " WHERE venue = 'sim-usdm' AND symbol = 'XRPUSDT' AND tf = $1 ORDER BY 1",
                tf,
            )
        )


async def saved_positions(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT tf, open_time FROM feature_state"
            " WHERE venue = 'sim-usdm' AND symbol = 'XRPUSDT'"
        )
    return {r["tf"]: r["open_time"] for r in rows}


async def committed_through(pool: asyncpg.Pool, parent_open: int) -> bool:
    """Whether the engine committed XRPUSDT's 15m candle opening at ``parent_open`` and its
    last 5m one (the streams' saved positions: a processor's memory moves on before its
    transaction commits, and a transaction a stop cancels is rolled back). ``False`` while
    the database cannot be reached."""
    try:
        saved = await saved_positions(pool)
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
        return False
    return saved.get("15m", -1) >= parent_open and saved.get("5m", -1) >= parent_open + 600_000


async def start_engine(port: int, pool: asyncpg.Pool) -> tuple[Engine, asyncio.Task[None]]:
    engine = Engine(settings_for(port), pool)
    task = asyncio.create_task(engine.run())
    await eventually(lambda: _true(engine.ready.is_set() or task.done()), 60, "engine ready")
    if task.done():
        task.result()  # raises what stopped it
    # Frames are live on the venue's clock; what the replay plays before the engine has
    # subscribed is backfilled (history, no decision), so subscribe before it plays on.
    await eventually(
        lambda: _true(all(i.connected.is_set() for i in engine.ingestors)), 60, "subscribed"
    )
    return engine, task


async def stop_engine(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _true(v: bool) -> bool:
    return v
