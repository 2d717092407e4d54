"""USD-M public endpoints (``/fapi/v1/ping|time|exchangeInfo|klines|premiumIndex|
fundingRate|ticker/price``) and the futures listenKey endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import check_api_key, p_int, read_params, reject_unknown
from sim.spot.rest_market import INTERVALS, select_rows
from sim.state import STATE
from sim.usdm.payloads import num
from sim.usdm.rules import FutRules
from sim.usdm.state import FutState

MAX_KLINES = 1500
ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"]
ORDER_TYPES += ["TRAILING_STOP_MARKET"]


def fstate(request: web.Request) -> FutState:
    """The futures state (``-1121``-style 400 when the simulator serves no futures)."""
    fut = request.app[STATE].futures
    if fut is None:
        raise SimError(-1121, "Invalid symbol. (this simulator serves no USD-M symbols)")
    return fut


def fsymbol(fut: FutState, params: dict[str, str]) -> str:
    """The mandatory ``symbol`` parameter, known to the futures book."""
    symbol = params.get("symbol", "")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in fut.book.rules:
        raise SimError(-1121, "Invalid symbol.")
    return symbol


def symbol_info(r: FutRules) -> dict[str, Any]:
    """One ``symbols[]`` entry of ``/fapi/v1/exchangeInfo``."""
    return {
        "symbol": r.symbol,
        "pair": r.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": r.base,
        "quoteAsset": r.quote,
        "marginAsset": r.quote,
        "pricePrecision": r.price_precision,
        "quantityPrecision": r.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": num(r.min_price),
                "maxPrice": num(r.max_price),
                "tickSize": num(r.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": num(r.min_qty),
                "maxQty": num(r.max_qty),
                "stepSize": num(r.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": num(r.min_qty),
                "maxQty": num(r.market_max_qty),
                "stepSize": num(r.step_size),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": r.max_num_orders},
            {"filterType": "MIN_NOTIONAL", "notional": num(r.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": f"{r.multiplier_up:.4f}",
                "multiplierDown": f"{r.multiplier_down:.4f}",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


async def ping(request: web.Request) -> web.Response:
    """``GET /fapi/v1/ping``."""
    return web.json_response({})


async def server_time(request: web.Request) -> web.Response:
    """``GET /fapi/v1/time``: the USD-M market clock (the spot one when none is served)."""
    st = request.app[STATE]
    replay = st.futures.replay if st.futures is not None else st.spot.replay
    return web.json_response({"serverTime": replay.now_ms})


async def exchange_info(request: web.Request) -> web.Response:
    """``GET /fapi/v1/exchangeInfo`` (no ``MAX_NUM_ALGO_ORDERS`` since 2025-12-29)."""
    fut = fstate(request)
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]
    return web.json_response(
        {
            "timezone": "UTC",
            "serverTime": fut.replay.now_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": limits,
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [symbol_info(r) for r in fut.book.rules.values()],
        }
    )


async def klines(request: web.Request) -> web.Response:
    """``GET /fapi/v1/klines`` (limit default 500, max 1500)."""
    fut = fstate(request)
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol", "interval", "startTime", "endTime", "limit"})
    symbol = fsymbol(fut, params)
    interval = params.get("interval", "")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS or interval == "1s":
        raise SimError(-1120, "Invalid interval.")
    arr, source, ms = fut.intervals.source(symbol, interval)
    limit = p_int(params, "limit")
    limit = 500 if limit is None else limit
    if limit < 1 or limit > MAX_KLINES:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    window = (p_int(params, "startTime"), p_int(params, "endTime"), limit)
    rows = select_rows(arr, source, symbol, ms, window)
    return web.json_response(rows)


async def premium_index(request: web.Request) -> web.Response:
    """``GET /fapi/v1/premiumIndex`` (object with ``symbol``, array without)."""
    fut = fstate(request)
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol"})
    now = fut.replay.now_ms
    if params.get("symbol"):
        return web.json_response(fut.premium_index(fsymbol(fut, params), now))
    return web.json_response([fut.premium_index(s, now) for s in fut.book.rules])


async def funding_rate(request: web.Request) -> web.Response:
    """``GET /fapi/v1/fundingRate`` (past settlements of the replayed history)."""
    fut = fstate(request)
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol", "startTime", "endTime", "limit"})
    limit = p_int(params, "limit")
    limit = 100 if limit is None else limit
    if limit < 1 or limit > 1000:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    symbols = [fsymbol(fut, params)] if params.get("symbol") else list(fut.book.rules)
    start, end = p_int(params, "startTime"), p_int(params, "endTime")
    out: list[dict[str, Any]] = []
    for s in symbols:
        feed = fut.feeds[s]
        upto = fut.clock[s] if end is None else min(end, fut.clock[s])
        for t, rate in feed.history(start, upto, limit):
            mark = fut.book.rules[s].to_price(feed.mark_at(t, float(fut.book.last[s])))
            out.append(
                {"symbol": s, "fundingTime": t, "fundingRate": num(rate), "markPrice": num(mark)}
            )
    out.sort(key=lambda x: x["fundingTime"])
    return web.json_response(out[:limit] if start is not None else out[-limit:])


async def ticker_price(request: web.Request) -> web.Response:
    """``GET /fapi/v1/ticker/price`` and ``/fapi/v2/ticker/price``."""
    fut = fstate(request)
    params, _, _ = await read_params(request)
    now = fut.replay.now_ms

    def item(s: str) -> dict[str, Any]:
        return {"symbol": s, "price": num(fut.book.last[s]), "time": now}

    if params.get("symbol"):
        return web.json_response(item(fsymbol(fut, params)))
    return web.json_response([item(s) for s in fut.book.rules])


async def listen_key(request: web.Request) -> web.Response:
    """``POST|PUT|DELETE /fapi/v1/listenKey`` (API key header, no signature)."""
    st = request.app[STATE]
    fut = fstate(request)
    key = request.headers.get("X-MBX-APIKEY")
    check_api_key(key, st.secrets)
    assert key is not None
    if request.method == "POST":
        return web.json_response({"listenKey": fut.listen_keys.create(key)})
    params, _, _ = await read_params(request)
    lk = params.get("listenKey") or next(
        (k for k, (a, _) in fut.listen_keys.keys.items() if a == key), ""
    )
    if request.method == "DELETE":
        fut.listen_keys.delete(lk)
        return web.json_response({})
    if not fut.listen_keys.keepalive(lk, key):
        raise SimError(-1125, "This listenKey does not exist.")
    return web.json_response({"listenKey": lk})


def add_routes(app: web.Application) -> None:
    """Register the public futures endpoints."""
    r = app.router
    r.add_get("/fapi/v1/ping", ping)
    r.add_get("/fapi/v1/time", server_time)
    r.add_get("/fapi/v1/exchangeInfo", exchange_info)
    r.add_get("/fapi/v1/klines", klines)
    r.add_get("/fapi/v1/premiumIndex", premium_index)
    r.add_get("/fapi/v1/fundingRate", funding_rate)
    r.add_get("/fapi/v1/ticker/price", ticker_price)
    r.add_get("/fapi/v2/ticker/price", ticker_price)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/fapi/v1/listenKey", listen_key)
