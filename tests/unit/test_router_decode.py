from __future__ import annotations

from decimal import Decimal as D

import pytest

from router.errors import VenueDataError
from router.venues.binance_decode import decode_execution_report, decode_order, decode_order_list

# The FULL response example from the Binance spot REST docs (POST /api/v3/order).
FULL = {
    "symbol": "BTCUSDT",
    "orderId": 28,
    "orderListId": -1,
    "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
    "transactTime": 1507725176595,
    "price": "0.00000000",
    "origQty": "10.00000000",
    "executedQty": "10.00000000",
    "origQuoteOrderQty": "0.000000",
    "cummulativeQuoteQty": "10.00000000",
    "status": "FILLED",
    "timeInForce": "GTC",
    "type": "MARKET",
    "side": "SELL",
    "workingTime": 1507725176595,
    "selfTradePreventionMode": "NONE",
    "fills": [
        {
            "price": "4000.00000000",
            "qty": "1.00000000",
            "commission": "4.00000000",
            "commissionAsset": "USDT",
            "tradeId": 56,
        },
        {
            "price": "3999.00000000",
            "qty": "5.00000000",
            "commission": "19.99500000",
            "commissionAsset": "USDT",
            "tradeId": 57,
        },
    ],
}


def test_full_order_response_decodes_to_decimals_and_string_ids() -> None:
    o = decode_order(FULL)
    assert o.order_id == "28" and o.order_list_id == -1 and o.status == "FILLED"
    assert o.executed_qty == D("10") and o.cum_quote == D("10")
    assert [f.trade_id for f in o.fills] == ["56", "57"]
    assert o.fills[1].commission == D("19.995") and o.fills[1].commission_asset == "USDT"
    assert o.fills[0].time_ms == 1507725176595


def test_order_list_response_decodes_both_legs() -> None:
    leg = {**FULL, "fills": [], "status": "NEW", "type": "LIMIT_MAKER", "orderListId": 3}
    data = {
        "orderListId": 3,
        "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING",
        "listClientOrderId": "gl-5-L1",
        "orders": [],
        "orderReports": [leg, {**leg, "type": "STOP_LOSS"}],
    }
    lst = decode_order_list(data)
    assert lst.list_client_order_id == "gl-5-L1" and len(lst.orders) == 2
    assert lst.orders[1].order_type == "STOP_LOSS"


def _report(**over: object) -> dict[str, object]:
    base = {
        "e": "executionReport",
        "E": 1499405658658,
        "s": "ETHBTC",
        "c": "gl-7-E",
        "S": "BUY",
        "o": "MARKET",
        "f": "GTC",
        "q": "1.00000000",
        "p": "0.00000000",
        "P": "0.00000000",
        "g": -1,
        "C": "",
        "x": "TRADE",
        "X": "PARTIALLY_FILLED",
        "r": "NONE",
        "i": 4293153,
        "l": "0.40000000",
        "z": "0.40000000",
        "L": "0.10264410",
        "n": "0.00040000",
        "N": "ETH",
        "T": 1499405658657,
        "t": 77,
        "I": 8641984,
        "w": False,
        "m": False,
        "O": 1499405658657,
        "Z": "0.04105764",
        "Y": "0.04105764",
        "Q": "0.00000000",
    }
    base.update(over)
    return base


def test_execution_report_trade_carries_a_fill() -> None:
    ev = decode_execution_report(_report())
    assert ev.client_order_id == "gl-7-E" and ev.order_id == "4293153"
    assert ev.cum_qty == D("0.4") and ev.cum_quote == D("0.04105764")
    assert ev.fill is not None and ev.fill.trade_id == "77" and ev.fill.commission_asset == "ETH"


def test_execution_report_cancel_uses_original_client_id() -> None:
    ev = decode_execution_report(_report(x="CANCELED", X="CANCELED", c="web_123", C="gl-7-E", t=-1))
    assert ev.client_order_id == "gl-7-E" and ev.fill is None


def test_malformed_venue_json_is_a_clear_error() -> None:
    with pytest.raises(VenueDataError, match="orderId"):
        decode_order({"symbol": "BTCUSDT", "clientOrderId": "x"})
    with pytest.raises(VenueDataError, match="not a decimal"):
        decode_order({**FULL, "executedQty": "ten"})
