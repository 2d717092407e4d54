"""The Binance spot adapter against the simulator: signing, clock, errors, typed answers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import pytest_asyncio

from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from router.errors import (
    AuthError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
)
from router.venues.base import NewOrder
from router.venues.binance_spot import BinanceSpot, VenueConfig
from sim.server import SimAccount, SimConfig, SimServer
from tests.conftest import DATA


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / Path("BTCUSDT-15m-2019-2020.csv.gz")},
            start_paused=True,
            accounts={SIM_DEMO_API_KEY: SimAccount(SIM_DEMO_API_SECRET, {"USDT": D("1000")})},
        )
    )
    await server.start()
    yield server
    await server.stop()


def adapter(sim: SimServer, secret: str = SIM_DEMO_API_SECRET) -> BinanceSpot:
    return BinanceSpot(
        VenueConfig("sim", sim.base_url, sim.ws_url + "/ws-api/v3", SIM_DEMO_API_KEY, secret)
    )


async def test_rules_orders_and_typed_errors(sim: SimServer) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def observe(
        method: str, path: str, params: dict[str, str], status: object, body: object
    ) -> None:
        seen.append((method, path, params))

    venue = BinanceSpot(adapter(sim).config, observer=observe)
    await venue.start()
    try:
        rules = await venue.rules("BTCUSDT")
        assert rules.base_asset == "BTC" and rules.tick_size == D("0.01")
        order = NewOrder("BTCUSDT", "BUY", "MARKET", D("0.01"), "gl-1-E")
        report = await venue.place_order(order)
        assert report.status == "FILLED" and report.fills and report.client_order_id == "gl-1-E"
        assert sum(f.qty for f in report.fills) == report.executed_qty == D("0.01")
        queried = await venue.query_order("BTCUSDT", "gl-1-E")
        assert queried.order_id == report.order_id and queried.cum_quote == report.cum_quote
        trades = await venue.trades("BTCUSDT", report.order_id)
        assert {t.trade_id for t in trades} == {f.trade_id for f in report.fills}
        with pytest.raises(OrderNotFoundError):
            await venue.query_order("BTCUSDT", "gl-404-E")
        with pytest.raises(InvalidOrderError, match="LOT_SIZE"):
            await venue.place_order(NewOrder("BTCUSDT", "BUY", "MARKET", D("0.000001"), "gl-2-E"))
        with pytest.raises(InsufficientFundsError):
            await venue.place_order(NewOrder("BTCUSDT", "BUY", "MARKET", D("5"), "gl-3-E"))
        low = rules.round_price(report.cum_quote / report.executed_qty * D("0.9"))
        rest = NewOrder("BTCUSDT", "BUY", "LIMIT", D("0.003"), "gl-4-E", price=low)
        await venue.place_order(rest)
        with pytest.raises(DuplicateOrderError):
            await venue.place_order(rest)
    finally:
        await venue.close()
    # What is observed (and audited) never includes the signature or the secret.
    assert seen and all("signature" not in p and "apiKey" not in p for _, _, p in seen)


async def test_clock_drift_is_resynced_and_retried_once(sim: SimServer) -> None:
    venue = adapter(sim)
    await venue.start()
    try:
        venue.time_offset_ms = -120_000  # our clock is two minutes behind
        balances = await venue.balances()
        assert balances["USDT"] == D("1000")
        # resynced to our own clock: the simulator's serverTime is its replay's market time,
        # whatever hour of the day the replay happens to be at
        assert venue.time_offset_ms == 0
    finally:
        await venue.close()


async def test_wrong_secret_is_an_auth_error(sim: SimServer) -> None:
    venue = adapter(sim, secret="not-the-secret")
    await venue.start()  # unsigned time sync works
    try:
        with pytest.raises(AuthError):
            await venue.balances()
    finally:
        await venue.close()


async def test_ban_is_respected_without_sending_more_requests(sim: SimServer) -> None:
    import aiohttp

    sent: list[str] = []

    async def observe(
        method: str, path: str, params: dict[str, str], status: object, body: object
    ) -> None:
        sent.append(path)

    venue = BinanceSpot(adapter(sim).config, observer=observe)
    await venue.start()
    body = {"kind": "ban", "count": 1, "path": "/api/v3/openOrders", "retry_after": 30}
    url = f"{sim.base_url}/sim/admin/faults"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200
    try:
        with pytest.raises(RateLimitError) as first:
            await venue.open_orders("BTCUSDT")
        assert first.value.http_status == 418 and first.value.retry_after > 25
        calls = len(sent)
        with pytest.raises(RateLimitError, match="rate limited for another"):
            await venue.open_orders("BTCUSDT")
        assert len(sent) == calls  # refused locally: the banned IP sends nothing
    finally:
        await venue.close()


@pytest.mark.parametrize("can_withdraw", [True, False])
async def test_real_binance_keys_that_can_withdraw_are_refused(can_withdraw: bool) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def server_time(request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def restrictions(request: web.Request) -> web.Response:
        assert "signature" in request.query and request.headers["X-MBX-APIKEY"] == "k"
        body = {"ipRestrict": False, "enableWithdrawals": can_withdraw, "enableReading": True}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v3/time", server_time)
    app.router.add_get("/sapi/v1/account/apiRestrictions", restrictions)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    venue = BinanceSpot(VenueConfig("binance", base, "ws://127.0.0.1:1", "k", "s"))
    try:
        if can_withdraw:
            with pytest.raises(AuthError, match="can withdraw"):
                await venue.start()
        else:
            await venue.start()
    finally:
        await venue.close()
        await server.close()
