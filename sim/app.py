"""The simulator's aiohttp application: routes plus the error/weight middleware."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sim import admin
from sim.errors import SimError
from sim.faults import Fault, after, before, server_error
from sim.http_util import Handler, error_response
from sim.limits import ban_message, too_much_message
from sim.spot import rest_lists, rest_market, rest_replace, rest_trade, streams, userdata
from sim.state import STATE, SimState
from sim.streams import serve
from sim.usdm import modify as fut_modify
from sim.usdm import rest as fut_rest
from sim.usdm import rest_account as fut_rest_account
from sim.usdm import rest_trade as fut_rest_trade
from sim.usdm import streams as fut_streams

WEIGHTS = {
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    "/api/v3/avgPrice": 2,
    "/api/v3/ticker/price": 2,
    "/api/v3/order": 4,
    "/api/v3/openOrders": 6,
    "/api/v3/allOrders": 20,
    "/api/v3/myTrades": 20,
    "/api/v3/account": 20,
    "/api/v3/orderList": 4,
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/klines": 5,
    "/fapi/v1/order": 1,
    "/fapi/v1/allOrders": 5,
    "/fapi/v1/userTrades": 5,
    "/fapi/v2/account": 5,
    "/fapi/v3/account": 5,
    "/fapi/v2/balance": 5,
    "/fapi/v3/balance": 5,
    "/fapi/v2/positionRisk": 5,
    "/fapi/v3/positionRisk": 5,
    "/fapi/v1/batchOrders": 5,
}
ZERO_WEIGHT_POSTS = frozenset({"/api/v3/order", "/fapi/v1/order", "/fapi/v1/algoOrder"})


UNMETERED = ("/sim/admin", "/ws", "/stream", "/market", "/public", "/private")


def _limit(request: web.Request, weight: int) -> web.Response | int:
    """Charge the IP's weight budget: the minute's total, or the 429/418 answer."""
    if request.path.startswith(UNMETERED):
        return 0
    st = request.app[STATE]
    market = "futures" if request.path.startswith("/fapi") else "spot"
    v = st.limiter.charge(request.remote or "", market, weight)
    if v.status == 200:
        return v.used
    msg = (
        ban_message(v.banned_until_ms)
        if v.status == 418
        else too_much_message(st.limiter.limit_of(market), market)
    )
    headers = {"Retry-After": str(v.retry_after), "X-MBX-USED-WEIGHT-1M": str(v.used)}
    return web.json_response({"code": -1003, "msg": msg}, status=v.status, headers=headers)


@web.middleware
async def binance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`SimError` into Binance error JSON; add ``X-MBX-USED-WEIGHT-1M``."""
    st = request.app[STATE]
    _count(st, request)
    weight = WEIGHTS.get(request.path, 1)
    if request.path in ZERO_WEIGHT_POSTS and request.method != "GET":
        weight = 1 if request.path == "/api/v3/order" else 0
    limited = _limit(request, weight)
    if isinstance(limited, web.Response):
        return limited
    used = limited
    fault = st.faults.take(request, await _signed(request))
    replaced = before(fault) if fault is not None else None
    if replaced is not None:
        return replaced
    if fault is not None and fault.kind == "timeout" and not fault.execute:
        await _hang_up(request, fault)
    try:
        resp = await handler(request)
    except SimError as err:
        resp = error_response(err)
    if fault is not None:
        resp = await _after_fault(request, fault, resp)
    if not resp.prepared:
        resp.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
    return resp


def _count(st: SimState, request: web.Request) -> None:
    """Count a REST request by its route (``GET /api/v3/klines``); streams and admin calls
    are not counted, nor paths that match no route."""
    resource = request.match_info.route.resource
    if resource is None or request.path.startswith(UNMETERED):
        return
    st.requests[f"{request.method} {resource.canonical}"] += 1


async def _signed(request: web.Request) -> bool:
    """Whether the request carries a ``signature`` (query string or form body)."""
    if "signature" in request.query:
        return True
    if request.method in ("GET", "HEAD") or not request.body_exists:
        return False
    return b"signature=" in await request.read()


async def _hang_up(request: web.Request, fault: Fault) -> None:
    """Wait ``delay_ms``, then drop the connection without writing an answer."""
    await asyncio.sleep(fault.delay_ms / 1000)
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # aiohttp ends the handler quietly; nothing is written


async def _after_fault(
    request: web.Request, fault: Fault, resp: web.StreamResponse
) -> web.StreamResponse:
    """Apply a fault to the answer of an executed request (``delay``, ``timeout``,
    ``http_5xx`` with ``execute``, ``unknown_after``)."""
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_ms / 1000)
        return resp
    if fault.kind == "timeout":
        await _hang_up(request, fault)
    if fault.kind == "http_5xx":
        return server_error(fault.status)
    return after()


def build_app(
    state: SimState,
    ws_ping_interval: float = 20.0,
    ws_max_age: float = 86_400.0,
    futures_ws_ping_interval: float = 180.0,
) -> web.Application:
    """The application serving REST, market streams, WS-API and admin on one port."""
    app = web.Application(middlewares=[binance_middleware])
    app[STATE] = state
    app[serve.PING_INTERVAL] = ws_ping_interval
    app[serve.FUT_PING_INTERVAL] = futures_ws_ping_interval
    app[serve.MAX_AGE] = ws_max_age
    rest_market.add_routes(app)
    rest_trade.add_routes(app)
    rest_lists.add_routes(app)
    rest_replace.add_routes(app)
    streams.add_routes(app)
    userdata.add_routes(app)
    fut_rest.add_routes(app)
    fut_rest_trade.add_routes(app)
    fut_modify.add_routes(app)
    fut_rest_account.add_routes(app)
    fut_streams.add_routes(app)
    admin.add_routes(app)
    return app
