"""Shared setup of the simulator integration tests: bundled data paths, a running server, and
its admin endpoint (``/sim/admin/*``), through which tests that share one server move its clock
and reset it: never by reaching into its state (tests/unit/test_suite_rules.py checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
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


async def sim_admin(sim: SimServer, action: str, body: dict[str, Any] | None = None) -> Any:
    """``POST /sim/admin/<action>`` (``GET`` for ``status``) on ``sim``; the answer's JSON."""
    method = "GET" if action == "status" else "POST"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{sim.base_url}/sim/admin/{action}", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


def update_ms(sim: SimServer, futures: bool = False) -> int:
    """Market time between two updates of the spot (or USD-M) replay: ``advance`` by this
    much emits exactly one update on it."""
    assert sim.state is not None
    replay = sim.state.spot.replay
    if futures:
        assert sim.state.futures is not None
        replay = sim.state.futures.replay
    return replay.tf_ms // (replay.k + 1)


async def advance(sim: SimServer, ms: int) -> None:
    """Move every market clock of ``sim`` ``ms`` on (``POST /sim/admin/advance``)."""
    await sim_admin(sim, "advance", {"ms": ms})
