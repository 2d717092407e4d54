"""Market-stream rules: bookTicker payloads, serverShutdown, the (compressed) 24-hour
disconnect and the incoming-message cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest_asyncio

from sim.server import SimConfig, SimServer
from tests.helpers import eventually
from tests.integration.sim_support import BTC, DATA, running_sim


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        ws_max_age=2.5,
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
    )
    async with running_sim(config) as server:
        yield server


async def _count(n: int) -> bool:
    return n > 0


async def test_book_ticker_brackets_the_last_price(sim: SimServer) -> None:
    assert sim.state is not None
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/ws/btcusdt@bookTicker")
        await eventually(lambda: _count(len(sim.state.spot.market.conns)), 5, "subscriber")  # type: ignore[union-attr]
        sim.state.spot.replay.step()
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        last = sim.state.spot.exchange.price_of("BTCUSDT")
        assert msg["s"] == "BTCUSDT" and isinstance(msg["u"], int)
        assert Decimal(msg["b"]) == last - Decimal("0.01") and Decimal(msg["a"]) == last + Decimal(
            "0.01"
        )
        await ws.close()


async def test_server_shutdown_then_close_and_max_age(sim: SimServer) -> None:
    assert sim.state is not None and sim.state.futures is not None
    async with aiohttp.ClientSession() as http:
        spot = await http.ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@kline_15m")
        fut = await http.ws_connect(f"{sim.ws_url}/market/ws/xrpusdt@markPrice@1s")
        await eventually(lambda: _count(len(sim.state.futures.market.conns)), 5, "futures")  # type: ignore[union-attr]
        async with http.post(sim.base_url + "/sim/admin/server-shutdown") as r:
            assert (await r.json())["notified"] == 2
        wrapped = await asyncio.wait_for(spot.receive_json(), 5)
        assert wrapped["stream"] == "!serverShutdown" and wrapped["data"]["e"] == "serverShutdown"
        assert (await asyncio.wait_for(fut.receive_json(), 5))["e"] == "serverShutdown"
        for ws in (spot, fut):
            assert (await asyncio.wait_for(ws.receive(), 5)).type == aiohttp.WSMsgType.CLOSE
        aged = await http.ws_connect(f"{sim.ws_url}/ws/btcusdt@kline_15m")
        closing = await asyncio.wait_for(aged.receive(), 5)  # ws_max_age = 2.5 s
        assert closing.type == aiohttp.WSMsgType.CLOSE


async def test_more_than_five_messages_a_second_closes_a_spot_stream(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/ws")
        for i in range(6):
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": i})
        replies = []
        for _ in range(7):  # bounded: 5 replies then the close
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            replies.append(msg.json())
        assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]
        assert msg.type == aiohttp.WSMsgType.CLOSE
