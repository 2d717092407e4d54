"""USD-M extras: ``PUT /fapi/v1/order`` (modify LIMIT) and the futures ping interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.helpers import eventually
from tests.integration.sim_support import BTC, DATA, running_sim


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={"fx-key": SimAccount("fx-secret", {"USDT": Decimal(1000)}, Decimal(10000))},
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
        futures_ws_ping_interval=0.2,
    )
    async with running_sim(config) as server:
        yield server


@pytest_asyncio.fixture
async def c(sim: SimServer) -> AsyncIterator[SignedClient]:
    async with aiohttp.ClientSession() as http:
        yield SignedClient(http, sim.base_url, "fx-key", "fx-secret")


def last_price(sim: SimServer) -> Decimal:
    assert sim.state is not None and sim.state.futures is not None
    return sim.state.futures.book.last["XRPUSDT"]


async def buy_limit(c: SignedClient, price: Decimal) -> Any:
    params = {
        "symbol": "XRPUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "10",
        "price": f"{price:f}",
    }
    status, body, _ = await c.call("POST", "/fapi/v1/order", params)
    assert status == 200, body
    return body


async def modify(c: SignedClient, oid: int, qty: str, price: Decimal, side: str = "BUY") -> Any:
    params = {
        "symbol": "XRPUSDT",
        "orderId": oid,
        "side": side,
        "quantity": qty,
        "price": f"{price:f}",
    }
    status, body, _ = await c.call("PUT", "/fapi/v1/order", params)
    return status, body


async def test_modify_limit_price_and_quantity_then_fill_when_marketable(
    sim: SimServer, c: SignedClient
) -> None:
    last = last_price(sim)
    low = (last * Decimal("0.97")).quantize(Decimal("0.0001"))
    order = await buy_limit(c, low)
    lower = low - Decimal("0.0010")
    status, body = await modify(c, order["orderId"], "12", lower)
    assert status == 200
    assert (body["orderId"], body["price"], body["origQty"], body["status"]) == (
        order["orderId"],
        f"{lower:f}",
        "12",
        "NEW",
    )
    status, body = await modify(c, order["orderId"], "12", lower)
    assert (status, body["code"]) == (400, -5027)
    status, body = await modify(c, order["orderId"], "12", lower, side="SELL")
    assert (status, body["code"]) == (400, -1102)
    status, body = await modify(c, 987654, "12", lower)
    assert (status, body["code"]) == (400, -2013)
    above = (last * Decimal("1.01")).quantize(Decimal("0.0001"))
    status, body = await modify(c, order["orderId"], "12", above)
    assert status == 200 and body["status"] == "FILLED" and body["executedQty"] == "12"
    status, body = await modify(c, order["orderId"], "13", above)
    assert (status, body["code"]) == (400, -2013)  # no longer open


async def test_futures_streams_ping_at_their_own_interval(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/market/ws/xrpusdt@kline_15m", autoping=False)
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.PING
        await ws.pong(msg.data)
        await ws.close()
    assert SimConfig(files={"BTCUSDT": BTC}).futures_ws_ping_interval == 180.0

    async def no_conns() -> bool:
        return (
            sim.state is not None
            and sim.state.futures is not None
            and (not sim.state.futures.market.conns)
        )

    await eventually(no_conns, 5, "connection closed")


async def test_all_algo_orders_answers_without_a_limit(c: SignedClient) -> None:
    status, body, _ = await c.call("GET", "/fapi/v1/allAlgoOrders", {"symbol": "XRPUSDT"})
    assert (status, body) == (200, [])
    status, body, _ = await c.call(
        "GET", "/fapi/v1/allAlgoOrders", {"symbol": "XRPUSDT", "limit": 101}
    )
    assert (status, body["code"]) == (400, -1130)


async def test_usdm_replay_keeps_one_offset_from_spot_whatever_the_hour(sim: SimServer) -> None:
    """Both markets move in step from starts within half a day of each other, so which of
    two events comes first across markets never depends on the hour the simulator started."""
    status = sim.status()
    spot, fut = int(status["server_time"]), int(status["futures"]["server_time"])
    assert abs(fut - spot) <= 43_200_000, (spot, fut)
    assert int(status["futures"]["clock_shift_ms"]) % 86_400_000 == 0
