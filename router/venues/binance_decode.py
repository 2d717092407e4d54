"""Decode Binance spot JSON into the typed structures of :mod:`router.venues.base`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from router.errors import VenueDataError
from router.venues.base import ExecutionEvent, OrderListReport, OrderReport, TradeFill


def _dec(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation as exc:
        raise VenueDataError(f"field {field!r} is not a decimal: {value!r}") from exc


def _req(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise VenueDataError(f"venue response lacks {key!r}: {sorted(data)}")
    return data[key]


def decode_trade(data: dict[str, Any], time_ms: int = 0) -> TradeFill:
    """A fill from a FULL order response or ``myTrades`` row."""
    trade_id = data.get("tradeId", data.get("id"))
    if trade_id is None:
        raise VenueDataError(f"fill without a trade id: {data}")
    return TradeFill(
        trade_id=str(trade_id),
        price=_dec(_req(data, "price"), "price"),
        qty=_dec(_req(data, "qty"), "qty"),
        commission=_dec(data.get("commission"), "commission"),
        commission_asset=data.get("commissionAsset"),
        time_ms=int(data.get("time", time_ms)),
    )


def decode_order(data: dict[str, Any]) -> OrderReport:
    """An order from ``POST /api/v3/order``, ``GET /api/v3/order`` or an order-list report."""
    if not isinstance(data, dict):
        raise VenueDataError(f"expected an order object, got {type(data).__name__}")
    time_ms = int(data.get("transactTime") or data.get("updateTime") or data.get("time") or 0)
    return OrderReport(
        symbol=str(_req(data, "symbol")),
        order_id=str(_req(data, "orderId")),
        client_order_id=str(_req(data, "clientOrderId")),
        order_list_id=int(data.get("orderListId", -1)),
        status=str(data.get("status", "NEW")),
        side=str(data.get("side", "")),
        order_type=str(data.get("type", "")),
        price=_dec(data.get("price"), "price"),
        orig_qty=_dec(data.get("origQty"), "origQty"),
        executed_qty=_dec(data.get("executedQty"), "executedQty"),
        cum_quote=_dec(data.get("cummulativeQuoteQty"), "cummulativeQuoteQty"),
        stop_price=_dec(data.get("stopPrice"), "stopPrice"),
        time_ms=time_ms,
        fills=tuple(decode_trade(f, time_ms) for f in data.get("fills", [])),
    )


def decode_order_list(data: dict[str, Any]) -> OrderListReport:
    """The response of ``POST /api/v3/orderList/oco``."""
    reports = data.get("orderReports") or []
    return OrderListReport(
        order_list_id=int(_req(data, "orderListId")),
        list_client_order_id=str(_req(data, "listClientOrderId")),
        list_order_status=str(data.get("listOrderStatus", "")),
        orders=tuple(decode_order(r) for r in reports),
    )


def decode_execution_report(ev: dict[str, Any]) -> ExecutionEvent:
    """An ``executionReport`` user-data event (unwrapped)."""
    exec_type = str(_req(ev, "x"))
    # On a cancel, "c" is the cancel request's id and "C" the order's original client id.
    client_id = str(ev.get("C") or "") if exec_type == "CANCELED" else ""
    client_id = client_id or str(_req(ev, "c"))
    trade_id = int(ev.get("t", -1))
    fill = None
    if exec_type == "TRADE" and trade_id >= 0:
        fill = TradeFill(
            trade_id=str(trade_id),
            price=_dec(ev.get("L"), "L"),
            qty=_dec(ev.get("l"), "l"),
            commission=_dec(ev.get("n"), "n"),
            commission_asset=ev.get("N"),
            time_ms=int(ev.get("T", 0)),
        )
    return ExecutionEvent(
        symbol=str(_req(ev, "s")),
        client_order_id=client_id,
        order_id=str(_req(ev, "i")),
        order_list_id=int(ev.get("g", -1)),
        side=str(ev.get("S", "")),
        order_type=str(ev.get("o", "")),
        execution_type=exec_type,
        status=str(_req(ev, "X")),
        orig_qty=_dec(ev.get("q"), "q"),
        cum_qty=_dec(ev.get("z"), "z"),
        cum_quote=_dec(ev.get("Z"), "Z"),
        reject_reason=str(ev.get("r", "NONE")),
        event_time_ms=int(ev.get("E", 0)),
        fill=fill,
    )


def decode_list(data: Any, what: str) -> list[Any]:
    """A JSON array, or a clear error."""
    if not isinstance(data, list):
        raise VenueDataError(f"{what} did not return a list")
    return data
