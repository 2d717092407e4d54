"""The ``partial_fill`` fault in the engines: slices per replay step, resting limits sliced
when touched, IOC / FOK, order lists, cancel, futures market and reduce-only slices."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

from sim.faults import Faults, parse_fault
from sim.spot.filters import rules_for
from sim.spot.order_lists import ListExchange
from sim.spot.orders import Order, OrderEvent, OrderRequest, OtoRequest, Outcome
from sim.usdm.algo import AlgoDesk, step_price
from sim.usdm.matching import FuturesBook
from sim.usdm.models import FutOrderRequest, OrderUpdate
from sim.usdm.rules import fut_rules_from

BTC = rules_for("BTCUSDT", [9000.0])
T0 = 1_600_000_000_000


def status(o: Order) -> str:
    """The current status (a call, so mypy does not keep an earlier narrowing)."""
    return o.status


def venue(faults: Faults) -> ListExchange:
    ex = ListExchange({"BTCUSDT": BTC}, D("0.001"))
    ex.add_account("a", {"USDT": D(100000), "BTC": D(1)})
    ex.set_price("BTCUSDT", D("10000.00"))
    ex.slicer.picker = lambda sym, cid: faults.pick_partial("spot", sym, cid)
    return ex


def faults_with(**body: object) -> Faults:
    f = Faults()
    f.add(parse_fault({"kind": "partial_fill", **body}))
    return f


def req(side: str, type_: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, type=type_, **kw)  # type: ignore[arg-type]


def reports(out: Outcome) -> list[tuple[str, str, D]]:
    return [
        (e.exec_type, e.order.status, e.order.executed_qty)
        for e in out.events
        if isinstance(e, OrderEvent)
    ]


def test_market_order_fills_in_slices_one_per_step_and_count_is_consumed() -> None:
    f = faults_with(slices=3, count=1)
    ex = venue(f)
    out = ex.place("a", req("BUY", "MARKET", quantity=D("0.03")), T0)
    assert reports(out) == [("NEW", "NEW", D(0)), ("TRADE", "PARTIALLY_FILLED", D("0.01"))]
    assert f.pending == []  # the one order the fault applied to has been picked
    o = out.orders[0]
    step1 = ex.on_price("BTCUSDT", [D("10010.00"), D("10020.00")], T0 + 1)
    assert reports(step1) == [("TRADE", "PARTIALLY_FILLED", D("0.02"))]
    assert step1.trades[0].price == D("10020.00")  # the last price of the step
    step2 = ex.on_price("BTCUSDT", [D("10030.00")], T0 + 2)
    assert reports(step2) == [("TRADE", "FILLED", D("0.03"))] and status(o) == "FILLED"
    assert [t.qty for t in ex.trades] == [D("0.01")] * 3
    plain = ex.place("a", req("BUY", "MARKET", quantity=D("0.03")), T0 + 3)
    assert plain.orders[0].status == "FILLED"  # count exhausted: back to whole fills


def test_resting_limit_is_sliced_when_touched_then_while_through_it() -> None:
    ex = venue(faults_with(slices=2))
    o = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.02"), price=D("9900.00"), time_in_force="GTC"), T0
    ).orders[0]
    touched = ex.on_price("BTCUSDT", [D("9800.00"), D("9950.00")], T0 + 1)
    assert reports(touched) == [("TRADE", "PARTIALLY_FILLED", D("0.01"))]
    assert touched.trades[0].price == D("9900.00") and touched.trades[0].maker
    above = ex.on_price("BTCUSDT", [D("9990.00")], T0 + 2)
    assert reports(above) == [] and status(o) == "PARTIALLY_FILLED"
    assert ex.accounts["a"].locked["USDT"] == D("99.00")  # the unfilled half stays locked
    ex.on_price("BTCUSDT", [D("9850.00")], T0 + 3)
    assert status(o) == "FILLED" and ex.accounts["a"].locked["USDT"] == 0


def test_ioc_keeps_its_first_slice_fok_is_never_sliced_and_cancel_frees_the_rest() -> None:
    ex = venue(faults_with(slices=4, count=3))
    ioc = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.04"), price=D("10000.00"), time_in_force="IOC"), T0
    )
    assert reports(ioc)[-1] == ("EXPIRED", "EXPIRED", D("0.01"))
    fok = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.04"), price=D("10000.00"), time_in_force="FOK"), T0
    )
    assert fok.orders[0].status == "FILLED"
    sell = ex.place(
        "a", req("SELL", "LIMIT", quantity=D("0.04"), price=D("10000.00"), time_in_force="GTC"), T0
    ).orders[0]
    assert status(sell) == "PARTIALLY_FILLED"
    ex.cancel("a", "BTCUSDT", sell.order_id, None, T0 + 1)
    assert status(sell) == "CANCELED" and ex.accounts["a"].locked["BTC"] == 0


def test_oto_pending_leg_activates_only_after_the_last_slice() -> None:
    ex = venue(faults_with(slices=2, client_id_prefix="w-"))
    work = req(
        "BUY",
        "LIMIT",
        quantity=D("0.02"),
        price=D("10000.00"),
        time_in_force="GTC",
        client_order_id="w-1",
    )
    pend = req("SELL", "LIMIT_MAKER", quantity=D("0.019"), price=D("11000.00"))
    out = ex.place_oto("a", OtoRequest("BTCUSDT", work, pend), T0)
    working, pending = out.orders
    assert status(working) == "PARTIALLY_FILLED" and status(pending) == "PENDING_NEW"
    ex.on_price("BTCUSDT", [D("10000.00")], T0 + 1)
    assert status(working) == "FILLED" and status(pending) == "NEW"


def fbook(faults: Faults) -> tuple[FuturesBook, AlgoDesk]:
    b = FuturesBook({"XRPUSDT": fut_rules_from(rules_for("XRPUSDT", [1.0993]))})
    b.add_account("k", D(1000))
    b.set_price("XRPUSDT", D("1.0993"))
    b.slicer.picker = lambda sym, cid: faults.pick_partial("futures", sym, cid)
    return b, AlgoDesk(b)


def fut_reports(events: Sequence[object]) -> list[tuple[str, str, D]]:
    return [
        (e.exec_type, e.order.status, e.order.executed_qty)
        for e in events
        if isinstance(e, OrderUpdate)
    ]


def test_futures_market_and_reduce_only_slices_over_steps() -> None:
    f = faults_with(slices=2, count=2, market="futures")
    b, desk = fbook(f)
    assert (
        venue(f).place("a", req("BUY", "MARKET", quantity=D("0.02")), T0).orders[0].status
        == "FILLED"
    )  # a futures-only fault leaves spot orders alone
    out = b.place("k", FutOrderRequest("XRPUSDT", "BUY", "MARKET", D("100")), T0)
    assert fut_reports(out.events)[-1] == ("TRADE", "PARTIALLY_FILLED", D("50"))
    step = step_price(b, desk, "XRPUSDT", [D("1.1000"), D("1.1010")], D("1.1000"), T0 + 1)
    assert fut_reports(step.events) == [("TRADE", "FILLED", D("100"))]
    assert b.accounts["k"].positions[("XRPUSDT", "BOTH")].amount == D(100)
    close = FutOrderRequest("XRPUSDT", "SELL", "MARKET", D("100"), reduce_only=True)
    out = b.place("k", close, T0 + 2)
    assert out.orders[0].status == "PARTIALLY_FILLED"
    step_price(b, desk, "XRPUSDT", [D("1.1020")], D("1.1020"), T0 + 3)
    assert out.orders[0].status == "FILLED"
    assert b.accounts["k"].positions[("XRPUSDT", "BOTH")].amount == 0
