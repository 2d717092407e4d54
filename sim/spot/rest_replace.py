"""``POST /api/v3/order/cancelReplace``: cancel an order and place a new one in one request.

``cancelReplaceMode`` STOP_ON_FAILURE: a failed cancel stops there (HTTP 400 ``-2022``, new
order NOT_ATTEMPTED). ALLOW_FAILURE: the new order is placed even when the cancel failed.
One part failing while the other succeeded is HTTP 409 ``-2021`` "Order cancel-replace
partially failed."; both failing is HTTP 400 ``-2022`` "Order cancel-replace failed.". Both
carry ``data`` with ``cancelResult``, ``newOrderResult``, ``cancelResponse`` and
``newOrderResponse`` (an error is ``{"code", "msg"}`` there). Parameter errors of the new
order (shape, unknown values) are answered plainly before anything is cancelled.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import Params, p_client_id, p_int, p_str
from sim.spot.payloads import cancel_result, order_result
from sim.spot.rest_params import ORDER_PARAMS, parse_order, resp_type
from sim.spot.rest_trade import signed
from sim.spot.state import SpotState
from sim.state import STATE

REPLACE_PARAMS = ORDER_PARAMS | {
    "cancelReplaceMode",
    "cancelOrderId",
    "cancelOrigClientOrderId",
    "cancelNewClientOrderId",
    "cancelRestrictions",
    "orderRateLimitExceededMode",
}
MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
RESTRICTIONS = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")


def _cancel(st: SpotState, key: str, params: Params, now: int) -> dict[str, Any]:
    """Cancel the target order; returns the cancel report (raises :class:`SimError`)."""
    symbol = p_str(params, "symbol")
    order_id = p_int(params, "cancelOrderId")
    client_id = params.get("cancelOrigClientOrderId") or None
    found = st.exchange.find_order(key, symbol, order_id, client_id)
    restriction = params.get("cancelRestrictions")
    if found is not None and found.is_open and restriction and found.status != restriction[5:]:
        raise SimError(-2011, "Order was not canceled due to cancel restrictions.")
    new_id = p_client_id(params, "cancelNewClientOrderId")
    out = st.exchange.cancel(key, symbol, order_id, client_id, now, new_id)
    st.publish(out.events)
    target = next((o for o in out.orders if found is not None and o is found), out.orders[0])
    return cancel_result(target, now)


def _check(params: Params) -> str:
    mode = params.get("cancelReplaceMode", "")
    if not mode:
        raise mandatory("cancelReplaceMode")
    if mode not in MODES:
        raise SimError(-1145, "Invalid cancelReplaceMode.")
    if not params.get("cancelOrderId") and not params.get("cancelOrigClientOrderId"):
        raise SimError(
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, "
            "but both were empty/null!",
        )
    restriction = params.get("cancelRestrictions")
    if restriction and restriction not in RESTRICTIONS:
        raise SimError(
            -1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED."
        )
    return mode


def _error(err: SimError) -> dict[str, Any]:
    return {"code": err.code, "msg": err.msg}


@signed(REPLACE_PARAMS)
async def cancel_replace(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/order/cancelReplace`` (see module docstring)."""
    mode = _check(params)
    req = parse_order({k: v for k, v in params.items() if k in ORDER_PARAMS})
    rt = resp_type(params, req.type)
    now = st.replay.now_ms
    data: dict[str, Any] = {"cancelResult": "SUCCESS", "newOrderResult": "NOT_ATTEMPTED"}
    try:
        data["cancelResponse"] = _cancel(st, key, params, now)
    except SimError as err:
        data |= {"cancelResult": "FAILURE", "cancelResponse": _error(err)}
        if mode == "STOP_ON_FAILURE":
            return _failed(data | {"newOrderResponse": None}, partial=False)
    try:
        out = st.exchange.place(key, req, now)
    except SimError as err:
        data |= {"newOrderResult": "FAILURE", "newOrderResponse": _error(err)}
        return _failed(data, partial=data["cancelResult"] == "SUCCESS")
    st.publish(out.events)
    request.app[STATE].counters.add_order(key)
    data |= {
        "newOrderResult": "SUCCESS",
        "newOrderResponse": order_result(out.orders[0], now, rt, out.trades),
    }
    if data["cancelResult"] == "FAILURE":
        return _failed(data, partial=True)
    return data


def _failed(data: dict[str, Any], partial: bool) -> web.Response:
    if partial:
        body = {"code": -2021, "msg": "Order cancel-replace partially failed.", "data": data}
        return web.json_response(body, status=409)
    body = {"code": -2022, "msg": "Order cancel-replace failed.", "data": data}
    return web.json_response(body, status=400)


def add_routes(app: web.Application) -> None:
    """Register the cancel-replace endpoint."""
    app.router.add_post("/api/v3/order/cancelReplace", cancel_replace)
