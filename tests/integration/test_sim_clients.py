"""Stock python-binance and ccxt talk to the simulator with only their base URLs changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest_asyncio
from binance import AsyncClient

from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, running_sim


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        history_candles=600,
        start_paused=True,
        accounts={
            "pb-key": SimAccount("pb-secret", {"USDT": Decimal("10000")}),
            "cx-key": SimAccount("cx-secret", {"USDT": Decimal("10000")}),
        },
    )
    async with running_sim(config, 1000) as server:
        yield server


async def test_python_binance_klines_and_orders(sim: SimServer) -> None:
    client = AsyncClient("pb-key", "pb-secret")
    client.API_URL = sim.base_url + "/api"
    try:
        klines = await client.get_klines(symbol="BTCUSDT", interval="15m", limit=5)
        arr = sim.state.spot.candles["BTCUSDT"]  # type: ignore[union-attr]
        assert [k[0] for k in klines] == [int(t) for t in arr.open_time[595:600]]
        placed = await client.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price="3000",
        )
        assert placed["status"] == "NEW" and placed["clientOrderId"].startswith("x-")
        got = await client.get_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert got["clientOrderId"] == placed["clientOrderId"] and got["price"] == "3000.00000000"
        market = await client.create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
        assert market["status"] == "FILLED" and market["executedQty"] == "0.01000000"
    finally:
        await client.close_connection()


def ccxt_exchange(sim: SimServer) -> ccxt.binance:
    exchange = ccxt.binance(
        {
            "apiKey": "cx-key",
            "secret": "cx-secret",
            "options": {
                "adjustForTimeDifference": False,
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    exchange.urls["api"]["public"] = sim.base_url + "/api/v3"
    exchange.urls["api"]["private"] = sim.base_url + "/api/v3"
    return exchange


async def test_ccxt_markets_ohlcv_and_order_lifecycle(sim: SimServer) -> None:
    exchange = ccxt_exchange(sim)
    try:
        markets = await exchange.load_markets()
        btc = markets["BTC/USDT"]
        assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
        assert btc["limits"]["cost"]["min"] == 5.0
        ohlcv = await exchange.fetch_ohlcv("BTC/USDT", "15m", limit=10)
        arr = sim.state.spot.candles["BTCUSDT"]  # type: ignore[union-attr]
        assert [row[0] for row in ohlcv] == [int(t) for t in arr.open_time[590:600]]
        assert ohlcv[-1][4] == float(arr.close[599])
        order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 3000)
        assert order["status"] == "open"
        fetched = await exchange.fetch_order(order["id"], "BTC/USDT")
        assert fetched["status"] == "open" and fetched["price"] == 3000.0
        canceled = await exchange.cancel_order(order["id"], "BTC/USDT")
        assert canceled["status"] == "canceled"
        bought = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
        assert bought["status"] == "closed" and bought["fee"]["currency"] == "BTC"
    finally:
        await exchange.close()


async def test_server_event_order_and_candle_times_share_one_clock(sim: SimServer) -> None:
    """The replay runs on today's calendar: ``fetch_ohlcv(since=now - 1 day)`` finds candles,
    and server time, order times and candle times are read off one clock."""
    assert sim.state is not None
    exchange = ccxt_exchange(sim)
    try:
        wall = exchange.milliseconds()
        server = await exchange.fetch_time()
        assert server == sim.state.spot.replay.now_ms
        assert abs(server - wall) <= 86_400_000 // 2 + 900_000
        assert sim.state.spot.replay.shift_ms % 86_400_000 == 0
        ohlcv = await exchange.fetch_ohlcv("BTC/USDT", "15m", since=wall - 86_400_000)
        assert len(ohlcv) >= 40 and all(row[0] >= wall - 86_400_000 for row in ohlcv)
        closed = [row for row in ohlcv if row[0] + 900_000 <= server]
        assert closed[-1][0] + 900_000 == server  # the newest closed candle ends at server time
        order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 3000)
        assert order["timestamp"] == server  # transactTime on the same clock
        await exchange.cancel_order(order["id"], "BTC/USDT")
    finally:
        await exchange.close()
