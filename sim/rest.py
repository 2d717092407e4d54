"""The simulator's aiohttp application: routes plus the error/weight middleware."""

from __future__ import annotations

from aiohttp import web

from sim import (
    admin,
    fut_rest,
    fut_rest_account,
    fut_rest_trade,
    fut_streams,
    rest_lists,
    rest_market,
    rest_trade,
    streams,
    userdata,
)
from sim.errors import SimError
from sim.faults import after, before
from sim.http_util import Handler, error_response
from sim.limits import ban_message, too_much_message
from sim.state import STATE, SimState

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
    weight = WEIGHTS.get(request.path, 1)
    if request.path in ZERO_WEIGHT_POSTS and request.method != "GET":
        weight = 1 if request.path == "/api/v3/order" else 0
    limited = _limit(request, weight)
    if isinstance(limited, web.Response):
        return limited
    used = limited
    fault = st.faults.take(request)
    replaced = before(fault) if fault is not None else None
    if replaced is not None:
        return replaced
    try:
        resp = await handler(request)
    except SimError as err:
        resp = error_response(err)
    if fault is not None:
        resp = after()
    if not resp.prepared:
        resp.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
    return resp


def build_app(
    state: SimState, ws_ping_interval: float = 20.0, ws_max_age: float = 86_400.0
) -> web.Application:
    """The application serving REST, market streams, WS-API and admin on one port."""
    app = web.Application(middlewares=[binance_middleware])
    app[STATE] = state
    app[streams.PING_INTERVAL] = ws_ping_interval
    app[streams.MAX_AGE] = ws_max_age
    rest_market.add_routes(app)
    rest_trade.add_routes(app)
    rest_lists.add_routes(app)
    streams.add_routes(app)
    userdata.add_routes(app)
    fut_rest.add_routes(app)
    fut_rest_trade.add_routes(app)
    fut_rest_account.add_routes(app)
    fut_streams.add_routes(app)
    admin.add_routes(app)
    return app
