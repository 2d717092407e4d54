"""Binance JSON shapes for orders, klines and user-data events (numbers as strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from greenlight.core.candlefile import CandleArrays
from sim.replay.player import KlineUpdate
from sim.spot.orders import (
    STOP_TYPES,
    BalanceEvent,
    Event,
    ListEvent,
    Order,
    OrderEvent,
    OrderList,
    Trade,
)

Json = dict[str, Any]
STP_MODE = "EXPIRE_MAKER"


def fmt(d: Decimal | float) -> str:
    """Binance number text: 8 decimals."""
    return f"{d:.8f}"


def _estimates(h: float, lo: float, c: float, v: float) -> str:
    """Quote volume is not in the candle files: estimated as volume × (h+l+c)/3."""
    return fmt(v * (h + lo + c) / 3)


def kline_rows(a: CandleArrays, lo: int, hi: int, tf_ms: int) -> list[list[Any]]:
    """12-column REST rows for candle rows ``[lo, hi)``; trade count and taker-buy volumes
    are absent from the files and reported as 0."""
    vol = a.volume if a.has_volume else np.zeros(len(a))
    return [
        [
            int(a.open_time[i]),
            fmt(float(a.open[i])),
            fmt(float(a.high[i])),
            fmt(float(a.low[i])),
            fmt(float(a.close[i])),
            fmt(float(vol[i])),
            int(a.open_time[i]) + tf_ms - 1,
            _estimates(float(a.high[i]), float(a.low[i]), float(a.close[i]), float(vol[i])),
            0,
            "0.00000000",
            "0.00000000",
            "0",
        ]
        for i in range(lo, hi)
    ]


def update_row(u: KlineUpdate) -> list[Any]:
    """REST row of an in-progress candle."""
    return [
        u.open_time,
        fmt(u.open),
        fmt(u.high),
        fmt(u.low),
        fmt(u.close),
        fmt(u.volume),
        u.close_time,
        _estimates(u.high, u.low, u.close, u.volume),
        0,
        "0.00000000",
        "0.00000000",
        "0",
    ]


def kline_event(u: KlineUpdate, interval: str, event_time: int) -> Json:
    """``<symbol>@kline_<interval>`` payload (spec 4.1)."""
    return {
        "e": "kline",
        "E": event_time,
        "s": u.symbol,
        "k": {
            "t": u.open_time,
            "T": u.close_time,
            "s": u.symbol,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": fmt(u.open),
            "c": fmt(u.close),
            "h": fmt(u.high),
            "l": fmt(u.low),
            "v": fmt(u.volume),
            "n": 0,
            "x": u.closed,
            "q": _estimates(u.high, u.low, u.close, u.volume),
            "V": "0.00000000",
            "Q": "0.00000000",
            "B": "0",
        },
    }


def _core(o: Order) -> Json:
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": o.order_list_id,
        "clientOrderId": o.client_order_id,
    }


def _figures(o: Order) -> Json:
    """Price, quantities, status and kind, as the place and cancel responses order them."""
    return {
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "cummulativeQuoteQty": fmt(o.cumm_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
    }


def order_result(o: Order, transact_time: int, resp_type: str, trades: list[Trade]) -> Json:
    """``POST /api/v3/order`` response for ACK / RESULT / FULL."""
    out = _core(o) | {"transactTime": transact_time}
    if resp_type == "ACK":
        return out
    out |= _figures(o) | {"workingTime": o.working_time, "selfTradePreventionMode": STP_MODE}
    if o.type in STOP_TYPES:
        out["stopPrice"] = fmt(o.stop_price)
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "commission": fmt(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.trade_id,
            }
            for t in trades
            if t.order_id == o.order_id
        ]
    return out


def order_query(o: Order) -> Json:
    """``GET /api/v3/order`` / openOrders / allOrders element."""
    return _core(o) | {
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "cummulativeQuoteQty": fmt(o.cumm_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": fmt(o.stop_price),
        "icebergQty": "0.00000000",
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.is_working,
        "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "selfTradePreventionMode": STP_MODE,
    }


def cancel_result(o: Order, transact_time: int) -> Json:
    """``DELETE /api/v3/order`` response."""
    out: Json = {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": o.order_list_id,
        "clientOrderId": o.cancel_client_id,
        "transactTime": transact_time,
        **_figures(o),
        "selfTradePreventionMode": STP_MODE,
    }
    if o.type in STOP_TYPES:
        out["stopPrice"] = fmt(o.stop_price)
    return out


def order_list_json(ol: OrderList, orders: list[Order], reports: list[Json] | None) -> Json:
    """Order-list response (``orderReports`` only on place/cancel)."""
    out: Json = {
        "orderListId": ol.order_list_id,
        "contingencyType": ol.contingency_type,
        "listStatusType": ol.list_status_type,
        "listOrderStatus": ol.list_order_status,
        "listClientOrderId": ol.list_client_order_id,
        "transactionTime": ol.transaction_time,
        "symbol": ol.symbol,
        "orders": [
            {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
            for o in orders
        ],
    }
    if reports is not None:
        out["orderReports"] = reports
    return out


def trade_json(t: Trade) -> Json:
    """``GET /api/v3/myTrades`` element."""
    return {
        "symbol": t.symbol,
        "id": t.trade_id,
        "orderId": t.order_id,
        "orderListId": t.order_list_id,
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "quoteQty": fmt(t.quote_qty),
        "commission": fmt(t.commission),
        "commissionAsset": t.commission_asset,
        "time": t.time,
        "isBuyer": t.side == "BUY",
        "isMaker": t.maker,
        "isBestMatch": True,
    }


def execution_report(ev: OrderEvent, event_time: int, exec_id: int) -> Json:
    """``executionReport`` user-data event."""
    o, t = ev.order, ev.trade
    canceled = ev.exec_type == "CANCELED"
    return {
        "e": "executionReport",
        "E": event_time,
        "s": o.symbol,
        "c": o.cancel_client_id if canceled else o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": fmt(o.orig_qty),
        "p": fmt(o.price),
        "P": fmt(o.stop_price),
        "F": "0.00000000",
        "g": o.order_list_id,
        "C": o.client_order_id if canceled else "",
        "x": ev.exec_type,
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": fmt(t.qty if t else 0),
        "z": fmt(o.executed_qty),
        "L": fmt(t.price if t else 0),
        "n": fmt(t.commission if t else 0),
        "N": t.commission_asset if t else None,
        "T": ev.time,
        "t": t.trade_id if t else -1,
        "I": exec_id,
        "w": o.is_working,
        "m": t.maker if t else False,
        "M": False,
        "O": o.time,
        "Z": fmt(o.cumm_quote),
        "Y": fmt(t.quote_qty if t else 0),
        "Q": fmt(o.orig_quote_qty),
        "W": o.working_time,
        "V": STP_MODE,
    }


def list_status(ev: ListEvent, event_time: int) -> Json:
    """``listStatus`` user-data event."""
    ol = ev.order_list
    return {
        "e": "listStatus",
        "E": event_time,
        "s": ol.symbol,
        "g": ol.order_list_id,
        "c": ol.contingency_type,
        "l": ol.list_status_type,
        "L": ol.list_order_status,
        "r": "NONE",
        "C": ol.list_client_order_id,
        "T": ev.time,
        "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_order_id} for o in ev.orders],
    }


def account_position(ev: BalanceEvent, event_time: int) -> Json:
    """``outboundAccountPosition`` user-data event."""
    return {
        "e": "outboundAccountPosition",
        "E": event_time,
        "u": ev.time,
        "B": [{"a": a, "f": fmt(f), "l": fmt(lk)} for a, f, lk in ev.balances],
    }


def event_json(ev: Event, event_time: int, exec_id: int) -> Json:
    """Any engine event as its user-data payload."""
    if isinstance(ev, OrderEvent):
        return execution_report(ev, event_time, exec_id)
    if isinstance(ev, ListEvent):
        return list_status(ev, event_time)
    return account_position(ev, event_time)


def event_account(ev: Event) -> str:
    """API key of the account an event belongs to."""
    if isinstance(ev, OrderEvent):
        return ev.order.account
    if isinstance(ev, ListEvent):
        return ev.order_list.account
    return ev.account
