"""The engine process against the simulator serving XRPUSDT USD-M at 5m and 15m: both
intervals ingested, every candle once, micro-BOS confirmations on the retest agent's signals;
BTCUSDT spot (15m data only) runs without a sub-timeframe after the venue's -1120."""

from __future__ import annotations

import asyncio
import functools
import logging
from decimal import Decimal

import asyncpg
import numpy as np
import pytest

from greenlight.core.candlefile import read_candles
from sim.replay.clock import shifted
from sim.replay.resample import resample
from sim.server import SimConfig, SimServer
from tests.conftest import DATA
from tests.helpers import eventually
from tests.integration.micro_support import (
    HISTORY,
    XRP,
    committed_through,
    saved_positions,
    start_engine,
    stop_engine,
    stored,
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
        # The market moves one candle at a time once the engine has taken the last one, so
        # what is live (and decided on) is the same on a fast or a loaded machine.
        await step_through(sim, pool, 100)
        await stop_engine(task)
        resumed = await saved_positions(pool)
        sim.advance(5 * 900_000)  # candles the engine misses while it is down
        # a restarted engine resumes both streams from the database and backfills the rest
        engine, task = await start_engine(sim.port, pool)
        assert "sim-usdm XRPUSDT 5m resumes after candle" in caplog.text
        await step_through(sim, pool, replay)
        proc = engine.processors[("sim-usdm", "XRPUSDT")]
        assert proc.last_open_time == last
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


async def step_through(sim: SimServer, pool: asyncpg.Pool, candles: int) -> None:
    """Advance the market up to ``candles`` 15m candles (fewer when it ends), each once the
    engine has committed the newest closed candle of XRPUSDT (:func:`committed_through`)."""
    for _ in range(candles + 1):
        status = sim.status()["futures"]
        newest = status["server_time"] // 900_000 * 900_000 - 900_000
        await eventually(functools.partial(committed_through, pool, newest), 60, str(newest))
        if status["finished"]:
            return
        sim.advance(900_000)
