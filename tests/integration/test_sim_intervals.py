"""Sub-timeframes over HTTP/WebSockets: the 5m XRPUSDT perpetual served as 5m and 15m
(streams in causal order, REST for both), BTCUSDT spot (15m data only) refusing 5m."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pandas as pd
import pytest_asyncio

from greenlight.core.candlefile import read_candles
from sim.replay.clock import shifted
from sim.server import SimAccount, SimConfig, SimServer
from sim.spot.payloads import fmt
from tests.helpers import eventually
from tests.integration.sim_support import (
    BTC,
    DATA,
    advance,
    pandas_15m,
    running_sim,
    update_ms,
)

XRP = DATA / "XRPUSDT-perp-5m-futures.csv"
M5, M15 = 300_000, 900_000


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={"iv-key": SimAccount("iv-secret", {"USDT": Decimal(1000)}, Decimal(1000))},
        futures_files={"XRPUSDT": XRP},
        sub_intervals=("5m",),
    )
    async with running_sim(config) as server:
        yield server


def resampled_15m(sim: SimServer) -> pd.DataFrame:
    """The file's 15m candles on the simulator's clock (its whole-day shift)."""
    assert sim.state is not None and sim.state.futures is not None
    return pandas_15m(shifted(read_candles(XRP), sim.state.futures.replay.shift_ms))


def same_candle(row: list[Any], expected: pd.Series) -> bool:
    prices = [fmt(float(expected[c])) for c in ("open", "high", "low", "close")]
    return row[1:5] == prices and abs(float(row[5]) - float(expected["volume"])) < 1e-6


async def klines(http: aiohttp.ClientSession, url: str, interval: str, **kw: Any) -> Any:
    params = {"symbol": "XRPUSDT", "interval": interval, **{k: str(v) for k, v in kw.items()}}
    async with http.get(url, params=params) as r:
        return r.status, await r.json()


async def test_streams_emit_5m_and_15m_with_fine_closes_first(sim: SimServer) -> None:
    assert sim.state is not None and sim.state.futures is not None
    fut = sim.state.futures
    assert fut.intervals.served == ("5m", "15m") and fut.replay.tf_ms == M5
    names = "xrpusdt@kline_5m/xrpusdt@kline_15m"
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/market/stream?streams={names}")

        async def subscribed() -> bool:
            return any(c.streams for c in fut.market.conns)

        await eventually(subscribed, 5, "market connection registered")
        steps = 9 * (fut.replay.k + 1)  # nine 5m candles = three 15m candles
        await advance(sim, steps * update_ms(sim, futures=True))
        got = [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(2 * steps)]
        await ws.close()
    expected = resampled_15m(sim)
    closes = [(m["stream"], m["data"]["k"]) for m in got if m["data"]["k"]["x"]]
    coarse = [k for s, k in closes if s.endswith("15m")]
    assert len(coarse) == 3 and len(closes) == 12
    for n, (stream, k) in enumerate(closes):
        if stream.endswith("15m"):
            prev_stream, prev = closes[n - 1]
            assert prev_stream.endswith("5m") and prev["t"] == k["t"] + M15 - M5
            row = [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"]]
            assert same_candle(row, expected.loc[k["t"]]) and k["i"] == "15m"


async def test_rest_klines_for_both_intervals_and_spot_refuses_5m(sim: SimServer) -> None:
    expected = resampled_15m(sim)
    base = sim.base_url
    async with aiohttp.ClientSession() as http:
        s5, rows5 = await klines(http, f"{base}/fapi/v1/klines", "5m", limit=30)
        s15, rows15 = await klines(http, f"{base}/fapi/v1/klines", "15m", limit=1500)
        s1, err = await klines(http, f"{base}/fapi/v1/klines", "1m")
        async with http.get(
            f"{base}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "5m"}
        ) as r:
            spot_status, spot_err = r.status, await r.json()
        async with http.get(
            f"{base}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "15m", "limit": 3}
        ) as r:
            assert r.status == 200 and len(await r.json()) == 3
    assert (s5, s15, s1) == (200, 200, 400) and err["code"] == -1120
    assert spot_status == 400 and spot_err["code"] == -1120 and "15m" in spot_err["msg"]
    assert [r[0] for r in rows5] == sorted(r[0] for r in rows5)
    assert all(r[6] == r[0] + M5 - 1 for r in rows5)
    closed = [r for r in rows15 if r[0] + M15 <= rows5[-1][0]]
    assert len(closed) >= 100
    for row in closed:
        assert row[6] == row[0] + M15 - 1 and same_candle(row, expected.loc[row[0]])
    assert rows15[-1][0] + M15 > rows5[-1][0]  # nothing from the future of the 5m replay
