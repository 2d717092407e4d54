"""USD-M payload decoding (shapes from the protocol spec §3/§4.4) and error classification."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from router.errors import (
    AuthError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    NoChangeNeeded,
    OrderNotFoundError,
    PositionModeError,
    RateLimitError,
    ReduceOnlyRejectedError,
    TimestampError,
    UnknownOutcomeError,
    VenueDataError,
    WouldTriggerError,
    classify_futures,
)
from router.venues.binance_usdm import futures_rules
from router.venues.binance_usdm_decode import (
    decode_algo,
    decode_algo_update,
    decode_balance,
    decode_order,
    decode_order_update,
    decode_position,
    decode_trade,
)


@pytest.mark.parametrize(
    ("status", "code", "msg", "kind"),
    [
        (400, -2019, "Margin is insufficient.", InsufficientFundsError),
        (400, -2021, "Order would immediately trigger.", WouldTriggerError),
        (400, -2022, "ReduceOnly Order is rejected.", ReduceOnlyRejectedError),
        (400, -4116, "ClientOrderId is duplicated.", DuplicateOrderError),
        (400, -4120, "Order type not supported for this endpoint.", InvalidOrderError),
        (400, -4164, "Order's notional must be no smaller than 5", InvalidOrderError),
        (400, -4046, "No need to change margin type.", NoChangeNeeded),
        (400, -4059, "No need to change position side.", NoChangeNeeded),
        (400, -4061, "Order's position side does not match user's setting.", PositionModeError),
        (400, -5022, "Post Only order will be rejected.", InvalidOrderError),
        (400, -2013, "Order does not exist.", OrderNotFoundError),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", TimestampError),
        (400, -5028, "Timestamp for this request is outside of the ME recvWindow.", TimestampError),
        (503, None, "Service Unavailable", UnknownOutcomeError),
        (429, -1003, "Too many requests", RateLimitError),
        (401, -2015, "Invalid API-key, IP, or permissions for action", AuthError),
    ],
)
def test_futures_codes_map_to_the_right_exception(
    status: int, code: int | None, msg: str, kind: type
) -> None:
    err = classify_futures(status, code, msg)
    assert type(err) is kind and err.code == code


def test_position_mode_error_is_fatal_auth_class() -> None:
    assert isinstance(classify_futures(400, -4061, "x"), AuthError)


def test_algo_response_and_update_decode_to_the_same_state() -> None:
    rest = decode_algo(
        {
            "algoId": 2146760,
            "clientAlgoId": "gl-7-SL",
            "algoType": "CONDITIONAL",
            "orderType": "STOP_MARKET",
            "symbol": "XRPUSDT",
            "side": "SELL",
            "positionSide": "BOTH",
            "quantity": "0",
            "algoStatus": "NEW",
            "triggerPrice": "0.9800",
            "closePosition": True,
            "reduceOnly": False,
            "workingType": "CONTRACT_PRICE",
            "createTime": 1,
        }
    )
    assert (rest.algo_id, rest.client_algo_id, rest.status) == ("2146760", "gl-7-SL", "NEW")
    assert rest.close_position and rest.trigger_price == D("0.98") and rest.actual_order_id is None
    event = decode_algo_update(
        {
            "e": "ALGO_UPDATE",
            "E": 5,
            "T": 5,
            "o": {
                "caid": "gl-7-SL",
                "aid": 2146760,
                "at": "CONDITIONAL",
                "o": "STOP_MARKET",
                "s": "XRPUSDT",
                "S": "SELL",
                "ps": "BOTH",
                "f": "GTC",
                "q": "0",
                "X": "FINISHED",
                "ai": 881,
                "ap": "0.9795",
                "aq": "300",
                "act": "MARKET",
                "tp": "0.9800",
                "p": "0",
                "cp": True,
                "R": False,
                "tt": 4,
                "rm": "",
            },
        }
    )
    assert event.client_algo_id == rest.client_algo_id and event.status == "FINISHED"
    assert event.actual_order_id == "881" and event.filled_qty == D(300)


def test_order_update_carries_fill_and_realized_profit() -> None:
    ev = decode_order_update(
        {
            "e": "ORDER_TRADE_UPDATE",
            "E": 9,
            "T": 9,
            "o": {
                "s": "XRPUSDT",
                "c": "gl-7-X",
                "S": "BUY",
                "o": "MARKET",
                "f": "GTC",
                "q": "600",
                "p": "0",
                "ap": "1.0100",
                "sp": "0",
                "x": "TRADE",
                "X": "FILLED",
                "i": 77,
                "l": "600",
                "z": "600",
                "L": "1.0100",
                "N": "USDT",
                "n": "0.2424",
                "T": 9,
                "t": 31,
                "R": True,
                "ps": "BOTH",
                "rp": "-6.00000000",
            },
        }
    )
    assert ev.client_order_id == "gl-7-X" and ev.status == "FILLED"
    assert ev.cum_quote == D(606) and ev.fill is not None
    assert ev.fill.realized_pnl == D(-6) and ev.fill.commission == D("0.2424")


def test_order_trade_position_balance_rows() -> None:
    order = decode_order(
        {
            "orderId": 77,
            "clientOrderId": "gl-7-E",
            "symbol": "XRPUSDT",
            "status": "FILLED",
            "side": "SELL",
            "type": "MARKET",
            "origQty": "600",
            "executedQty": "600",
            "avgPrice": "1.0000",
            "price": "0",
            "updateTime": 3,
        }
    )  # cumQuote missing (dropped from the 2026-07 spec): derived from avgPrice
    assert order.cum_quote == D(600) and order.executed_qty == D(600)
    trade = decode_trade(
        {
            "id": 31,
            "orderId": 77,
            "price": "1.0",
            "qty": "600",
            "realizedPnl": "0",
            "commission": "0.24",
            "commissionAsset": "USDT",
            "time": 3,
        }
    )
    assert trade.trade_id == "31" and trade.commission_asset == "USDT"
    pos = decode_position(
        {
            "symbol": "XRPUSDT",
            "positionAmt": "-600",
            "entryPrice": "1.0",
            "unRealizedProfit": "-1.5",
            "leverage": "2",
            "marginType": "isolated",
        }
    )
    assert pos.amount == D(-600) and pos.leverage == 2 and pos.margin_type == "ISOLATED"
    bal = decode_balance(
        {"asset": "USDT", "balance": "1000.5", "crossUnPnl": "-1.5", "availableBalance": "700"}
    )
    assert bal.wallet + bal.unrealized_pnl == D(999)


def test_missing_fields_are_a_clear_data_error() -> None:
    with pytest.raises(VenueDataError, match="clientAlgoId"):
        decode_algo({"algoId": 1, "symbol": "XRPUSDT"})
    with pytest.raises(VenueDataError, match="expected a futures order object"):
        decode_order([1, 2])


def test_futures_exchange_info_min_notional_uses_notional_field() -> None:
    info = {
        "symbols": [
            {
                "symbol": "XRPUSDT",
                "baseAsset": "XRP",
                "quoteAsset": "USDT",
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.0143",
                        "maxPrice": "100000",
                        "tickSize": "0.0001",
                    },
                    {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "1e7", "stepSize": "0.1"},
                    {"filterType": "MIN_NOTIONAL", "notional": "5"},
                ],
            }
        ]
    }
    rules = futures_rules(info, "XRPUSDT")
    assert rules.min_notional == D(5) and rules.tick_size == D("0.0001")
    assert rules.check(D("1.0"), D("4.9"), market=True) == "NOTIONAL"
