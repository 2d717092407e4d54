"""SIGNED USD-M order endpoints: ``/fapi/v1/order``, ``batchOrders``, open/all orders,
user trades and the algo (conditional) order endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from sim.errors import SimError
from sim.http_util import (
    Handler,
    Params,
    authenticate,
    p_int,
    read_params,
    reject_unknown,
)
from sim.state import STATE
from sim.usdm.models import FutOrder, FutOutcome, OrderUpdate
from sim.usdm.params import ALGO_PARAMS, ORDER_PARAMS, parse_algo, parse_order, resp_type
from sim.usdm.payloads import algo_json, order_json, trade_json
from sim.usdm.rest import fsymbol
from sim.usdm.state import FutState

FutHandler = Callable[[web.Request, FutState, str, Params], Awaitable[Any]]
DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def fsigned(allowed: frozenset[str] | set[str]) -> Callable[[FutHandler], Handler]:
    """SIGNED futures handler: authentication, unknown-parameter rejection, JSON answer."""

    def deco(fn: FutHandler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            st = request.app[STATE]
            params, raw_query, raw_body = await read_params(request)
            fut = st.futures
            market = fut.replay.now_ms if fut is not None else st.spot.replay.now_ms
            key = authenticate(request, params, raw_query, raw_body, st.secrets, market)
            if fut is None:
                raise SimError(-1121, "Invalid symbol. (this simulator serves no USD-M symbols)")
            fut.book.account(key)
            reject_unknown(params, allowed)
            result = await fn(request, fut, key, params)
            return result if isinstance(result, web.StreamResponse) else web.json_response(result)

        handler.__doc__ = fn.__doc__
        return handler

    return deco


def _counted(request: web.Request, key: str, body: Any, n: int = 1) -> web.Response:
    counters = request.app[STATE].counters
    for _ in range(n):
        counters.add_order(key)
    headers = {
        "X-MBX-ORDER-COUNT-10S": str(counters.recent_orders(key, 10)),
        "X-MBX-ORDER-COUNT-1M": str(counters.recent_orders(key, 60)),
    }
    return web.json_response(body, headers=headers)


def _ids(params: Params, id_name: str, client_name: str) -> tuple[int | None, str | None]:
    oid, cid = p_int(params, id_name), params.get(client_name) or None
    if oid is None and cid is None:
        raise SimError(
            -1102, f"Param '{client_name}' or '{id_name}' must be sent, but both were empty/null!"
        )
    return oid, cid


def _place(fut: FutState, key: str, params: Params) -> dict[str, Any]:
    req = parse_order(params)
    rt = resp_type(params)
    fsymbol(fut, params)
    out = fut.book.place(key, req, fut.replay.now_ms)
    fut.publish(out.events)
    first = out.events[0]
    if rt == "ACK" and isinstance(first, OrderUpdate):
        return order_json(first.order)  # the order as accepted, before any fill
    return order_json(out.orders[0])


@fsigned(ORDER_PARAMS)
async def new_order(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``POST /fapi/v1/order``."""
    return _counted(request, key, _place(fut, key, params))


@fsigned({"batchOrders"})
async def batch_orders(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``POST /fapi/v1/batchOrders``: up to 5 orders; each answer is an order or an error."""
    try:
        items = orjson.loads(params.get("batchOrders", ""))
    except orjson.JSONDecodeError:
        raise SimError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
    if not isinstance(items, list) or not 1 <= len(items) <= 5:
        raise SimError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    answers: list[Any] = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise SimError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
            sub = {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()
            }
            reject_unknown(sub, ORDER_PARAMS)
            answers.append(_place(fut, key, sub))
        except SimError as err:
            answers.append({"code": err.code, "msg": err.msg})
    return _counted(request, key, answers, len(items))


@fsigned({"symbol", "orderId", "origClientOrderId"})
async def get_order(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/order`` (and ``/fapi/v1/openOrder`` for open ones)."""
    symbol = fsymbol(fut, params)
    oid, cid = _ids(params, "orderId", "origClientOrderId")
    order = fut.book.find(key, symbol, oid, cid)
    if order is None or (request.path.endswith("openOrder") and not order.is_open):
        raise SimError(-2013, "Order does not exist.")
    return order_json(order, with_time=True)


@fsigned({"symbol", "orderId", "origClientOrderId"})
async def cancel_order(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``DELETE /fapi/v1/order``."""
    symbol = fsymbol(fut, params)
    oid, cid = _ids(params, "orderId", "origClientOrderId")
    out = fut.book.cancel(key, symbol, oid, cid, fut.replay.now_ms)
    fut.publish(out.events)
    return order_json(out.orders[0])


@fsigned({"symbol"})
async def open_orders(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/openOrders``."""
    symbol = fsymbol(fut, params) if params.get("symbol") else None
    return [order_json(o, with_time=True) for o in fut.book.open_orders(key, symbol)]


@fsigned({"symbol"})
async def cancel_all(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``DELETE /fapi/v1/allOpenOrders``."""
    symbol = fsymbol(fut, params)
    now = fut.replay.now_ms
    for o in fut.book.open_orders(key, symbol):
        fut.publish(fut.book.cancel(key, symbol, o.order_id, None, now).events)
    return DONE


def _window(items: list[Any], params: Params, time_of: Callable[[Any], int], cap: int) -> list[Any]:
    start, end = p_int(params, "startTime"), p_int(params, "endTime")
    limit = p_int(params, "limit")
    limit = min(500, cap) if limit is None else limit
    if limit < 1 or limit > cap:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    items = [x for x in items if (start is None or time_of(x) >= start)]
    items = [x for x in items if (end is None or time_of(x) <= end)]
    return items[:limit] if start is not None else items[-limit:]


@fsigned({"symbol", "orderId", "startTime", "endTime", "limit"})
async def all_orders(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/allOrders``."""
    symbol = fsymbol(fut, params)
    from_id = p_int(params, "orderId") or 0
    orders = [
        o
        for o in fut.book.orders.values()
        if o.account == key and o.symbol == symbol and o.order_id >= from_id
    ]
    return [order_json(o, True) for o in _window(orders, params, lambda o: o.time, 1000)]


@fsigned({"symbol", "orderId", "startTime", "endTime", "fromId", "limit"})
async def user_trades(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/userTrades``."""
    symbol = fsymbol(fut, params)
    oid, from_id = p_int(params, "orderId"), p_int(params, "fromId") or 0
    trades = [
        t
        for t in fut.book.trades
        if t.account == key
        and t.symbol == symbol
        and (oid is None or t.order_id == oid)
        and t.trade_id >= from_id
    ]
    return [trade_json(t) for t in _window(trades, params, lambda t: t.time, 1000)]


# ---- algo orders -------------------------------------------------------------------------
@fsigned(ALGO_PARAMS)
async def new_algo(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``POST /fapi/v1/algoOrder``."""
    req = parse_algo(params)
    resp_type(params)
    fsymbol(fut, params)
    algo, out = fut.desk.place(key, req, fut.replay.now_ms)
    fut.publish(out.events)
    return _counted(request, key, algo_json(algo))


def _actual(fut: FutState, actual_id: int | None) -> FutOrder | None:
    return fut.book.orders.get(actual_id) if actual_id is not None else None


@fsigned({"algoId", "clientAlgoId", "symbol"})
async def get_algo(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/algoOrder``."""
    aid, cid = _ids(params, "algoId", "clientAlgoId")
    algo = fut.desk.find(key, aid, cid)
    if algo is None:
        raise SimError(-2013, "Order does not exist.")
    return algo_json(algo, _actual(fut, algo.actual_order_id))


@fsigned({"algoId", "clientAlgoId", "symbol"})
async def cancel_algo(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``DELETE /fapi/v1/algoOrder``."""
    aid, cid = _ids(params, "algoId", "clientAlgoId")
    algo, out = fut.desk.cancel(key, aid, cid, fut.replay.now_ms)
    fut.publish(out.events)
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "code": "200",
        "msg": "success",
    }


@fsigned({"symbol", "algoType", "algoId"})
async def open_algos(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/openAlgoOrders``."""
    symbol = fsymbol(fut, params) if params.get("symbol") else None
    return [algo_json(a) for a in fut.desk.open_algos(key, symbol)]


@fsigned({"symbol", "algoId", "startTime", "endTime", "page", "limit"})
async def all_algos(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/allAlgoOrders``."""
    symbol = fsymbol(fut, params)
    algos = [a for a in fut.desk.algos.values() if a.account == key and a.req.symbol == symbol]
    return [
        algo_json(a, _actual(fut, a.actual_order_id))
        for a in _window(algos, params, lambda a: a.create_time, 100)
    ]


@fsigned({"symbol"})
async def cancel_all_algos(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``DELETE /fapi/v1/algoOpenOrders``."""
    symbol = fsymbol(fut, params)
    now = fut.replay.now_ms
    out = FutOutcome()
    for a in fut.desk.open_algos(key, symbol):
        out.events.extend(fut.desk.cancel(key, a.algo_id, None, now)[1].events)
    fut.publish(out.events)
    return DONE


def add_routes(app: web.Application) -> None:
    """Register the SIGNED futures order endpoints."""
    r = app.router
    r.add_post("/fapi/v1/order", new_order)
    r.add_get("/fapi/v1/order", get_order)
    r.add_get("/fapi/v1/openOrder", get_order)
    r.add_delete("/fapi/v1/order", cancel_order)
    r.add_post("/fapi/v1/batchOrders", batch_orders)
    r.add_get("/fapi/v1/openOrders", open_orders)
    r.add_delete("/fapi/v1/allOpenOrders", cancel_all)
    r.add_get("/fapi/v1/allOrders", all_orders)
    r.add_get("/fapi/v1/userTrades", user_trades)
    r.add_post("/fapi/v1/algoOrder", new_algo)
    r.add_get("/fapi/v1/algoOrder", get_algo)
    r.add_delete("/fapi/v1/algoOrder", cancel_algo)
    r.add_get("/fapi/v1/openAlgoOrders", open_algos)
    r.add_get("/fapi/v1/allAlgoOrders", all_algos)
    r.add_delete("/fapi/v1/algoOpenOrders", cancel_all_algos)
