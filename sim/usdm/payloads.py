"""USD-M JSON shapes: REST order / algo objects and user-data events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sim.usdm.models import (
    AccountUpdate,
    AlgoOrder,
    AlgoUpdate,
    FutEvent,
    FutOrder,
    FutTrade,
    OrderUpdate,
    Position,
)

Json = dict[str, Any]
STP = "EXPIRE_MAKER"


Q8 = Decimal("0.00000001")


def num(d: Decimal) -> str:
    """Plain decimal text, at most 8 decimals, no exponent or trailing zeros (``"0"``)."""
    exp = d.as_tuple().exponent
    if isinstance(exp, int) and exp < -8:
        d = d.quantize(Q8)
    text = f"{d.normalize():f}"
    return "0" if text in ("-0", "0") else text


def order_json(o: FutOrder, with_time: bool = False) -> Json:
    """``POST/GET/DELETE /fapi/v1/order`` object."""
    body: Json = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": num(o.price),
        "avgPrice": num(o.avg_price),
        "origQty": num(o.quantity),
        "executedQty": num(o.executed_qty),
        "cumQty": num(o.executed_qty),
        "cumQuote": num(o.cum_quote),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": o.side,
        "positionSide": o.position_side,
        "stopPrice": num(o.stop_price),
        "workingType": o.working_type,
        "priceProtect": False,
        "origType": o.orig_type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": STP,
        "goodTillDate": 0,
        "updateTime": o.update_time,
    }
    if with_time:
        body["time"] = o.time
    return body


def algo_json(a: AlgoOrder, actual: FutOrder | None = None) -> Json:
    """``/fapi/v1/algoOrder`` object (query form adds the ``actual*`` fields)."""
    r = a.req
    body: Json = {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": r.type,
        "symbol": r.symbol,
        "side": r.side,
        "positionSide": r.position_side,
        "timeInForce": r.time_in_force,
        "quantity": num(r.quantity) if r.quantity is not None else "0",
        "algoStatus": a.status,
        "triggerPrice": num(r.trigger_price) if r.trigger_price is not None else "0",
        "price": num(r.price) if r.price is not None else "0",
        "icebergQuantity": None,
        "selfTradePreventionMode": STP,
        "workingType": r.working_type,
        "priceMatch": "NONE",
        "closePosition": r.close_position,
        "priceProtect": r.price_protect,
        "reduceOnly": r.reduce_only,
        "activatePrice": num(r.activate_price) if r.activate_price is not None else "",
        "callbackRate": num(r.callback_rate) if r.callback_rate is not None else "",
        "createTime": a.create_time,
        "updateTime": a.update_time,
        "triggerTime": a.trigger_time,
        "goodTillDate": 0,
    }
    if actual is not None:
        body |= {
            "actualOrderId": str(actual.order_id),
            "actualPrice": num(actual.avg_price),
            "actualType": actual.type,
            "actualQty": num(actual.executed_qty),
            "tpOrderType": "",
        }
    return body


def trade_json(t: FutTrade) -> Json:
    """``GET /fapi/v1/userTrades`` item."""
    return {
        "buyer": t.side == "BUY",
        "commission": num(t.commission),
        "commissionAsset": "USDT",
        "id": t.trade_id,
        "maker": t.maker,
        "orderId": t.order_id,
        "price": num(t.price),
        "qty": num(t.qty),
        "quoteQty": num(t.price * t.qty),
        "realizedPnl": num(t.realized_pnl),
        "side": t.side,
        "positionSide": t.position_side,
        "symbol": t.symbol,
        "time": t.time,
    }


def _order_event(ev: OrderUpdate) -> Json:
    o, t = ev.order, ev.trade
    return {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": num(o.quantity),
        "p": num(o.price),
        "ap": num(o.avg_price),
        "sp": num(o.stop_price),
        "x": ev.exec_type,
        "X": o.status,
        "i": o.order_id,
        "l": num(t.qty) if t else "0",
        "z": num(o.executed_qty),
        "L": num(t.price) if t else "0",
        "N": "USDT",
        "n": num(t.commission) if t else "0",
        "T": ev.time,
        "t": t.trade_id if t else 0,
        "b": "0",
        "a": "0",
        "m": t.maker if t else False,
        "R": o.reduce_only,
        "wt": o.working_type,
        "ot": o.orig_type,
        "ps": o.position_side,
        "cp": o.close_position,
        "pP": False,
        "si": 0,
        "ss": 0,
        "rp": num(t.realized_pnl) if t else "0",
        "V": STP,
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    }


def _algo_event(ev: AlgoUpdate) -> Json:
    a, r, act = ev.algo, ev.algo.req, ev.actual
    return {
        "caid": a.client_algo_id,
        "aid": a.algo_id,
        "at": "CONDITIONAL",
        "o": r.type,
        "s": r.symbol,
        "S": r.side,
        "ps": r.position_side,
        "f": r.time_in_force,
        "q": num(r.quantity) if r.quantity is not None else "0",
        "X": ev.status,
        "ai": str(act.order_id) if act else "",
        "ap": num(act.avg_price) if act else "0",
        "aq": num(act.executed_qty) if act else "0",
        "act": act.type if act else "",
        "tp": num(r.trigger_price) if r.trigger_price is not None else "0",
        "p": num(r.price) if r.price is not None else "0",
        "V": STP,
        "wt": r.working_type,
        "pm": "NONE",
        "cp": r.close_position,
        "pP": r.price_protect,
        "R": r.reduce_only,
        "tt": a.trigger_time,
        "gtd": 0,
        "rm": a.fail_reason,
        "ia": a.activated,
    }


def position_event(p: Position, margin_type: str, upnl: Decimal) -> Json:
    """One ``P`` item of ``ACCOUNT_UPDATE``."""
    return {
        "s": p.symbol,
        "pa": num(p.amount),
        "ep": num(p.entry_price),
        "bep": num(p.entry_price),
        "cr": num(p.realized),
        "up": num(upnl),
        "mt": "isolated" if margin_type == "ISOLATED" else "cross",
        "iw": num(p.isolated_wallet),
        "ps": p.side,
    }


def event_json(ev: FutEvent, event_time: int, margin_types: dict[str, str]) -> Json:
    """The user-data payload of an engine event."""
    if isinstance(ev, OrderUpdate):
        return {"e": "ORDER_TRADE_UPDATE", "E": event_time, "T": ev.time, "o": _order_event(ev)}
    if isinstance(ev, AlgoUpdate):
        return {"e": "ALGO_UPDATE", "E": event_time, "T": ev.time, "o": _algo_event(ev)}
    return _account_event(ev, event_time, margin_types)


def _account_event(ev: AccountUpdate, event_time: int, margin_types: dict[str, str]) -> Json:
    balances = [
        {
            "a": "USDT",
            "wb": num(ev.wallet),
            "cw": num(ev.cross_wallet),
            "bc": num(ev.balance_change),
        }
    ]
    upnl = ev.unrealized or tuple(Decimal(0) for _ in ev.positions)
    positions = [
        position_event(p, margin_types.get(p.symbol, "CROSSED"), u)
        for p, u in zip(ev.positions, upnl, strict=True)
    ]
    return {
        "e": "ACCOUNT_UPDATE",
        "E": event_time,
        "T": ev.time,
        "a": {"m": ev.reason, "B": balances, "P": positions},
    }
