"""Ingest against the simulator: closed candles only, each once, in order, with REST backfill
after the websocket is dropped mid-replay."""

from __future__ import annotations

import asyncio

import aiohttp

from engine.candlefile import read_candles
from engine.contracts import Candle
from engine.ingest.rest import MarketRest
from engine.ingest.stream import KlineIngestor
from sim.server import SimConfig, SimServer
from tests.conftest import DATA
from tests.helpers import eventually

HISTORY, TOTAL = 100, 400


async def test_no_candle_missing_none_twice_across_forced_drops() -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz").slice(0, HISTORY + TOTAL + 5)
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / "x"},
            history_candles=HISTORY,
            candles_per_second=150,
            updates_per_candle=2,
            max_candles=TOTAL,
            start_paused=True,
        ),
        {"BTCUSDT": data},
    )
    await sim.start()
    got: list[Candle] = []

    async def sink(c: Candle, _t: float, _live: bool) -> None:
        got.append(c)

    async with aiohttp.ClientSession() as http:
        rest = MarketRest(http, sim.base_url, "sim")
        warm, _ = await rest.closed_klines("BTCUSDT", "15m", limit=HISTORY + 1)
        start = len(warm)  # the newest row is treated as possibly still open and left out
        assert [c.open_time for c in warm] == data.open_time[:start].tolist()
        ing = KlineIngestor(
            rest, sim.ws_url, "sim", ["BTCUSDT"], "15m", {"BTCUSDT": warm[-1].open_time}, sink
        )
        task = asyncio.create_task(ing.run())
        try:
            await eventually(lambda: _true(ing.connected.is_set()), 10, "connected")
            sim.resume()
            for n in (60, 150, 260):
                await eventually(lambda n=n: _true(len(got) >= n), 30, f"{n} candles")
                async with http.post(f"{sim.base_url}/sim/admin/drop-streams") as r:
                    assert r.status == 200
            await eventually(lambda: _true(len(got) >= TOTAL), 60, "the whole replay")
        finally:
            task.cancel()
            await sim.stop()
    times = [c.open_time for c in got]
    expected = data.open_time[start : start + len(times)].tolist()
    assert times == expected, "every closed candle once, in order"
    assert ing.stats.reconnects >= 3 and ing.stats.backfilled >= 1
    first = got[0]
    assert (first.open, first.high, first.low, first.close) == (
        data.open[start],
        data.high[start],
        data.low[start],
        data.close[start],
    )
    assert len(times) >= TOTAL


async def _true(v: bool) -> bool:
    return v
