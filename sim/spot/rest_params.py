"""Parsing of order parameters into engine requests (``-11xx`` errors for bad input)."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from sim.errors import SimError, mandatory
from sim.http_util import Params, p_client_id, p_decimal, p_int, p_str
from sim.spot.orders import ORDER_TYPES, OcoRequest, OrderRequest, OrderType, Side, TimeInForce

ORDER_PARAMS = frozenset(
    [
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "quoteOrderQty",
        "price",
        "newClientOrderId",
        "strategyId",
        "strategyType",
        "stopPrice",
        "newOrderRespType",
        "selfTradePreventionMode",
        "trailingDelta",
        "icebergQty",
        "pegPriceType",
        "pegOffsetValue",
        "pegOffsetType",
        "computeCommissionRates",
    ]
)
LEG_FIELDS = [
    "Type",
    "ClientOrderId",
    "Price",
    "StopPrice",
    "TimeInForce",
    "StrategyId",
    "StrategyType",
]
LEG_UNSUPPORTED = ["IcebergQty", "TrailingDelta", "PegPriceType", "PegOffsetType", "PegOffsetValue"]
OCO_PARAMS = frozenset(
    ["symbol", "listClientOrderId", "side", "quantity", "newOrderRespType"]
    + ["selfTradePreventionMode"]
    + [f"{leg}{f}" for leg in ("above", "below") for f in LEG_FIELDS + LEG_UNSUPPORTED]
)
UNSUPPORTED = ("trailingDelta", "icebergQty", "pegPriceType", "pegOffsetValue", "pegOffsetType")
STP_MODES = frozenset({"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})


def p_side(params: Params) -> Side:
    """``side`` as BUY/SELL (``-1117`` otherwise)."""
    side = p_str(params, "side")
    if side not in ("BUY", "SELL"):
        raise SimError(-1117, "Invalid side.")
    return cast(Side, side)


def _type(value: str) -> OrderType:
    if value not in ORDER_TYPES:
        raise SimError(-1116, "Invalid orderType.")
    return cast(OrderType, value)


def _tif(value: str | None) -> TimeInForce | None:
    if value is None or value == "":
        return None
    if value not in ("GTC", "IOC", "FOK"):
        raise SimError(-1115, "Invalid timeInForce.")
    return cast(TimeInForce, value)


def _reject_unsupported(params: Params, names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        if params.get(name):
            raise SimError(
                -1130,
                f"Data sent for parameter '{name}' is not valid (unsupported by the simulator).",
            )


def resp_type(params: Params, order_type: str) -> str:
    """``newOrderRespType`` with Binance's defaults (FULL for MARKET/LIMIT, else ACK)."""
    value = params.get("newOrderRespType") or (
        "FULL" if order_type in ("MARKET", "LIMIT") else "ACK"
    )
    if value not in ("ACK", "RESULT", "FULL"):
        raise SimError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    return value


def _check_stp(params: Params) -> None:
    stp = params.get("selfTradePreventionMode")
    if stp and stp not in STP_MODES:
        raise SimError(-1130, "Data sent for parameter 'selfTradePreventionMode' is not valid.")


def parse_order(params: Params) -> OrderRequest:
    """Parameters of ``POST /api/v3/order`` as an :class:`OrderRequest`."""
    symbol = p_str(params, "symbol")
    side = p_side(params)
    otype = _type(p_str(params, "type"))
    _reject_unsupported(params, UNSUPPORTED)
    _check_stp(params)
    tif = _tif(params.get("timeInForce"))
    if otype in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") and tif is not None:
        raise SimError(-1114, "TimeInForce parameter sent when not required.")
    price = p_decimal(params, "price")
    if otype in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") and price is not None:
        raise SimError(-1106, "Parameter 'price' sent when not required.")
    qty, qoq = p_decimal(params, "quantity"), p_decimal(params, "quoteOrderQty")
    if qty is not None and qoq is not None:
        raise SimError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
    if qoq is not None and otype != "MARKET":
        raise SimError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
    if otype not in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT") and (
        params.get("stopPrice")
    ):
        raise SimError(-1106, "Parameter 'stopPrice' sent when not required.")
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=otype,
        quantity=qty,
        quote_order_qty=qoq,
        price=price,
        stop_price=p_decimal(params, "stopPrice"),
        time_in_force=tif if otype != "LIMIT_MAKER" else None,
        client_order_id=p_client_id(params, "newClientOrderId"),
        strategy_id=p_int(params, "strategyId"),
        strategy_type=p_int(params, "strategyType"),
    )


def _leg(params: Params, prefix: str, symbol: str, side: Side, qty: Decimal) -> OrderRequest:
    otype = _type(p_str(params, f"{prefix}Type"))
    _reject_unsupported(params, [prefix + f for f in LEG_UNSUPPORTED])
    return leg_request(params, prefix, symbol, side, qty, otype)


def leg_request(
    params: Params, prefix: str, symbol: str, side: Side, qty: Decimal, otype: OrderType
) -> OrderRequest:
    """One order-list leg from its ``{prefix}Price``/``StopPrice``/``TimeInForce``/
    ``ClientOrderId``/``StrategyId``/``StrategyType`` parameters (type already checked)."""
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=otype,
        quantity=qty,
        price=p_decimal(params, f"{prefix}Price"),
        stop_price=p_decimal(params, f"{prefix}StopPrice"),
        time_in_force=_tif(params.get(f"{prefix}TimeInForce")) if otype != "LIMIT_MAKER" else None,
        client_order_id=p_client_id(params, f"{prefix}ClientOrderId"),
        strategy_id=p_int(params, f"{prefix}StrategyId"),
        strategy_type=p_int(params, f"{prefix}StrategyType"),
    )


def parse_oco(params: Params) -> OcoRequest:
    """Parameters of ``POST /api/v3/orderList/oco`` as an :class:`OcoRequest`."""
    symbol = p_str(params, "symbol")
    side = p_side(params)
    qty = p_decimal(params, "quantity")
    if qty is None:
        raise mandatory("quantity")
    _check_stp(params)
    return OcoRequest(
        symbol=symbol,
        side=side,
        quantity=qty,
        above=_leg(params, "above", symbol, side, qty),
        below=_leg(params, "below", symbol, side, qty),
        list_client_order_id=p_client_id(params, "listClientOrderId"),
    )
