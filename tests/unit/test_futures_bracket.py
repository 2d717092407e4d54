"""USD-M bracket sizing on the bundled XRPUSDT perpetual's real prices and filters."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.decision.bracket import BracketError
from engine.decision.futures import MARGIN_FRACTION, build_futures_bracket, leverage_for
from greenlight.core.contracts import Market, Side, SignalRaw
from tests.symbol_rules import XRPUSDT_PERP as RULES

DATA = Path(__file__).resolve().parents[2] / "data" / "XRPUSDT-perp-5m-futures.csv"


def candle(row_index: int) -> dict[str, str]:
    with DATA.open() as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i == row_index:
                return row
    raise AssertionError(f"no row {row_index}")


def signal(side: str, entry: float, stop: float) -> SignalRaw:
    return SignalRaw(
        agent="t",
        venue="sim",
        symbol="XRPUSDT",
        tf="5m",
        open_time=0,
        side_hint=side,
        entry_hint=entry,
        sl_hint=stop,
        tpR=(1.5, 2.0, 3.0),
        features={},
        score=0.7,
        ttl_bars=1,
    )


def test_long_on_real_candle_risks_the_budget_and_rounds_to_filters() -> None:
    row = candle(100)
    entry, low = float(row["close"]), float(row["low"])
    b = build_futures_bracket(signal("long", entry, low * 0.99), RULES, D(1000), D("0.01"), 3)
    assert b.market == Market.USDM and b.side == Side.BUY and b.entry_type == "MARKET"
    assert b.entry_price % RULES.tick_size == 0 and b.quantity % RULES.step_size == 0
    per_unit = b.entry_price - b.stop_price
    assert b.stop_price < b.entry_price
    assert b.quantity * per_unit <= D(10) < (b.quantity + RULES.step_size) * per_unit
    assert sum(leg.quantity for leg in b.take_profits) == b.quantity
    assert [leg.price for leg in b.take_profits] == sorted(leg.price for leg in b.take_profits)
    assert all(leg.price > b.entry_price for leg in b.take_profits)
    notional = b.quantity * b.entry_price
    assert notional / b.leverage <= D(1000) * MARGIN_FRACTION
    assert b.leverage == 1 or notional / (b.leverage - 1) > D(1000) * MARGIN_FRACTION


def test_short_mirrors_prices_and_uses_sell_side() -> None:
    row = candle(250)
    entry, high = float(row["close"]), float(row["high"])
    b = build_futures_bracket(signal("short", entry, high * 1.005), RULES, D(500), D("0.005"), 3)
    assert b.side == Side.SELL and b.stop_price > b.entry_price
    assert all(leg.price < b.entry_price for leg in b.take_profits)
    assert [leg.price for leg in b.take_profits] == sorted(
        (leg.price for leg in b.take_profits), reverse=True
    )
    first = b.take_profits[0]
    risk = b.stop_price - b.entry_price
    assert abs((b.entry_price - first.price) / risk - D("1.5")) < D("0.01")


def test_tight_stop_needs_leverage_and_is_capped() -> None:
    # 0.2 % stop with 1 % risk wants 5x notional; cap 3 limits quantity, leverage = 3.
    b = build_futures_bracket(signal("long", 1.0, 0.998), RULES, D(1000), D("0.01"), 3)
    assert b.leverage == 3
    assert b.quantity * b.entry_price <= D(1000) * MARGIN_FRACTION * 3
    assert b.quantity * (b.entry_price - b.stop_price) < D(10)
    two = build_futures_bracket(signal("long", 1.0, 0.995), RULES, D(1000), D("0.01"), 3)
    assert two.leverage == 3 and two.quantity == D(2000)  # 2000 XRP ≈ 2000 USDT: 3x fits
    one = build_futures_bracket(signal("long", 1.0, 0.98), RULES, D(1000), D("0.01"), 3)
    assert one.leverage == 1 and one.quantity == D(500)


def test_leverage_for_picks_smallest_fitting_integer() -> None:
    assert leverage_for(D(950), D(1000), 3) == 1
    assert leverage_for(D("950.01"), D(1000), 3) == 2
    with pytest.raises(BracketError, match="cap 3"):
        leverage_for(D(2851), D(1000), 3)


@pytest.mark.parametrize(
    ("side", "entry", "stop", "equity", "match"),
    [
        ("long", 1.0, 1.01, 1000, "not below entry"),
        ("short", 1.0, 0.99, 1000, "not above entry"),
        ("long", 1.0, 0.9, 20, "NOTIONAL"),
        ("long", 1.0, 0.9, 0, "equity must be positive"),
    ],
)
def test_refusals_name_the_reason(
    side: str, entry: float, stop: float, equity: int, match: str
) -> None:
    with pytest.raises(BracketError, match=match):
        build_futures_bracket(signal(side, entry, stop), RULES, D(equity), D("0.01"), 3)


def test_cap_below_one_is_refused() -> None:
    with pytest.raises(BracketError, match="leverage cap"):
        build_futures_bracket(signal("long", 1.0, 0.9), RULES, D(1000), D("0.01"), 0)


def test_futures_sizing_counts_the_fees_at_entry_and_stop() -> None:
    fee = D("0.0005")
    b = build_futures_bracket(signal("short", 1.0, 1.01), RULES, D(1000), D("0.01"), 3, fee)
    unit = (b.stop_price - b.entry_price) + fee * (b.entry_price + b.stop_price)
    assert b.quantity * unit <= D(10) < (b.quantity + RULES.step_size) * unit
