"""Decode Binance USD-M JSON (REST and user-data events) into :mod:`router.venues.base` types."""

from __future__ import annotations

from typing import Any

from router.errors import VenueDataError
from router.venues.base import (
    AlgoReport,
    ExecutionEvent,
    FuturesAccount,
    FuturesBalance,
    FuturesPosition,
    OrderReport,
    TradeFill,
)
from router.venues.binance_decode import _dec, _req


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise VenueDataError(f"expected a {what} object, got {type(data).__name__}")
    return data


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def decode_order(data: Any) -> OrderReport:
    """An order from ``POST|GET|DELETE /fapi/v1/order`` (ACK or RESULT)."""
    d = _obj(data, "futures order")
    executed = _dec(d.get("executedQty"), "executedQty")
    cum_quote = d.get("cumQuote")
    quote = (
        _dec(cum_quote, "cumQuote")
        if cum_quote not in (None, "")
        else executed * _dec(d.get("avgPrice"), "avgPrice")
    )
    return OrderReport(
        symbol=str(_req(d, "symbol")),
        order_id=str(_req(d, "orderId")),
        client_order_id=str(_req(d, "clientOrderId")),
        order_list_id=-1,
        status=str(d.get("status", "NEW")),
        side=str(d.get("side", "")),
        order_type=str(d.get("type", "")),
        price=_dec(d.get("price"), "price"),
        orig_qty=_dec(d.get("origQty"), "origQty"),
        executed_qty=executed,
        cum_quote=quote,
        stop_price=_dec(d.get("stopPrice"), "stopPrice"),
        time_ms=int(d.get("updateTime") or d.get("time") or 0),
    )


def decode_trade(data: Any) -> TradeFill:
    """A ``GET /fapi/v1/userTrades`` row (with ``realizedPnl``)."""
    d = _obj(data, "futures trade")
    return TradeFill(
        trade_id=str(_req(d, "id")),
        price=_dec(_req(d, "price"), "price"),
        qty=_dec(_req(d, "qty"), "qty"),
        commission=_dec(d.get("commission"), "commission"),
        commission_asset=d.get("commissionAsset"),
        time_ms=int(d.get("time", 0)),
        realized_pnl=_dec(d.get("realizedPnl"), "realizedPnl"),
    )


def decode_algo(data: Any) -> AlgoReport:
    """A conditional order from ``/fapi/v1/algoOrder`` or ``openAlgoOrders``."""
    d = _obj(data, "algo order")
    actual = d.get("actualOrderId")
    return AlgoReport(
        symbol=str(_req(d, "symbol")),
        algo_id=str(_req(d, "algoId")),
        client_algo_id=str(_req(d, "clientAlgoId")),
        order_type=str(d.get("orderType") or d.get("type") or ""),
        side=str(d.get("side", "")),
        status=str(d.get("algoStatus") or d.get("status") or "NEW"),
        trigger_price=_dec(d.get("triggerPrice"), "triggerPrice"),
        quantity=_dec(d.get("quantity"), "quantity"),
        close_position=_flag(d.get("closePosition")),
        actual_order_id=str(actual) if actual not in (None, "", 0, "0") else None,
        filled_qty=_dec(d.get("actualQty") or d.get("executedQty"), "actualQty"),
        avg_price=_dec(d.get("actualPrice") or d.get("avgPrice"), "actualPrice"),
    )


def decode_order_update(event: dict[str, Any]) -> ExecutionEvent:
    """An ``ORDER_TRADE_UPDATE`` event."""
    o = _obj(_req(event, "o"), "ORDER_TRADE_UPDATE.o")
    exec_type = str(_req(o, "x"))
    cum_qty = _dec(o.get("z"), "z")
    fill = None
    trade_id = int(o.get("t") or 0)
    if exec_type == "TRADE" and trade_id > 0:
        fill = TradeFill(
            trade_id=str(trade_id),
            price=_dec(o.get("L"), "L"),
            qty=_dec(o.get("l"), "l"),
            commission=_dec(o.get("n"), "n"),
            commission_asset=o.get("N"),
            time_ms=int(o.get("T", 0)),
            realized_pnl=_dec(o.get("rp"), "rp"),
        )
    return ExecutionEvent(
        symbol=str(_req(o, "s")),
        client_order_id=str(_req(o, "c")),
        order_id=str(_req(o, "i")),
        order_list_id=-1,
        side=str(o.get("S", "")),
        order_type=str(o.get("o", "")),
        execution_type=exec_type,
        status=str(_req(o, "X")),
        orig_qty=_dec(o.get("q"), "q"),
        cum_qty=cum_qty,
        cum_quote=cum_qty * _dec(o.get("ap"), "ap"),
        reject_reason=str(o.get("er") or "NONE"),
        event_time_ms=int(event.get("E", 0)),
        fill=fill,
    )


def decode_algo_update(event: dict[str, Any]) -> AlgoReport:
    """An ``ALGO_UPDATE`` event."""
    o = _obj(_req(event, "o"), "ALGO_UPDATE.o")
    actual = o.get("ai")
    return AlgoReport(
        symbol=str(_req(o, "s")),
        algo_id=str(_req(o, "aid")),
        client_algo_id=str(_req(o, "caid")),
        order_type=str(o.get("o", "")),
        side=str(o.get("S", "")),
        status=str(_req(o, "X")),
        trigger_price=_dec(o.get("tp"), "tp"),
        quantity=_dec(o.get("q"), "q"),
        close_position=_flag(o.get("cp")),
        actual_order_id=str(actual) if actual not in (None, "", 0, "0") else None,
        filled_qty=_dec(o.get("aq"), "aq"),
        avg_price=_dec(o.get("ap"), "ap"),
        reject_reason=str(o.get("rm") or ""),
    )


def decode_position(data: Any) -> FuturesPosition:
    """A ``GET /fapi/v2/positionRisk`` entry (one-way mode)."""
    d = _obj(data, "position")
    return FuturesPosition(
        symbol=str(_req(d, "symbol")),
        amount=_dec(_req(d, "positionAmt"), "positionAmt"),
        entry_price=_dec(d.get("entryPrice"), "entryPrice"),
        unrealized_pnl=_dec(d.get("unRealizedProfit"), "unRealizedProfit"),
        leverage=int(d.get("leverage") or 0),
        margin_type=str(d.get("marginType", "")).upper(),
    )


def decode_account(data: Any) -> FuturesAccount:
    """A ``GET /fapi/v2/account`` answer (totals and the non-zero positions)."""
    d = _obj(data, "account")
    rows = d.get("positions") or []
    if not isinstance(rows, list):
        raise VenueDataError(f"account.positions is not a list: {rows!r}")
    positions = []
    for row in rows:
        p = _obj(row, "account position")
        amount = _dec(_req(p, "positionAmt"), "positionAmt")
        if amount == 0:
            continue
        positions.append(
            FuturesPosition(
                symbol=str(_req(p, "symbol")),
                amount=amount,
                entry_price=_dec(p.get("entryPrice"), "entryPrice"),
                # /fapi/v2/account says unrealizedProfit, positionRisk unRealizedProfit
                unrealized_pnl=_dec(
                    p.get("unrealizedProfit", p.get("unRealizedProfit")), "unrealizedProfit"
                ),
                leverage=int(p.get("leverage") or 0),
                margin_type="ISOLATED" if _isolated(p) else "CROSSED",
            )
        )
    return FuturesAccount(
        wallet=_dec(_req(d, "totalWalletBalance"), "totalWalletBalance"),
        unrealized_pnl=_dec(d.get("totalUnrealizedProfit"), "totalUnrealizedProfit"),
        positions=tuple(positions),
    )


def _isolated(p: dict[str, Any]) -> bool:
    flag = p.get("isolated")
    if flag is not None:
        return flag is True or str(flag).lower() == "true"
    return str(p.get("marginType", "")).lower() == "isolated"


def decode_balance(data: Any) -> FuturesBalance:
    """A ``GET /fapi/v2/balance`` entry."""
    d = _obj(data, "balance")
    return FuturesBalance(
        asset=str(_req(d, "asset")),
        wallet=_dec(_req(d, "balance"), "balance"),
        unrealized_pnl=_dec(d.get("crossUnPnl"), "crossUnPnl"),
        available=_dec(d.get("availableBalance"), "availableBalance"),
    )
