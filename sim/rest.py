"""The simulator's aiohttp application: routes plus the error/weight middleware."""

from __future__ import annotations

from aiohttp import web

from sim import admin, rest_market, rest_trade, streams, userdata
from sim.errors import SimError
from sim.faults import after, before
from sim.http_util import Handler, error_response
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
}


@web.middleware
async def binance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`SimError` into Binance error JSON; add ``X-MBX-USED-WEIGHT-1M``."""
    st = request.app[STATE]
    weight = WEIGHTS.get(request.path, 1)
    if request.path == "/api/v3/order" and request.method != "GET":
        weight = 1
    used = st.counters.add_weight(request.remote or "", weight)
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


def build_app(state: SimState, ws_ping_interval: float = 20.0) -> web.Application:
    """The application serving REST, market streams, WS-API and admin on one port."""
    app = web.Application(middlewares=[binance_middleware])
    app[STATE] = state
    app[streams.PING_INTERVAL] = ws_ping_interval
    rest_market.add_routes(app)
    rest_trade.add_routes(app)
    streams.add_routes(app)
    userdata.add_routes(app)
    admin.add_routes(app)
    return app
