"""Parsing of USD-M order and algo-order parameters (``-11xx`` / ``-4xxx`` for bad input)."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from sim.errors import SimError, mandatory
from sim.http_util import CLIENT_ID, Params, p_decimal, p_str
from sim.spot.rest_params import p_side
from sim.usdm.models import (
    ALGO_TYPES,
    CONDITIONAL_TYPES,
    AlgoRequest,
    FutOrderRequest,
    FutOrderType,
    FutTif,
    PositionSide,
    WorkingType,
)

SWITCH_ALGO = (
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
)
COMMON = ["symbol", "side", "positionSide", "type", "timeInForce", "quantity", "price"]
COMMON += ["reduceOnly", "newOrderRespType", "priceMatch", "selfTradePreventionMode"]
COMMON += ["goodTillDate", "priceProtect", "workingType"]
ORDER_PARAMS = frozenset(
    COMMON + ["newClientOrderId", "stopPrice", "closePosition", "activationPrice", "callbackRate"]
)
ALGO_PARAMS = frozenset(
    COMMON
    + ["algoType", "triggerPrice", "closePosition", "activatePrice", "callbackRate"]
    + ["clientAlgoId"]
)
TIFS = ("GTC", "IOC", "FOK", "GTX")


def p_bool(params: Params, name: str) -> bool:
    """``"true"``/``"false"`` (any case) parameter, false when absent."""
    text = params.get(name, "")
    if text == "":
        return False
    if text.lower() not in ("true", "false"):
        raise SimError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return text.lower() == "true"


def client_id(params: Params, name: str) -> str | None:
    """Optional client id with Binance's pattern (``-4015`` otherwise)."""
    value = params.get(name) or None
    if value is not None and not CLIENT_ID.match(value):
        raise SimError(-4015, "Client order id length should not be more than 36 chars")
    return value


def position_side(params: Params) -> PositionSide:
    """``positionSide`` (default ``BOTH``; ``-4060`` when not a known value)."""
    ps = params.get("positionSide") or "BOTH"
    if ps not in ("BOTH", "LONG", "SHORT"):
        raise SimError(-4060, "Invalid position side.")
    return cast(PositionSide, ps)


def _tif(params: Params, default: str | None) -> FutTif | None:
    tif = params.get("timeInForce") or default
    if tif is not None and tif not in TIFS:
        raise SimError(-1115, "Invalid timeInForce.")
    return cast(FutTif | None, tif)


def resp_type(params: Params) -> str:
    """``newOrderRespType``: ``ACK`` (default) or ``RESULT``."""
    value = params.get("newOrderRespType") or "ACK"
    if value not in ("ACK", "RESULT"):
        raise SimError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    return value


def _qty(params: Params) -> Decimal:
    qty = p_decimal(params, "quantity")
    if qty is None:
        raise mandatory("quantity")
    return qty


def parse_order(params: Params) -> FutOrderRequest:
    """Parameters of ``POST /fapi/v1/order`` (LIMIT / MARKET; conditional → ``-4120``)."""
    symbol = p_str(params, "symbol")
    side = p_side(params)
    otype = p_str(params, "type")
    if otype in CONDITIONAL_TYPES:
        raise SimError(-4120, SWITCH_ALGO)
    if otype not in ("LIMIT", "MARKET"):
        raise SimError(-1116, "Invalid orderType.")
    for name in ("stopPrice", "closePosition", "activationPrice", "callbackRate"):
        if params.get(name):
            raise SimError(-1106, f"Parameter '{name}' sent when not required.")
    qty = _qty(params)
    price = p_decimal(params, "price")
    tif = _tif(params, None)
    if otype == "LIMIT":
        if tif is None:
            raise mandatory("timeInForce")
        if price is None:
            raise mandatory("price")
    elif price is not None:
        raise SimError(-1106, "Parameter 'price' sent when not required.")
    return FutOrderRequest(
        symbol=symbol,
        side=side,
        type=cast(FutOrderType, otype),
        quantity=qty,
        price=price,
        time_in_force=tif if otype == "LIMIT" else None,
        reduce_only=p_bool(params, "reduceOnly"),
        position_side=position_side(params),
        client_order_id=client_id(params, "newClientOrderId"),
    )


def _working_type(params: Params) -> WorkingType:
    wt = params.get("workingType") or "CONTRACT_PRICE"
    if wt not in ("MARK_PRICE", "CONTRACT_PRICE"):
        raise SimError(-1130, "Data sent for parameter 'workingType' is not valid.")
    return cast(WorkingType, wt)


def _close_position_rules(params: Params, otype: str, close: bool) -> None:
    if not close:
        return
    if otype not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
        raise SimError(-1106, "Parameter 'closePosition' sent when not required.")
    if params.get("quantity"):
        raise SimError(-4137, "Quantity must be zero with closePosition equals true")
    if p_bool(params, "reduceOnly"):
        raise SimError(-1106, "Parameter 'reduceOnly' sent when not required.")


def parse_algo(params: Params) -> AlgoRequest:
    """Parameters of ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``)."""
    algo_type = p_str(params, "algoType")
    if algo_type != "CONDITIONAL":
        raise SimError(-1130, "Data sent for parameter 'algoType' is not valid.")
    symbol = p_str(params, "symbol")
    side = p_side(params)
    otype = p_str(params, "type")
    if otype not in ALGO_TYPES:
        raise SimError(-1116, "Invalid orderType.")
    close = p_bool(params, "closePosition")
    _close_position_rules(params, otype, close)
    trailing = otype == "TRAILING_STOP_MARKET"
    trigger = p_decimal(params, "triggerPrice")
    if trigger is None and not trailing:
        raise mandatory("triggerPrice")
    price = p_decimal(params, "price")
    if otype in ("STOP", "TAKE_PROFIT") and price is None:
        raise mandatory("price")
    if otype not in ("STOP", "TAKE_PROFIT") and price is not None:
        raise SimError(-1106, "Parameter 'price' sent when not required.")
    rate = p_decimal(params, "callbackRate")
    if trailing and (rate is None or not Decimal("0.1") <= rate <= Decimal(10)):
        raise SimError(-1130, "Data sent for parameter 'callbackRate' is not valid.")
    return AlgoRequest(
        symbol=symbol,
        side=side,
        type=otype,
        trigger_price=None if trailing else trigger,
        quantity=None if close else _qty(params),
        price=price,
        time_in_force=_tif(params, "GTC") or "GTC",
        working_type=_working_type(params),
        reduce_only=p_bool(params, "reduceOnly"),
        close_position=close,
        position_side=position_side(params),
        client_algo_id=client_id(params, "clientAlgoId"),
        activate_price=p_decimal(params, "activatePrice") if trailing else None,
        callback_rate=rate if trailing else None,
        price_protect=p_bool(params, "priceProtect"),
    )
