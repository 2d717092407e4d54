"""Shared setup of the simulator integration tests: bundled data paths and a running server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pandas as pd

from greenlight.core.candlefile import CandleArrays, read_candles
from sim.server import SimConfig, SimServer

DATA = Path(__file__).resolve().parents[2] / "data"
BTC = DATA / "BTCUSDT-15m-2019-2020.csv.gz"


def pandas_15m(a: CandleArrays) -> pd.DataFrame:
    """The reference 15m candles of ``a`` (a pandas resample), indexed by open time in ms."""
    df = pd.DataFrame(
        {"open": a.open, "high": a.high, "low": a.low, "close": a.close, "volume": a.volume},
        index=pd.to_datetime(a.open_time, unit="ms"),
    )
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df.resample("15min").agg(agg)
    out.index = pd.Index([round(t.timestamp() * 1000) for t in out.index])
    return out


@asynccontextmanager
async def running_sim(config: SimConfig, btc_candles: int = 700) -> AsyncIterator[SimServer]:
    """A started :class:`SimServer` replaying the first ``btc_candles`` BTCUSDT candles of
    :data:`BTC`; stopped on exit."""
    server = SimServer(config, {"BTCUSDT": read_candles(BTC).slice(0, btc_candles)})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
