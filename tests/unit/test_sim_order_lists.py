"""OTO / OTOCO: pending legs wait as PENDING_NEW, activate on the working fill, link as OCO."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sim.errors import SimError
from sim.spot.filters import rules_for
from sim.spot.order_lists import ListExchange
from sim.spot.orders import ListEvent, OrderRequest, OtoRequest

BTC = rules_for("BTCUSDT", [9000.0])
T0 = 1_600_000_000_000


def venue(btc: str = "0") -> ListExchange:
    ex = ListExchange({"BTCUSDT": BTC}, D("0.001"))
    ex.add_account("a", {"USDT": D("10000"), "BTC": D(btc)})
    ex.set_price("BTCUSDT", D("10000.00"))
    return ex


def leg(side: str, type_: str, qty: str, **kw: object) -> OrderRequest:
    return OrderRequest("BTCUSDT", side, type_, D(qty), **kw)  # type: ignore[arg-type]


def entry(qty: str = "0.1") -> OrderRequest:
    return leg("BUY", "LIMIT", qty, price=D("9900.00"), time_in_force="GTC")


def otoco(qty: str = "0.0999") -> OtoRequest:
    tp = leg("SELL", "LIMIT_MAKER", qty, price=D("10500.00"))
    sl = leg("SELL", "STOP_LOSS", qty, stop_price=D("9500.00"))
    return OtoRequest("BTCUSDT", entry(), tp, sl, "bracket-1")


def test_otoco_pending_until_entry_fills_then_take_profit_expires_the_stop() -> None:
    ex = venue()
    out = ex.place_oto("a", otoco(), T0)
    working, tp, sl = out.orders
    assert (working.status, tp.status, sl.status) == ("NEW", "PENDING_NEW", "PENDING_NEW")
    assert out.order_list is not None and out.order_list.contingency_type == "OTOCO"
    assert ex.accounts["a"].locked["USDT"] == D("990.0")  # only the entry is funded
    ex.on_price("BTCUSDT", [D("9950.00"), D("10100.00")], T0 + 1)
    assert tp.status == "PENDING_NEW"  # the take-profit level passed before the entry filled
    fill = ex.on_price("BTCUSDT", [D("9890.00")], T0 + 2)
    assert working.status == "FILLED" and (tp.status, sl.status) == ("NEW", "NEW")
    assert ex.accounts["a"].locked["BTC"] == D("0.0999")
    statuses = [e.order_list.list_order_status for e in fill.events if isinstance(e, ListEvent)]
    assert statuses[-1] == "EXECUTING"
    ex.on_price("BTCUSDT", [D("10600.00")], T0 + 3)
    assert (tp.status, sl.status) == ("FILLED", "EXPIRED")
    assert ex.lists[out.order_list.order_list_id].list_order_status == "ALL_DONE"


def test_oto_cancel_any_leg_cancels_the_pending_one_too() -> None:
    ex = venue()
    tp = leg("SELL", "LIMIT", "0.05", price=D("10500.00"), time_in_force="GTC")
    out = ex.place_oto("a", OtoRequest("BTCUSDT", entry(), tp), T0)
    working, pending = out.orders
    cancelled = ex.cancel("a", "BTCUSDT", pending.order_id, None, T0 + 1)
    assert {o.order_id: o.status for o in cancelled.orders} == {
        working.order_id: "CANCELED",
        pending.order_id: "CANCELED",
    }
    assert ex.accounts["a"].locked["USDT"] == 0


def test_unfunded_pending_sell_expires_when_commission_ate_the_base() -> None:
    ex = venue()
    out = ex.place_oto("a", otoco(qty="0.1"), T0)  # bought 0.1 minus 0.1 % commission
    ex.on_price("BTCUSDT", [D("9890.00")], T0 + 1)
    assert [o.status for o in out.orders] == ["FILLED", "EXPIRED", "EXPIRED"]
    assert out.order_list is not None and out.order_list.list_order_status == "ALL_DONE"


def test_marketable_entry_activates_at_once_and_bad_legs_are_refused() -> None:
    ex = venue(btc="1")
    marketable = OtoRequest(
        "BTCUSDT",
        leg("BUY", "LIMIT", "0.1", price=D("10100.00"), time_in_force="GTC"),
        leg("SELL", "STOP_LOSS", "0.1", stop_price=D("9000.00")),
    )
    out = ex.place_oto("a", marketable, T0)
    assert [o.status for o in out.orders] == ["FILLED", "NEW"]
    crossed = OtoRequest(
        "BTCUSDT",
        entry(),
        leg("SELL", "LIMIT_MAKER", "0.1", price=D("9000.00")),
        leg("SELL", "STOP_LOSS", "0.1", stop_price=D("9500.00")),
    )
    with pytest.raises(SimError) as exc:
        ex.place_oto("a", crossed, T0)
    assert (exc.value.code, exc.value.msg) == (
        -2010,
        "The relationship of the prices for the orders is not correct.",
    )
    with pytest.raises(SimError) as exc:
        ex.place_oto("a", OtoRequest("BTCUSDT", leg("BUY", "MARKET", "0.1"), entry()), T0)
    assert exc.value.code == -1116
    assert len(ex.orders) == 2  # the refused lists left nothing behind
