"""The engine process against the simulator serving XRPUSDT USD-M at 5m and 15m: both
intervals ingested, every candle once, micro-BOS confirmations on the retest agent's signals;
BTCUSDT spot (15m data only) runs without a sub-timeframe after the venue's -1120."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import asyncpg
import numpy as np
import pytest

from engine.candlefile import read_candles
from engine.service import Engine
from engine.settings import (
    MarketSettings,
    RiskSettings,
    Settings,
    SimSettings,
    StrategySettings,
)
from sim.clock import shifted
from sim.resample import resample
from sim.server import SimConfig, SimServer
from tests.conftest import DATA
from tests.helpers import eventually

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


async def test_engine_follows_sub_timeframe_and_confirms_by_micro_bos(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    sub = read_candles(XRP)
    parent = resample(sub, 900_000)
    replay = len(parent) - HISTORY
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / "BTCUSDT-15m-2019-2020.csv.gz"},
            futures_files={"XRPUSDT": XRP},
            sub_intervals=("5m",),
            history_candles=HISTORY,
            candles_per_second=120,
            updates_per_candle=1,
            max_candles=replay,
            start_paused=True,
        )
    )
    await sim.start()
    assert sim.state is not None and sim.state.futures is not None
    shift = sim.state.futures.replay.shift_ms  # the replay runs on today's calendar
    sub, parent = shifted(sub, shift), shifted(parent, shift)
    caplog.set_level(logging.INFO, logger="engine.service")
    last = int(parent.open_time[-1])
    task: asyncio.Task[None] | None = None
    try:
        before, task = await start_engine(sim.port, pool)
        assert ("sim-usdm", "XRPUSDT") in before.subs and ("sim", "BTCUSDT") not in before.subs
        assert "sim BTCUSDT: the venue has no 5m klines (-1120)" in caplog.text
        sim.resume()
        proc = before.processors[("sim-usdm", "XRPUSDT")]
        middle = int(parent.open_time[HISTORY + 100])
        await eventually(lambda: _true((proc.last_open_time or 0) >= middle), 60, "100 candles")
        sim.pause()
        await stop_engine(task)
        resumed = await saved_positions(pool)
        # a restarted engine resumes both streams from the database and backfills the rest
        engine, task = await start_engine(sim.port, pool)
        assert "sim-usdm XRPUSDT 5m resumes after candle" in caplog.text
        sim.resume()
        proc = engine.processors[("sim-usdm", "XRPUSDT")]
        await eventually(lambda: _true(proc.last_open_time == last), 90, "the whole replay")
    finally:
        if task is not None:
            await stop_engine(task)
        await sim.stop()

    feed = engine.feeds[("sim-usdm", "XRPUSDT")]
    assert feed.repeats == 0 and feed.late_parents == 0
    # everything after the saved positions, once: backfilled over REST, then live
    assert feed.handled["15m"] == (last - resumed["15m"]) // 900_000
    assert feed.handled["5m"] == (last + 600_000 - resumed["5m"]) // 300_000
    for tf, arr in (("5m", sub.slice(0, 3 * len(parent))), ("15m", parent)):
        rows = await stored(pool, tf)
        first = int(np.searchsorted(arr.open_time, rows[0]["open_time"]))
        assert len(rows) == len(arr) - first, tf  # contiguous to the end, each once
        for k in (0, len(rows) // 2, len(rows) - 1):
            r, i = rows[k], first + k
            assert r["open_time"] == arr.open_time[i], tf
            got = (r["open"], r["high"], r["low"], r["close"])
            want = (arr.open[i], arr.high[i], arr.low[i], arr.close[i])
            assert got == tuple(Decimal(repr(float(x))) for x in want), tf
    async with pool.acquire() as conn:
        signals = await conn.fetch(
            "SELECT payload FROM signals WHERE agent = 'retest.v1' AND venue = 'sim-usdm'"
        )
    confirmed = [s["payload"] for s in signals if s["payload"]["features"]["micro_bos"]]
    assert confirmed, [s["payload"] for s in signals]
    assert all(s["open_time"] > parent.open_time[HISTORY - 2] for s in confirmed)


async def saved_positions(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT tf, open_time FROM feature_state"
            " WHERE venue = 'sim-usdm' AND symbol = 'XRPUSDT'"
        )
    return {r["tf"]: r["open_time"] for r in rows}


async def start_engine(port: int, pool: asyncpg.Pool) -> tuple[Engine, asyncio.Task[None]]:
    engine = Engine(settings_for(port), pool)
    task = asyncio.create_task(engine.run())
    await eventually(lambda: _true(engine.ready.is_set() or task.done()), 60, "engine ready")
    # following the markets before the replay resumes: its closes then arrive as live frames,
    # however long this machine takes to connect (not all by REST backfill, never live)
    connected = lambda: all(i.connected.is_set() for i in engine.ingestors)  # noqa: E731
    await eventually(lambda: _true(connected() or task.done()), 60, "market streams followed")
    if task.done():
        task.result()  # raises what stopped it
    return engine, task


async def stop_engine(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _true(v: bool) -> bool:
    return v
