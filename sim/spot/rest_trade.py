"""SIGNED spot trading and account endpoints (and the legacy listenKey endpoints)."""

from __future__ import annotations

import secrets as pysecrets
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import (
    Handler,
    Params,
    authenticate,
    check_api_key,
    p_client_id,
    p_int,
    p_str,
    read_params,
    reject_unknown,
)
from sim.spot.orders import Order, Outcome
from sim.spot.payloads import (
    cancel_result,
    fmt,
    order_list_json,
    order_query,
    order_result,
    trade_json,
)
from sim.spot.rest_params import OCO_PARAMS, ORDER_PARAMS, parse_oco, parse_order, resp_type
from sim.spot.state import SpotState
from sim.state import STATE

SignedHandler = Callable[[web.Request, SpotState, str, Params], Awaitable[Any]]


def signed(allowed: frozenset[str] | set[str]) -> Callable[[SignedHandler], Handler]:
    """Wrap a handler with SIGNED authentication and unknown-parameter rejection; the
    wrapped handler returns a JSON-able value or a response."""

    def deco(fn: SignedHandler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            st = request.app[STATE]
            params, raw_query, raw_body = await read_params(request)
            now = st.spot.replay.now_ms
            key = authenticate(request, params, raw_query, raw_body, st.secrets, now)
            reject_unknown(params, allowed)
            result = await fn(request, st.spot, key, params)
            return result if isinstance(result, web.StreamResponse) else web.json_response(result)

        handler.__doc__ = fn.__doc__
        return handler

    return deco


def _order_counted(request: web.Request, key: str, body: Any, n: int = 1) -> web.Response:
    counters = request.app[STATE].counters
    ten_s = day = 0
    for _ in range(n):
        ten_s, day = counters.add_order(key)
    headers = {"X-MBX-ORDER-COUNT-10S": str(ten_s), "X-MBX-ORDER-COUNT-1D": str(day)}
    return web.json_response(body, headers=headers)


def _ids(params: Params, client_name: str = "origClientOrderId") -> tuple[int | None, str | None]:
    order_id, client_id = p_int(params, "orderId"), params.get(client_name) or None
    if order_id is None and client_id is None:
        raise SimError(
            -1102, f"Param '{client_name}' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, client_id


@signed(ORDER_PARAMS)
async def new_order(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/order``."""
    req = parse_order(params)
    rt = resp_type(params, req.type)
    now = st.replay.now_ms
    out = st.exchange.place(key, req, now)
    st.publish(out.events)
    return _order_counted(request, key, order_result(out.orders[0], now, rt, out.trades))


@signed(ORDER_PARAMS)
async def test_order(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/order/test``: every check, no placement."""
    req = parse_order(params)
    resp_type(params, req.type)
    st.exchange.validate(key, req)
    if params.get("computeCommissionRates") == "true":
        rate, zero = fmt(st.exchange.commission), fmt(0)
        return {
            "standardCommissionForOrder": {"maker": rate, "taker": rate},
            "taxCommissionForOrder": {"maker": zero, "taker": zero},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": zero,
            },
        }
    return {}


@signed({"symbol", "orderId", "origClientOrderId"})
async def get_order(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/order``."""
    order_id, client_id = _ids(params)
    return order_query(st.exchange.get_order(key, p_str(params, "symbol"), order_id, client_id))


def _cancel_body(out: Outcome, requested: Order | None, now: int) -> Any:
    if out.order_list is not None and requested is None:
        reports = [cancel_result(o, now) for o in out.orders]
        return order_list_json(out.order_list, out.orders, reports)
    target = requested or out.orders[0]
    return cancel_result(target, now)


@signed({"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"})
async def cancel_order(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``DELETE /api/v3/order`` (a list leg cancels its whole list)."""
    symbol = p_str(params, "symbol")
    order_id, client_id = _ids(params)
    restriction = params.get("cancelRestrictions")
    if restriction and restriction not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
        raise SimError(
            -1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED."
        )
    found = st.exchange.find_order(key, symbol, order_id, client_id)
    if found is not None and found.is_open and restriction and found.status != restriction[5:]:
        raise SimError(-2011, "Order was not canceled due to cancel restrictions.")
    now = st.replay.now_ms
    out = st.exchange.cancel(
        key, symbol, order_id, client_id, now, p_client_id(params, "newClientOrderId")
    )
    st.publish(out.events)
    requested = next(
        (o for o in out.orders if found is not None and o.order_id == found.order_id), None
    )
    return _cancel_body(out, requested, now)


@signed({"symbol"})
async def open_orders(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/openOrders``."""
    return [order_query(o) for o in st.exchange.open_orders(key, params.get("symbol") or None)]


@signed({"symbol"})
async def cancel_open_orders(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``DELETE /api/v3/openOrders`` (lists are cancelled as lists)."""
    symbol = p_str(params, "symbol")
    now = st.replay.now_ms
    outcomes = st.exchange.cancel_all(key, symbol, now)
    if not outcomes:
        raise SimError(-2011, "Unknown order sent.")
    body = []
    for out in outcomes:
        st.publish(out.events)
        body.append(_cancel_body(out, None, now))
    return body


def _window(items: list[Any], params: Params, time_of: Callable[[Any], int]) -> list[Any]:
    start, end = p_int(params, "startTime"), p_int(params, "endTime")
    limit = p_int(params, "limit") or 500
    if limit < 1 or limit > 1000:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    if start is not None:
        items = [x for x in items if time_of(x) >= start]
    if end is not None:
        items = [x for x in items if time_of(x) <= end]
    return items[:limit] if start is not None else items[-limit:]


@signed({"symbol", "orderId", "startTime", "endTime", "limit"})
async def all_orders(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/allOrders``."""
    orders = st.exchange.all_orders(key, p_str(params, "symbol"))
    from_id = p_int(params, "orderId")
    if from_id is not None:
        orders = [o for o in orders if o.order_id >= from_id]
        params = {k: v for k, v in params.items() if k != "startTime"} | {"startTime": "0"}
    return [order_query(o) for o in _window(orders, params, lambda o: o.time)]


@signed({"symbol", "orderId", "startTime", "endTime", "fromId", "limit"})
async def my_trades(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/myTrades``."""
    trades = st.exchange.account_trades(key, p_str(params, "symbol"))
    order_id, from_id = p_int(params, "orderId"), p_int(params, "fromId")
    if order_id is not None:
        trades = [t for t in trades if t.order_id == order_id]
    if from_id is not None:
        trades = [t for t in trades if t.trade_id >= from_id]
        params = params | {"startTime": "0"}
    return [trade_json(t) for t in _window(trades, params, lambda t: t.time)]


@signed(OCO_PARAMS)
async def new_oco(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/orderList/oco``."""
    req = parse_oco(params)
    now = st.replay.now_ms
    out = st.exchange.place_oco(key, req, now)
    st.publish(out.events)
    assert out.order_list is not None
    reports = [order_result(o, now, "RESULT", []) for o in out.orders]
    body = order_list_json(out.order_list, out.orders, reports)
    return _order_counted(request, key, body, 2)


@signed({"symbol", "orderListId", "listClientOrderId", "newClientOrderId"})
async def cancel_oco(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``DELETE /api/v3/orderList``."""
    symbol = p_str(params, "symbol")
    list_id, list_cid = _ids_list(params, "listClientOrderId")
    now = st.replay.now_ms
    out = st.exchange.cancel_list(key, symbol, list_id, list_cid, now)
    st.publish(out.events)
    return _cancel_body(out, None, now)


def _ids_list(params: Params, client_name: str) -> tuple[int | None, str | None]:
    list_id, list_cid = p_int(params, "orderListId"), params.get(client_name) or None
    if list_id is None and list_cid is None:
        raise SimError(
            -1102, f"Param '{client_name}' or 'orderListId' must be sent, but both were empty/null!"
        )
    return list_id, list_cid


@signed({"orderListId", "origClientOrderId"})
async def get_oco(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/orderList``."""
    list_id, list_cid = _ids_list(params, "origClientOrderId")
    ol = st.exchange.get_list(key, list_id, list_cid)
    return order_list_json(ol, [st.exchange.orders[i] for i in ol.order_ids], None)


@signed({"omitZeroBalances"})
async def account(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``GET /api/v3/account``."""
    acct = st.exchange.account(key)
    rate = st.exchange.commission
    bps = int(rate * 10000)
    balances = [
        {"asset": a, "free": fmt(f), "locked": fmt(lk)}
        for a, f, lk in acct.snapshot()
        if not (params.get("omitZeroBalances") == "true" and f == 0 and lk == 0)
    ]
    rates = {k: fmt(rate) for k in ("maker", "taker")} | {"buyer": fmt(0), "seller": fmt(0)}
    return {
        "makerCommission": bps,
        "takerCommission": bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": rates,
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": acct.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": zlib.crc32(key.encode()),
    }


async def listen_key(request: web.Request) -> web.Response:
    """Legacy ``POST/PUT/DELETE /api/v3/userDataStream`` (API key header, no signature)."""
    st = request.app[STATE]
    key = request.headers.get("X-MBX-APIKEY")
    check_api_key(key, st.secrets)
    assert key is not None
    params, _, _ = await read_params(request)
    keys = st.spot.listen_keys
    if request.method == "POST":
        lk = next((k for k, v in keys.items() if v == key), None)
        lk = lk or pysecrets.token_urlsafe(45)[:60]
        keys[lk] = key
        return web.json_response({"listenKey": lk})
    lk = params.get("listenKey", "")
    if not lk:
        raise mandatory("listenKey")
    if keys.get(lk) != key:
        raise SimError(-1125, "This listenKey does not exist.")
    if request.method == "DELETE":
        del keys[lk]
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    """Register the SIGNED endpoints."""
    r = app.router
    r.add_post("/api/v3/order", new_order)
    r.add_post("/api/v3/order/test", test_order)
    r.add_get("/api/v3/order", get_order)
    r.add_delete("/api/v3/order", cancel_order)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_delete("/api/v3/openOrders", cancel_open_orders)
    r.add_get("/api/v3/allOrders", all_orders)
    r.add_get("/api/v3/myTrades", my_trades)
    r.add_post("/api/v3/orderList/oco", new_oco)
    r.add_delete("/api/v3/orderList", cancel_oco)
    r.add_get("/api/v3/orderList", get_oco)
    r.add_get("/api/v3/account", account)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/api/v3/userDataStream", listen_key)
