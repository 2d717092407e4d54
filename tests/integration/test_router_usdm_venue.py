"""USD-M adapter start-up safety against a stand-in for real Binance (spot + futures hosts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.errors import AuthError, PositionModeError
from router.venues.binance_http import VenueConfig
from router.venues.binance_usdm import BinanceUsdm


class Hosts:
    """A spot host serving ``/sapi`` key restrictions and a futures host serving ``/fapi``."""

    def __init__(self) -> None:
        self.can_withdraw = False
        self.dual = False
        self.seen: list[str] = []

    def spot_app(self) -> web.Application:
        async def restrictions(request: web.Request) -> web.Response:
            assert "signature" in request.query and request.headers["X-MBX-APIKEY"] == "k"
            self.seen.append("spot " + request.path)
            return web.json_response({"enableWithdrawals": self.can_withdraw})

        app = web.Application()
        app.router.add_get("/sapi/v1/account/apiRestrictions", restrictions)
        return app

    def futures_app(self) -> web.Application:
        async def server_time(request: web.Request) -> web.Response:
            return web.json_response({"serverTime": int(time.time() * 1000)})

        async def dual(request: web.Request) -> web.Response:
            assert "signature" in request.query
            self.seen.append("futures " + request.path)
            return web.json_response({"dualSidePosition": self.dual})

        async def algo(request: web.Request) -> web.Response:
            self.seen.append("futures " + request.path)
            row = {
                "algoId": 9,
                "clientAlgoId": request.query["clientAlgoId"],
                "symbol": "XRPUSDT",
                "orderType": "STOP_MARKET",
                "side": "SELL",
                "algoStatus": "NEW",
                "triggerPrice": "0.98",
                "closePosition": True,
            }
            return web.json_response(row, headers={"X-MBX-USED-WEIGHT-1M": "2390"})

        app = web.Application()
        app.router.add_get("/fapi/v1/algoOrder", algo)
        app.router.add_get("/fapi/v1/time", server_time)
        app.router.add_get("/fapi/v1/positionSide/dual", dual)
        return app


@pytest_asyncio.fixture
async def hosts() -> AsyncIterator[tuple[Hosts, VenueConfig]]:
    h = Hosts()
    spot = TestServer(h.spot_app(), host="127.0.0.1")
    fut = TestServer(h.futures_app(), host="127.0.0.1")
    await spot.start_server()
    await fut.start_server()
    cfg = VenueConfig(
        "binance",
        str(fut.make_url("")).rstrip("/"),
        "ws://127.0.0.1:1",
        "k",
        "s",
        sapi_url=str(spot.make_url("")).rstrip("/"),
    )
    yield h, cfg
    await spot.close()
    await fut.close()


async def start(cfg: VenueConfig) -> None:
    venue = BinanceUsdm(cfg)
    try:
        await venue.start()
    finally:
        await venue.close()


async def test_one_way_account_with_trade_only_key_starts(hosts: tuple[Hosts, VenueConfig]) -> None:
    h, cfg = hosts
    await start(cfg)
    assert h.seen == ["spot /sapi/v1/account/apiRestrictions", "futures /fapi/v1/positionSide/dual"]


async def test_key_that_can_withdraw_is_refused(hosts: tuple[Hosts, VenueConfig]) -> None:
    h, cfg = hosts
    h.can_withdraw = True
    with pytest.raises(AuthError, match="can withdraw"):
        await start(cfg)


async def test_hedge_mode_is_refused_with_the_fix(hosts: tuple[Hosts, VenueConfig]) -> None:
    h, cfg = hosts
    h.dual = True
    with pytest.raises(PositionModeError, match="one-way mode"):
        await start(cfg)


async def test_order_lookups_skip_the_weight_back_off(hosts: tuple[Hosts, VenueConfig]) -> None:
    _, cfg = hosts
    venue = BinanceUsdm(cfg)
    try:
        await venue.start()
        await venue.query_algo("XRPUSDT", "gl-1-SL")
        assert venue.used_weight == 2390 >= 0.9 * venue.weight_limit
        # Near the limit a plain GET would wait for the minute to roll over; looking an
        # order up (unknown outcome, reconciliation) goes through at once.
        report = await asyncio.wait_for(venue.query_algo("XRPUSDT", "gl-1-SL"), 2.0)
        assert report.client_algo_id == "gl-1-SL" and report.algo_id == "9"
    finally:
        await venue.close()
