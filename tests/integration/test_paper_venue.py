"""The paper venue in process, following a simulator that plays the real exchange: klines,
time and stream frames are the source's; orders fill on the paper venue along the source's
prices; candles the stream missed are walked after the (re)connection, so a stop the market
crossed meanwhile still fires; the source is only ever read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN
from decimal import Decimal as D
from typing import Any

import aiohttp
import orjson
import pytest_asyncio

from greenlight.core.candlefile import read_candles
from sim.client import SignedClient
from sim.paper.server import PaperConfig, PaperServer
from sim.server import SimAccount, SimConfig, SimServer
from sim.slippage import Slippage
from sim.spot.orders import OrderRequest
from tests.helpers import eventually
from tests.integration.sim_support import BTC, DATA

TF = 900_000
HISTORY = 300
SLIP = Slippage(D(5), D("0.02"))
PUBLIC = {"GET /api/v3/exchangeInfo", "GET /api/v3/klines", "GET /api/v3/time"}
KEY, SECRET = "paper-key", "paper-secret"


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        history_candles=HISTORY,
        start_paused=True,
        accounts={"someone": SimAccount("s", {"USDT": D(1)})},
    )
    server = SimServer(config, {"BTCUSDT": read_candles(BTC).slice(0, 400)})
    await server.start()
    yield server
    await server.stop()


def paper_server(upstream: SimServer) -> PaperServer:
    return PaperServer(
        PaperConfig(
            market_url=upstream.base_url,
            symbols=("BTCUSDT",),
            intervals=("15m",),
            range_interval="15m",
            api_key=KEY,
            api_secret=SECRET,
            balances={"USDT": D(10000), "BTC": D(1)},
            slippage=SLIP,
            poll_s=0.05,
        )
    )


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with http.get(url, params=params) as resp:
        return resp.status, orjson.loads(await resp.read())


async def test_klines_time_and_frames_are_the_sources(upstream: SimServer) -> None:
    server = paper_server(upstream)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            p, u = server.base_url, upstream.base_url
            for params in ({"limit": "5"}, {"startTime": str(_first_open(upstream) + 10 * TF)}):
                query = {"symbol": "BTCUSDT", "interval": "15m", **params}
                assert await get(http, f"{p}/api/v3/klines", **query) == await get(
                    http, f"{u}/api/v3/klines", **query
                )
            assert await get(http, f"{p}/api/v3/time") == await get(http, f"{u}/api/v3/time")
            # an interval the venue does not follow is the source's answer, passed through
            hourly = {"symbol": "BTCUSDT", "interval": "1h"}
            answer = await get(http, f"{p}/api/v3/klines", **hourly)
            assert answer == await get(http, f"{u}/api/v3/klines", **hourly)
            assert answer[0] == 400 and answer[1]["code"] == -1120
            # the stream frames are the source's own, after the venue moved its prices
            await eventually(lambda: _connected(server), 10, "the paper venue's stream")
            names = "btcusdt@kline_15m"
            async with (
                http.ws_connect(f"{p.replace('http', 'ws')}/stream?streams={names}") as pws,
                http.ws_connect(f"{u.replace('http', 'ws')}/stream?streams={names}") as uws,
            ):
                await _post(http, f"{u}/sim/admin/advance", {"ms": TF})
                mine = [await pws.receive_json(timeout=10) for _ in range(3)]
                theirs = [await uws.receive_json(timeout=10) for _ in range(3)]
            assert mine == theirs and mine[-1]["data"]["k"]["x"] is True
            # its clock is the source's: pause, speed and advance are the source's to do
            async with http.post(f"{p}/sim/admin/pause") as resp:
                assert resp.status == 400 and (await resp.json())["code"] == -1130
            status = (await get(http, f"{p}/sim/admin/status"))[1]
            assert status["paper"]["source"] == u and status["paper"]["connected"] is True
            requests = (await get(http, f"{u}/sim/admin/status"))[1]["rest_requests"]
            assert set(requests) <= PUBLIC, requests
    finally:
        await server.stop()


async def test_a_stop_crossed_while_the_stream_was_away_fills_on_the_way_back(
    upstream: SimServer,
) -> None:
    """The candles that pass while the venue is not connected are read over REST and
    walked in order: a resting stop fills at its level less the slippage of the candle that
    crossed it; then a dropped stream is reconnected and followed again."""
    server = paper_server(upstream)
    state = await server.connect_source()  # rules, clock and history; not streaming yet
    ahead = read_candles(BTC).slice(HISTORY, HISTORY + 8)  # what the upstream replays next
    last, low = state.last_price("BTCUSDT"), D(repr(float(ahead.low.min())))
    assert low < last
    stop = ((last + low) / 2).quantize(D("0.01"))
    resting = OrderRequest("BTCUSDT", "SELL", "STOP_LOSS", D("0.5"), stop_price=stop)
    state.exchange.place(KEY, resting, state.replay.now_ms)  # as POST /api/v3/order would
    async with aiohttp.ClientSession() as http:
        await _post(http, f"{upstream.base_url}/sim/admin/advance", {"ms": 8 * TF})
        await server.start(state)  # connects, reads the 8 candles it missed, walks them
        try:
            client = SignedClient(http, server.base_url, KEY, SECRET)

            async def filled() -> dict[str, Any] | None:
                query = {"symbol": "BTCUSDT", "orderId": "1"}
                _, order, _ = await client.call("GET", "/api/v3/order", query)
                return order if order.get("status") == "FILLED" else None

            order = await eventually(filled, 10, "the stop to fill")
            i = next(i for i in range(8) if D(repr(float(ahead.low[i]))) <= stop)
            rng = D(repr(float(ahead.high[i]))) - D(repr(float(ahead.low[i])))
            price = stop - SLIP.amount(stop, rng)
            assert D(order["cummulativeQuoteQty"]) == price.quantize(
                D("0.01"), ROUND_HALF_EVEN
            ) * D("0.5")
            # a dropped stream is reconnected and followed again
            await _post(http, f"{upstream.base_url}/sim/admin/drop-streams", {})
            await eventually(lambda: _reconnected(server), 10, "a reconnection")
            up = await _post(http, f"{upstream.base_url}/sim/admin/advance", {"ms": TF})
            await eventually(lambda: _at(server, up["server_time"]), 10, "the clock to follow")
            requests = (await get(http, f"{upstream.base_url}/sim/admin/status"))[1]
            assert set(requests["rest_requests"]) <= PUBLIC, requests["rest_requests"]
        finally:
            await server.stop()


async def test_each_symbol_follows_the_intervals_its_source_serves() -> None:
    """A finer interval drives the prices where the source has it (XRPUSDT: 5m data served
    at 5m and 15m); a symbol without it is followed on the trading timeframe alone and the
    finer klines are the source's refusal (the simulator never invents candles)."""
    xrp = DATA / "XRPUSDT-perp-5m-futures.csv"
    sources = [
        SimServer(
            SimConfig(files=files, sub_intervals=("5m",), history_candles=30, start_paused=True)
        )
        for files in ({"XRPUSDT": xrp}, {"BTCUSDT": BTC})
    ]
    for source in sources:
        await source.start()
    servers = [
        PaperServer(
            PaperConfig(
                market_url=src.base_url,
                symbols=(symbol,),
                intervals=("5m", "15m"),
                range_interval="15m",
                api_key=KEY,
                api_secret=SECRET,
            )
        )
        for src, symbol in zip(sources, ("XRPUSDT", "BTCUSDT"), strict=True)
    ]
    try:
        for server in servers:
            await server.start()
        xrp_paper, btc_paper = servers
        assert xrp_paper.state is not None and btc_paper.state is not None
        assert xrp_paper.state.feed.intervals_of == {"XRPUSDT": ("5m", "15m")}
        assert btc_paper.state.feed.intervals_of == {"BTCUSDT": ("15m",)}
        async with aiohttp.ClientSession() as http:
            for (src, symbol), server in zip(
                ((sources[0], "XRPUSDT"), (sources[1], "BTCUSDT")), servers, strict=True
            ):
                await eventually(lambda s=server: _connected(s), 10, "the stream")
                up = await _post(http, f"{src.base_url}/sim/admin/advance", {"ms": TF})
                await eventually(lambda s=server, t=up["server_time"]: _at(s, t), 10, "a step")
                for interval in ("5m", "15m"):
                    query = {"symbol": symbol, "interval": interval, "limit": "4"}
                    mine = await get(http, f"{server.base_url}/api/v3/klines", **query)
                    assert mine == await get(http, f"{src.base_url}/api/v3/klines", **query)
            refused = await get(
                http, f"{btc_paper.base_url}/api/v3/klines", symbol="BTCUSDT", interval="5m"
            )
            assert refused[0] == 400 and refused[1]["code"] == -1120
    finally:
        for server in servers:
            await server.stop()
        for source in sources:
            await source.stop()


def _first_open(upstream: SimServer) -> int:
    assert upstream.state is not None
    return int(upstream.state.spot.candles["BTCUSDT"].open_time[0])


async def _connected(server: PaperServer) -> bool:
    return server.state is not None and server.state.feed.connected


async def _reconnected(server: PaperServer) -> bool:
    return (
        server.state is not None
        and server.state.feed.reconnects >= 1
        and server.state.feed.connected
    )


async def _at(server: PaperServer, t: int) -> bool:
    return server.state is not None and server.state.feed.now_ms >= t


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with http.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()
