"""The paper venue's aiohttp application: the simulator's routes, with klines from the live
cache (or the source) and the admin endpoints that make sense for a live clock."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from aiohttp import web

from sim import admin
from sim.app import binance_middleware
from sim.errors import SimError, mandatory
from sim.http_util import p_int, read_params, reject_unknown
from sim.paper.state import PaperState
from sim.spot import rest_lists, rest_market, rest_replace, rest_trade, streams, userdata
from sim.state import STATE, SimState
from sim.streams import serve

PAPER: web.AppKey[PaperState] = web.AppKey("paper_state", PaperState)
KLINE_PARAMS = {"symbol", "interval", "startTime", "endTime", "limit", "timeZone"}


async def klines(request: web.Request) -> web.Response:
    """``GET /api/v3/klines`` / ``uiKlines``: from the cache of the streams followed, else
    passed through to the market-data source unchanged."""
    st = request.app[PAPER]
    params, _, _ = await read_params(request)
    reject_unknown(params, KLINE_PARAMS)
    symbol, interval = params.get("symbol", ""), params.get("interval", "")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in st.rules:
        raise SimError(-1121, "Invalid symbol.")
    if not interval:
        raise mandatory("interval")
    if interval not in rest_market.INTERVALS:
        raise SimError(-1120, "Invalid interval.")
    limit = p_int(params, "limit")
    limit = 500 if limit is None else limit
    if limit < 1:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    start, end = p_int(params, "startTime"), p_int(params, "endTime")
    rows = None
    if "timeZone" not in params:
        rows = st.feed.cache.select(
            symbol, interval, start, end, min(limit, rest_market.MAX_KLINES)
        )
    if rows is not None:
        return web.json_response(rows)
    try:
        status, body = await st.feed.upstream.get(request.path, list(request.query.items()))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SimError(-1001, f"Market-data source unavailable: {exc!r}", 503) from None
    return web.Response(body=body, status=status, content_type="application/json")


async def status(request: web.Request) -> web.Response:
    """``GET /sim/admin/status``: the simulator's status plus the source followed."""
    if request.remote not in admin.LOOPBACK:  # as every admin endpoint
        raise SimError(-1002, "Admin endpoints are only served to loopback clients.", 403)
    paper = request.app[PAPER].paper_status()
    return web.json_response(admin.status_of(request.app[STATE]) | {"paper": paper})


def build_paper_app(
    state: PaperState,
    secrets: Mapping[str, str],
    ws_ping_interval: float = 20.0,
    ws_max_age: float = 86_400.0,
) -> web.Application:
    """REST, market streams, WS-API, user data and admin on one port, as ``greenlight sim``:
    ``state`` is the spot market of a simulator state with no USD-M market."""
    app = web.Application(middlewares=[binance_middleware])
    app[STATE] = SimState(state, None, secrets)
    app[PAPER] = state
    app[serve.PING_INTERVAL] = ws_ping_interval
    app[serve.FUT_PING_INTERVAL] = ws_ping_interval
    app[serve.MAX_AGE] = ws_max_age
    r = app.router
    r.add_get("/api/v3/ping", rest_market.ping)
    r.add_get("/api/v3/time", rest_market.server_time)
    r.add_get("/api/v3/exchangeInfo", rest_market.get_exchange_info)
    r.add_get("/api/v3/klines", klines)
    r.add_get("/api/v3/uiKlines", klines)
    r.add_get("/api/v3/ticker/price", rest_market.ticker_price)
    r.add_get("/api/v3/avgPrice", rest_market.avg_price)
    rest_trade.add_routes(app)
    rest_lists.add_routes(app)
    rest_replace.add_routes(app)
    streams.add_routes(app)
    userdata.add_routes(app)
    r.add_get("/sim/admin/status", status)
    for path, handler in (
        ("pause", admin.pause),  # answered -1130: the source's clock rules
        ("resume", admin.resume),
        ("speed", admin.speed),
        ("advance", admin.advance),
        ("drop-streams", admin.drop_streams),
        ("server-shutdown", admin.server_shutdown),
        ("faults", admin.faults),
        ("faults/clear", admin.clear_faults),
        ("drop-user-streams", admin.drop_user_streams),
    ):
        r.add_post(f"/sim/admin/{path}", handler)
    r.add_get("/sim/admin/faults", admin.list_faults)
    r.add_delete("/sim/admin/faults", admin.faults)
    return app
