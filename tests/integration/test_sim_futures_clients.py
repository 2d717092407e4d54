"""Stock ccxt (binanceusdm) and python-binance drive the USD-M simulator with only their
base URLs changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest_asyncio
from binance import AsyncClient

from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, DATA, running_sim


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={
            "cx-key": SimAccount("cx-secret", {"USDT": Decimal(1000)}, Decimal(5000)),
            "pb-key": SimAccount("pb-secret", {"USDT": Decimal(1000)}, Decimal(5000)),
        },
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
        mark_files={"XRPUSDT": DATA / "XRPUSDT-perp-1h-mark.csv"},
        funding_files={"XRPUSDT": DATA / "XRPUSDT-perp-8h-funding_rate.csv"},
    )
    async with running_sim(config) as server:
        yield server


def usdm(sim: SimServer) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm(
        {
            "apiKey": "cx-key",
            "secret": "cx-secret",
            "options": {"adjustForTimeDifference": False, "fetchCurrencies": False},
        }
    )
    for name, url in list(exchange.urls["api"].items()):
        if name.startswith("fapi") and isinstance(url, str):
            exchange.urls["api"][name] = url.replace("https://fapi.binance.com", sim.base_url)
    return exchange


async def test_ccxt_binanceusdm_futures_flow(sim: SimServer) -> None:
    ex = usdm(sim)
    try:
        markets = await ex.load_markets()
        market = markets["XRP/USDT:USDT"]
        assert market["linear"] and market["precision"]["price"] == 0.0001
        fut = sim.state.futures  # type: ignore[union-attr]
        assert fut is not None
        _, hi = fut.replay.visible_range("XRPUSDT")
        rows = await ex.fetch_ohlcv("XRP/USDT:USDT", "15m", limit=3)
        assert [r[0] for r in rows] == [
            int(t) for t in fut.candles["XRPUSDT"].open_time[hi - 3 : hi]
        ]
        lev = await ex.set_leverage(3, "XRP/USDT:USDT")
        assert lev["leverage"] == 3
        limit = await ex.create_order("XRP/USDT:USDT", "limit", "buy", 20, 1.05)
        assert limit["status"] == "open" and limit["price"] == 1.05
        fetched = await ex.fetch_order(limit["id"], "XRP/USDT:USDT")
        assert fetched["clientOrderId"] == limit["clientOrderId"]
        assert [o["id"] for o in await ex.fetch_open_orders("XRP/USDT:USDT")] == [limit["id"]]
        cancelled = await ex.cancel_order(limit["id"], "XRP/USDT:USDT")
        assert cancelled["status"] == "canceled"
        assert (await ex.set_margin_mode("isolated", "XRP/USDT:USDT"))["code"] == 200
        filled = await ex.create_order(
            "XRP/USDT:USDT", "market", "buy", 30, params={"newOrderRespType": "RESULT"}
        )
        assert filled["status"] == "closed" and filled["filled"] == 30
        positions = await ex.fetch_positions(["XRP/USDT:USDT"])
        (pos,) = [p for p in positions if p["contracts"]]
        assert pos["side"] == "long" and pos["contracts"] == 30 and pos["liquidationPrice"] > 0
        balance = await ex.fetch_balance()
        assert 4900 < balance["USDT"]["total"] < 5000
    finally:
        await ex.close()


async def test_python_binance_futures_flow(sim: SimServer) -> None:
    client = AsyncClient("pb-key", "pb-secret")
    client.FUTURES_URL = sim.base_url + "/fapi"
    try:
        info = await client.futures_exchange_info()
        assert [s["symbol"] for s in info["symbols"]] == ["XRPUSDT"]
        assert await client.futures_change_leverage(symbol="XRPUSDT", leverage=2)
        klines = await client.futures_klines(symbol="XRPUSDT", interval="15m", limit=2)
        assert len(klines) == 2
        entry = await client.futures_create_order(
            symbol="XRPUSDT", side="SELL", type="MARKET", quantity="50", newOrderRespType="RESULT"
        )
        assert entry["status"] == "FILLED" and entry["clientOrderId"].startswith("x-")
        stop = await client.futures_create_order(
            symbol="XRPUSDT", side="BUY", type="STOP_MARKET", stopPrice="1.3", closePosition="true"
        )
        assert stop["algoStatus"] == "NEW" and stop["triggerPrice"] == "1.3"
        got = await client.futures_get_order(symbol="XRPUSDT", algoId=stop["algoId"])
        assert got["orderType"] == "STOP_MARKET" and got["closePosition"] is True
        gone = await client.futures_cancel_order(symbol="XRPUSDT", algoId=stop["algoId"])
        assert gone["algoId"] == stop["algoId"]
        (risk,) = await client.futures_position_information(symbol="XRPUSDT")
        assert risk["positionAmt"] == "-50" and Decimal(risk["liquidationPrice"]) > Decimal(
            entry["avgPrice"]
        )
        mark = await client.futures_mark_price(symbol="XRPUSDT")
        assert mark["symbol"] == "XRPUSDT" and Decimal(mark["markPrice"]) > 0
    finally:
        await client.close_connection()
