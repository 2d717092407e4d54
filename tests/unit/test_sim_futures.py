"""USD-M engine: margin, reduce-only, liquidation price, algo triggers, funding, resampling."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from greenlight.core.candlefile import read_candles
from sim.errors import SimError
from sim.replay.resample import file_interval_ms, resample
from sim.spot.filters import rules_for
from sim.usdm.algo import AlgoDesk, step_price
from sim.usdm.feed import FundingFeed
from sim.usdm.matching import FuturesBook
from sim.usdm.models import AccountUpdate, AlgoRequest, AlgoUpdate, FutOrderRequest, OrderUpdate
from sim.usdm.rules import fut_rules_from
from sim.usdm.settle import liquidate, settle_funding
from sim.usdm.setup import read_series

DATA = Path(__file__).resolve().parents[2] / "data"
D = Decimal
NOW = 1_700_000_000_000


def book(wallet: str = "1000", price: str = "1.0993") -> FuturesBook:
    b = FuturesBook({"XRPUSDT": fut_rules_from(rules_for("XRPUSDT", [1.0993]))})
    b.add_account("k", D(wallet))
    b.set_price("XRPUSDT", D(price))
    return b


def market(side: str, qty: str, reduce_only: bool = False) -> FutOrderRequest:
    return FutOrderRequest("XRPUSDT", side, "MARKET", D(qty), reduce_only=reduce_only)  # type: ignore[arg-type]


def test_margin_check_uses_leverage_and_changes_nothing_on_failure() -> None:
    b = book(wallet="100")
    b.accounts["k"].leverage["XRPUSDT"] = 2
    with pytest.raises(SimError) as exc:
        b.place("k", market("BUY", "200"), NOW)  # 219.86 notional / 2 > 100
    assert (exc.value.code, exc.value.msg) == (-2019, "Margin is insufficient.")
    assert b.orders == {} and b.accounts["k"].wallet == D(100)
    b.accounts["k"].leverage["XRPUSDT"] = 3
    out = b.place("k", market("BUY", "200"), NOW)
    assert out.orders[0].status == "FILLED"
    assert b.accounts["k"].positions[("XRPUSDT", "BOTH")].amount == D(200)


def test_reduce_only_and_min_notional_rejections() -> None:
    b = book()
    with pytest.raises(SimError) as exc:
        b.place("k", market("SELL", "10", reduce_only=True), NOW)
    assert (exc.value.code, exc.value.msg) == (-2022, "ReduceOnly Order is rejected.")
    with pytest.raises(SimError) as exc:
        b.place("k", market("BUY", "4"), NOW)  # 4.40 USDT < 5
    assert exc.value.code == -4164
    assert (
        exc.value.msg
        == "Order's notional must be no smaller than 5 (unless you choose reduce only)"
    )
    b.place("k", market("BUY", "100"), NOW)
    closed = b.place("k", market("SELL", "4", reduce_only=True), NOW)  # small but reduce-only
    assert closed.orders[0].status == "FILLED"


def test_liquidation_price_matches_binance_one_way_formula() -> None:
    b = book()
    acct = b.accounts["k"]
    acct.leverage["XRPUSDT"] = 3
    acct.margin_type["XRPUSDT"] = "ISOLATED"
    b.place("k", market("BUY", "100"), NOW)
    pos = acct.positions[("XRPUSDT", "BOTH")]
    iw = D("109.93") / 3
    assert abs(pos.isolated_wallet - iw) < D("1e-8")
    lp = acct.liquidation_price(pos, b.marks, b.mmr)
    expected = (D("109.93") - iw) / (D(100) * (1 - D("0.005")))
    assert abs(lp - expected) < D("1e-7") and D("0.7") < lp < D("0.75")
    # the mark price crossing it liquidates; just above it does not
    b.marks["XRPUSDT"] = lp + D("0.001")
    assert liquidate(b, "XRPUSDT", NOW).events == []
    b.marks["XRPUSDT"] = lp - D("0.0001")
    out = liquidate(b, "XRPUSDT", NOW)
    assert pos.amount == 0 and out.orders == [] and out.trades[0].qty == D(100)
    assert acct.wallet < D(1000) - iw + D(1)


def test_short_cross_liquidation_price_is_above_entry() -> None:
    b = book(wallet="50")
    b.place("k", market("SELL", "200"), NOW)
    acct = b.accounts["k"]
    lp = acct.liquidation_price(acct.positions[("XRPUSDT", "BOTH")], b.marks, b.mmr)
    wallet = acct.wallet
    assert lp == ((wallet + D(200) * D("1.0993")) / (D(200) * D("1.005"))).quantize(D("1e-8"))
    assert lp > D("1.0993")


def test_stop_market_close_position_triggers_on_the_path_in_event_order() -> None:
    b = book()
    desk = AlgoDesk(b)
    b.place("k", market("BUY", "100"), NOW)
    req = AlgoRequest("XRPUSDT", "SELL", "STOP_MARKET", D("1.0800"), close_position=True)
    with pytest.raises(SimError) as exc:
        desk.place("k", AlgoRequest("XRPUSDT", "SELL", "STOP_MARKET", D("1.1"), D(100)), NOW)
    assert (exc.value.code, exc.value.msg) == (-2021, "Order would immediately trigger.")
    algo, _ = desk.place("k", req, NOW)
    out = step_price(b, desk, "XRPUSDT", [D("1.09"), D("1.07"), D("1.10")], D("1.08"), NOW)
    kinds = [
        (type(e).__name__, getattr(e, "status", getattr(e, "exec_type", getattr(e, "reason", ""))))
        for e in out.events
    ]
    assert kinds == [
        ("AlgoUpdate", "TRIGGERING"),
        ("AlgoUpdate", "TRIGGERED"),
        ("OrderUpdate", "NEW"),
        ("AccountUpdate", "ORDER"),
        ("OrderUpdate", "TRADE"),
        ("AlgoUpdate", "FINISHED"),
    ]
    trade = out.trades[0]
    assert trade.price == D("1.0800") and trade.qty == D(100) and algo.status == "FINISHED"
    assert trade.realized_pnl == (D("1.08") - D("1.0993")) * 100
    assert b.accounts["k"].positions[("XRPUSDT", "BOTH")].amount == 0


def test_take_profit_mark_price_and_trailing_stop() -> None:
    b = book()
    desk = AlgoDesk(b)
    b.place("k", market("BUY", "100"), NOW)
    tp = AlgoRequest(
        "XRPUSDT",
        "SELL",
        "TAKE_PROFIT_MARKET",
        D("1.15"),
        D(50),
        reduce_only=True,
        working_type="MARK_PRICE",
    )
    trail = AlgoRequest(
        "XRPUSDT",
        "SELL",
        "TRAILING_STOP_MARKET",
        None,
        D(50),
        reduce_only=True,
        callback_rate=D(1),
    )
    tp_algo, _ = desk.place("k", tp, NOW)
    tr_algo, _ = desk.place("k", trail, NOW)
    # the contract price passes 1.15 but the mark price does not: no take-profit
    step_price(b, desk, "XRPUSDT", [D("1.16"), D("1.155")], D("1.12"), NOW)
    assert tp_algo.status == "NEW" and tr_algo.status == "NEW"
    step_price(b, desk, "XRPUSDT", [D("1.153")], D("1.151"), NOW)
    assert tp_algo.status == "FINISHED"
    # trailing: best price 1.16, 1 % back is 1.1484
    out = step_price(b, desk, "XRPUSDT", [D("1.149"), D("1.148")], D("1.148"), NOW)
    assert tr_algo.status == "FINISHED" and out.trades[0].price == D("1.1484")
    assert b.accounts["k"].positions[("XRPUSDT", "BOTH")].amount == 0


def test_reduce_only_algo_without_position_is_rejected_at_trigger() -> None:
    b = book()
    desk = AlgoDesk(b)
    algo, _ = desk.place(
        "k", AlgoRequest("XRPUSDT", "SELL", "STOP_MARKET", D("1.05"), D(10), reduce_only=True), NOW
    )
    out = step_price(b, desk, "XRPUSDT", [D("1.04")], D("1.04"), NOW)
    assert algo.status == "REJECTED" and out.trades == []
    assert [e.status for e in out.events if isinstance(e, AlgoUpdate)] == ["TRIGGERING", "REJECTED"]


def test_funding_fee_sign_and_account_update() -> None:
    b = book()
    b.place("k", market("BUY", "100"), NOW)
    before = b.accounts["k"].wallet
    out = settle_funding(b, "XRPUSDT", D("0.0001"), D("1.1"), NOW)
    (ev,) = out.events
    assert isinstance(ev, AccountUpdate) and ev.reason == "FUNDING_FEE"
    assert ev.balance_change == D("-0.011") and b.accounts["k"].wallet == before - D("0.011")


def test_gtx_and_resting_limit_fill_as_maker() -> None:
    b = book()
    buy = FutOrderRequest("XRPUSDT", "BUY", "LIMIT", D(10), D("1.1000"), "GTX")
    with pytest.raises(SimError) as exc:
        b.place("k", buy, NOW)
    assert exc.value.code == -5022
    rest = FutOrderRequest(
        "XRPUSDT", "BUY", "LIMIT", D(10), D("1.0900"), "GTC", client_order_id="a"
    )
    b.place("k", rest, NOW)
    with pytest.raises(SimError) as exc:
        b.place("k", rest, NOW)
    assert (exc.value.code, exc.value.msg) == (-4116, "ClientOrderId is duplicated.")
    out = b.on_path("XRPUSDT", [D("1.095"), D("1.089")], NOW)
    assert out.trades[0].maker and out.trades[0].price == D("1.0900")
    assert isinstance(out.events[-1], OrderUpdate) and out.events[-1].order.status == "FILLED"


def test_feed_reads_mark_and_funding_files() -> None:
    feed = FundingFeed(
        read_series(DATA / "XRPUSDT-perp-1h-mark.csv"),
        read_series(DATA / "XRPUSDT-perp-8h-funding_rate.csv"),
    )
    t0 = 1636956000000  # first mark candle: open 1.20932, close 1.21431
    assert feed.mark_at(t0, 9.0) == pytest.approx(1.20932)
    assert feed.mark_at(t0 + 1_800_000, 9.0) == pytest.approx((1.20932 + 1.21431) / 2)
    assert feed.mark_at(t0 - 1, 9.0) == 9.0  # before the file: derived from the last price
    assert feed.rate_at(1637193600000) == D("0.0001")  # stamped ...600017 in the file
    assert feed.next_funding_time(1637193600000) == 1637193600000 + 8 * 3_600_000
    assert feed.funding_times(1637193600000 - 1, 1637222400000) == [1637193600000, 1637222400000]


def test_resample_5m_to_15m_and_never_downward() -> None:
    five = read_candles(DATA / "XRPUSDT-perp-5m-futures.csv")
    assert file_interval_ms(five) == 300_000
    fifteen = resample(five, 900_000)
    assert len(fifteen) == len(five) // 3 and int(fifteen.open_time[0]) % 900_000 == 0
    i = int(next(j for j in range(len(five)) if int(five.open_time[j]) == fifteen.open_time[1]))
    assert fifteen.open[1] == five.open[i] and fifteen.close[1] == five.close[i + 2]
    assert fifteen.high[1] == five.high[i : i + 3].max()
    assert fifteen.volume[1] == pytest.approx(five.volume[i : i + 3].sum())
    with pytest.raises(ValueError, match="upward"):
        resample(fifteen, 300_000)
