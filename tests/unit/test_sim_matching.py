"""Matching engine: filters, balances, fills along a price path, stops and OCO."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from greenlight.core.candlefile import read_candles
from sim.errors import SimError
from sim.spot.filters import check_lot, check_notional, check_price, rules_for
from sim.spot.matching import Exchange
from sim.spot.orders import BalanceEvent, ListEvent, OcoRequest, Order, OrderEvent, OrderRequest

REPO = Path(__file__).resolve().parents[2]
BTC = rules_for("BTCUSDT", [9000.0])
T0 = 1_600_000_000_000


def venue(usdt: str = "10000", btc: str = "0") -> Exchange:
    ex = Exchange({"BTCUSDT": BTC}, D("0.001"))
    ex.add_account("a", {"USDT": D(usdt), "BTC": D(btc)})
    ex.set_price("BTCUSDT", D("10000.00"))
    return ex


def req(side: str, type_: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, type=type_, **kw)  # type: ignore[arg-type]


def bal(ex: Exchange, asset: str) -> tuple[D, D]:
    acct = ex.accounts["a"]
    return acct.free.get(asset, D(0)), acct.locked.get(asset, D(0))


def status_of(o: Order) -> str:
    """The current status (a call, so mypy does not keep an earlier narrowing)."""
    return o.status


def code(exc: pytest.ExceptionInfo[SimError]) -> tuple[int, str]:
    return exc.value.code, exc.value.msg


def place_stop_limit_sell(ex: Exchange, tif: str) -> Order:
    """Place a SELL STOP_LOSS_LIMIT of 1 BTC (stop 9500, limit 9600) for account ``a``."""
    order = req(
        "SELL",
        "STOP_LOSS_LIMIT",
        quantity=D("1"),
        stop_price=D("9500"),
        price=D("9600"),
        time_in_force=tif,
    )
    return ex.place("a", order, T0).orders[0]


def sell_oco(above_price: str) -> OcoRequest:
    """A SELL OCO of 1 BTC: LIMIT_MAKER at ``above_price`` above, STOP_LOSS at 9000 below."""
    return OcoRequest(
        symbol="BTCUSDT",
        side="SELL",
        quantity=D("1"),
        above=req("SELL", "LIMIT_MAKER", quantity=D("1"), price=D(above_price)),
        below=req("SELL", "STOP_LOSS", quantity=D("1"), stop_price=D("9000")),
    )


def test_filters_use_exact_decimal_divisibility() -> None:
    check_price(BTC, D("10000.01"))
    check_lot(BTC, D("0.00003"), market=False)  # 0.00003 % 0.00001 is not 0 in floats
    with pytest.raises(SimError, match="PRICE_FILTER"):
        check_price(BTC, D("10000.005"))
    with pytest.raises(SimError, match="LOT_SIZE"):
        check_lot(BTC, D("0.000015"), market=False)
    with pytest.raises(SimError, match="MARKET_LOT_SIZE"):
        check_lot(BTC, D("150"), market=True)
    with pytest.raises(SimError, match="NOTIONAL"):
        check_notional(BTC, D("4.99"), market=False)
    check_notional(BTC, D("5"), market=False)


def test_known_and_derived_symbol_rules() -> None:
    assert (BTC.tick_size, BTC.step_size, BTC.min_qty) == (D("0.01"), D("0.00001"), D("0.00001"))
    assert BTC.min_notional == D("5") and (BTC.base, BTC.quote) == ("BTC", "USDT")
    xrp = read_candles(REPO / "data" / "XRPUSDT-perp-5m-futures.csv")
    derived = rules_for("XRPFDUSD", xrp.close.tolist())
    assert (derived.tick_size, derived.step_size) == (D("0.0001"), D("0.1"))
    assert (derived.base, derived.quote) == ("XRP", "FDUSD")


def test_market_buy_fills_at_last_price_with_commission_in_base() -> None:
    ex = venue()
    out = ex.place("a", req("BUY", "MARKET", quantity=D("0.1")), T0)
    order = out.orders[0]
    assert order.status == "FILLED" and order.cumm_quote == D("1000.000")
    assert [t.price for t in out.trades] == [D("10000.00")]
    assert out.trades[0].commission == D("0.0001") and out.trades[0].commission_asset == "BTC"
    assert bal(ex, "USDT") == (D("9000"), D(0))
    assert bal(ex, "BTC") == (D("0.0999"), D(0))
    kinds = [type(e).__name__ + ":" + getattr(e, "exec_type", "") for e in out.events]
    assert kinds == ["OrderEvent:NEW", "OrderEvent:TRADE", "BalanceEvent:"]


def test_quote_order_qty_rounds_quantity_down_to_step() -> None:
    ex = venue()
    out = ex.place("a", req("BUY", "MARKET", quote_order_qty=D("100.5")), T0)
    assert out.orders[0].executed_qty == D("0.01005")


def test_rejections_change_nothing() -> None:
    ex = venue(usdt="50")
    cases = [
        (
            req("BUY", "MARKET", quantity=D("0.01")),
            (-2010, "Account has insufficient balance for requested action."),
        ),
        (
            req("BUY", "LIMIT", quantity=D("0.001"), price=D("9000.001"), time_in_force="GTC"),
            (-1013, "Filter failure: PRICE_FILTER"),
        ),
        (
            req("BUY", "LIMIT", quantity=D("0.0000001"), price=D("9000"), time_in_force="GTC"),
            (-1013, "Filter failure: LOT_SIZE"),
        ),
        (
            req("BUY", "LIMIT", quantity=D("0.0001"), price=D("9000"), time_in_force="GTC"),
            (-1013, "Filter failure: NOTIONAL"),
        ),
        (
            req("BUY", "LIMIT_MAKER", quantity=D("0.001"), price=D("10001")),
            (-2010, "Order would immediately match and take."),
        ),
        (
            req("SELL", "STOP_LOSS", quantity=D("0.001"), stop_price=D("10001")),
            (-2010, "Order would trigger immediately."),
        ),
        (
            req("BUY", "TAKE_PROFIT", quantity=D("0.001"), stop_price=D("10000.00")),
            (-2010, "Order would trigger immediately."),
        ),
    ]
    for r, expected in cases:
        with pytest.raises(SimError) as exc:
            ex.place("a", r, T0)
        assert code(exc) == expected, r
    assert bal(ex, "USDT") == (D("50"), D(0)) and not ex.orders


def test_duplicate_open_client_id_is_rejected_until_closed() -> None:
    ex = venue()
    first = req(
        "BUY",
        "LIMIT",
        quantity=D("0.001"),
        price=D("9000"),
        time_in_force="GTC",
        client_order_id="x1",
    )
    placed = ex.place("a", first, T0).orders[0]
    with pytest.raises(SimError) as exc:
        ex.place("a", first, T0)
    assert code(exc) == (-2010, "Duplicate order sent.")
    ex.cancel("a", "BTCUSDT", placed.order_id, None, T0)
    assert ex.place("a", first, T0).orders[0].client_order_id == "x1"


def test_max_num_orders_filter() -> None:
    ex = Exchange(
        {"BTCUSDT": rules_for("BTCUSDT", [1.0]).__class__(**{**BTC.__dict__, "max_num_orders": 2})}
    )
    ex.add_account("a", {"USDT": D(1000)})
    ex.set_price("BTCUSDT", D(10000))
    for _ in range(2):
        ex.place(
            "a", req("BUY", "LIMIT", quantity=D("0.001"), price=D("9000"), time_in_force="GTC"), T0
        )
    with pytest.raises(SimError, match="MAX_NUM_ORDERS"):
        ex.place(
            "a", req("BUY", "LIMIT", quantity=D("0.001"), price=D("9000"), time_in_force="GTC"), T0
        )


def test_resting_limit_locks_then_fills_at_limit_price_when_path_touches() -> None:
    ex = venue()
    o = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.1"), price=D("9900.00"), time_in_force="GTC"), T0
    ).orders[0]
    assert o.status == "NEW" and bal(ex, "USDT") == (D("9010"), D("990"))
    assert not ex.on_price("BTCUSDT", [D("9950.00")], T0 + 1).events
    out = ex.on_price("BTCUSDT", [D("9800.00"), D("9990.00")], T0 + 2)
    assert status_of(o) == "FILLED" and out.trades[0].price == D("9900.00") and out.trades[0].maker
    assert bal(ex, "USDT") == (D("9010"), D(0)) and bal(ex, "BTC") == (D("0.0999"), D(0))
    assert ex.last_price["BTCUSDT"] == D("9990.00")


def test_marketable_limit_takes_at_last_price_and_ioc_expires() -> None:
    ex = venue()
    taker = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.1"), price=D("10100"), time_in_force="GTC"), T0
    )
    assert taker.trades[0].price == D("10000.00") and not taker.trades[0].maker
    assert bal(ex, "USDT") == (D("9000"), D(0))
    ioc = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.1"), price=D("9000"), time_in_force="IOC"), T0
    )
    assert ioc.orders[0].status == "EXPIRED" and bal(ex, "USDT") == (D("9000"), D(0))


def test_stop_loss_triggers_on_cross_and_fills_at_stop_price() -> None:
    ex = venue(btc="1")
    stop = ex.place(
        "a", req("SELL", "STOP_LOSS", quantity=D("0.5"), stop_price=D("9500.00")), T0
    ).orders[0]
    assert bal(ex, "BTC") == (D("0.5"), D("0.5")) and not stop.is_working
    ex.on_price("BTCUSDT", [D("9600.00")], T0 + 1)
    assert stop.status == "NEW"
    out = ex.on_price("BTCUSDT", [D("9400.00")], T0 + 2)
    assert status_of(stop) == "FILLED" and out.trades[0].price == D("9500.00")
    assert bal(ex, "USDT") == (D("10000") + D("4750") - D("4.75"), D(0))


def test_stop_limit_rests_after_trigger_until_its_limit_is_reached() -> None:
    ex = venue(btc="1")
    o = place_stop_limit_sell(ex, "GTC")
    ex.on_price("BTCUSDT", [D("9400.00")], T0 + 1)
    assert o.triggered and o.is_working and o.status == "NEW"
    out = ex.on_price("BTCUSDT", [D("9700.00")], T0 + 2)
    assert status_of(o) == "FILLED" and out.trades[0].price == D("9600")


def test_oco_one_leg_fills_other_expires_and_lock_is_shared() -> None:
    ex = venue(btc="1")
    out = ex.place_oco("a", sell_oco("11000"), T0)
    above, below = out.orders
    assert above.order_list_id == below.order_list_id == out.order_list.order_list_id  # type: ignore[union-attr]
    assert bal(ex, "BTC") == (D(0), D(1))
    moved = ex.on_price("BTCUSDT", [D("11500.00")], T0 + 1)
    assert above.status == "FILLED" and below.status == "EXPIRED"
    assert bal(ex, "BTC") == (D(0), D(0))
    names = [
        (type(e).__name__, e.exec_type if isinstance(e, OrderEvent) else "") for e in moved.events
    ]
    assert names == [
        ("OrderEvent", "EXPIRED"),
        ("OrderEvent", "TRADE"),
        ("ListEvent", ""),
        ("BalanceEvent", ""),
    ]
    last = [e for e in moved.events if isinstance(e, ListEvent)][-1]
    assert last.order_list.list_order_status == "ALL_DONE"
    assert isinstance(moved.events[-1], BalanceEvent)


def test_oco_price_relation_and_cancel_of_leg_cancels_list() -> None:
    ex = venue(btc="1")
    with pytest.raises(SimError) as exc:
        ex.place_oco("a", sell_oco("9900"), T0)
    assert code(exc) == (-2010, "The relationship of the prices for the orders is not correct.")
    legs = ex.place_oco("a", sell_oco("10100"), T0).orders
    ex.cancel("a", "BTCUSDT", legs[1].order_id, None, T0 + 1)
    assert [o.status for o in legs] == ["CANCELED", "CANCELED"] and bal(ex, "BTC") == (D(1), D(0))
    with pytest.raises(SimError) as exc2:
        ex.cancel("a", "BTCUSDT", legs[0].order_id, None, T0 + 2)
    assert code(exc2) == (-2011, "Unknown order sent.")


def test_stop_limit_ioc_waits_for_trigger_then_expires_if_not_marketable() -> None:
    ex = venue(btc="1")
    o = place_stop_limit_sell(ex, "IOC")
    assert o.status == "NEW" and bal(ex, "BTC") == (D(0), D(1))
    ex.on_price("BTCUSDT", [D("9400.00")], T0 + 1)
    assert status_of(o) == "EXPIRED" and bal(ex, "BTC") == (D(1), D(0))
