"""``POST /api/v3/orderList/oto`` and ``/api/v3/orderList/otoco``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import Params, p_client_id, p_decimal, p_str
from sim.spot.order_lists import ListExchange
from sim.spot.orders import OrderRequest, OtoRequest, Side
from sim.spot.payloads import order_list_json, order_result
from sim.spot.rest_params import _reject_unsupported, _type, leg_request, p_side
from sim.spot.rest_trade import _order_counted, signed
from sim.spot.state import SpotState

FIELDS = ["Type", "ClientOrderId", "Price", "StopPrice", "TimeInForce", "StrategyId"]
FIELDS += ["StrategyType", "IcebergQty", "TrailingDelta"]
COMMON = ["symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode"]
WORKING = ["workingSide", "workingQuantity"] + [f"working{f}" for f in FIELDS]
OTO_PARAMS = frozenset(COMMON + WORKING + ["pendingSide", "pendingQuantity"])
OTO_PARAMS |= {f"pending{f}" for f in FIELDS}
OTOCO_PARAMS = frozenset(COMMON + WORKING + ["pendingSide", "pendingQuantity"])
OTOCO_PARAMS |= {f"pending{leg}{f}" for leg in ("Above", "Below") for f in FIELDS}


def _leg(params: Params, prefix: str, symbol: str, side: Side, qty: Decimal) -> OrderRequest:
    _reject_unsupported(params, [prefix + "IcebergQty", prefix + "TrailingDelta"])
    otype = _type(p_str(params, f"{prefix}Type"))
    return leg_request(params, prefix, symbol, side, qty, otype)


def _side(params: Params, name: str) -> Side:
    return p_side({"side": p_str(params, name)})


def _qty(params: Params, name: str) -> Decimal:
    qty = p_decimal(params, name)
    if qty is None:
        raise mandatory(name)
    return qty


def parse_oto(params: Params, otoco: bool) -> OtoRequest:
    """Parameters of ``orderList/oto`` (``otoco=False``) or ``orderList/otoco``."""
    symbol = p_str(params, "symbol")
    w_side, w_qty = _side(params, "workingSide"), _qty(params, "workingQuantity")
    working = _leg(params, "working", symbol, w_side, w_qty)
    p_side_, p_qty = _side(params, "pendingSide"), _qty(params, "pendingQuantity")
    if otoco:
        above = _leg(params, "pendingAbove", symbol, p_side_, p_qty)
        below: OrderRequest | None = _leg(params, "pendingBelow", symbol, p_side_, p_qty)
    else:
        above, below = _leg(params, "pending", symbol, p_side_, p_qty), None
    return OtoRequest(symbol, working, above, below, p_client_id(params, "listClientOrderId"))


async def _place(
    request: web.Request, st: SpotState, key: str, params: Params, otoco: bool
) -> web.Response:
    req = parse_oto(params, otoco)
    exchange = st.exchange
    if not isinstance(exchange, ListExchange):
        raise SimError(-1000, "An unknown error occurred while processing the request.")
    now = st.replay.now_ms
    out = exchange.place_oto(key, req, now)
    st.publish(out.events)
    assert out.order_list is not None
    reports = [order_result(o, now, "RESULT", out.trades) for o in out.orders]
    body = order_list_json(out.order_list, out.orders, reports)
    return _order_counted(request, key, body, len(out.orders))


@signed(OTO_PARAMS)
async def new_oto(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/orderList/oto``."""
    return await _place(request, st, key, params, False)


@signed(OTOCO_PARAMS)
async def new_otoco(request: web.Request, st: SpotState, key: str, params: Params) -> Any:
    """``POST /api/v3/orderList/otoco``."""
    return await _place(request, st, key, params, True)


def add_routes(app: web.Application) -> None:
    """Register the OTO / OTOCO endpoints."""
    app.router.add_post("/api/v3/orderList/oto", new_oto)
    app.router.add_post("/api/v3/orderList/otoco", new_otoco)
