from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.decision.bracket import BracketError, build_spot_bracket, split_ladder
from greenlight.core.contracts import SignalRaw
from greenlight.core.symbols import SymbolRules
from tests.symbol_rules import BTCUSDT as RULES
from tests.symbol_rules import BTCUSDT_INFO as INFO


def signal(entry: float, stop: float) -> SignalRaw:
    return SignalRaw(
        agent="t",
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=0,
        side_hint="long",
        entry_hint=entry,
        sl_hint=stop,
        tpR=(1.5, 2.0, 3.0),
        features={},
        score=0.7,
        ttl_bars=1,
    )


def test_fixed_fractional_size_and_rounding() -> None:
    b = build_spot_bracket(signal(60250.123, 59550.987), RULES, D("9640"), D("0.005"))
    assert b.entry_price == D("60250.12") and b.stop_price == D("59550.98")
    # 48.20 USDT at risk over 699.14 per BTC → 0.06894… rounded down to the step
    assert b.quantity == D("0.06894")
    assert b.risk_quote <= D("48.20")
    assert sum(tp.quantity for tp in b.take_profits) == b.quantity
    assert [tp.price for tp in b.take_profits] == [D("61298.83"), D("61648.40"), D("62347.54")]
    for tp in b.take_profits:
        assert RULES.check(tp.price, tp.quantity) is None


def test_notional_cap_for_spot() -> None:
    b = build_spot_bracket(signal(60000, 59990), RULES, D("1000"), D("0.01"))
    assert b.quantity * b.entry_price <= D("950")


def test_too_small_is_refused_with_reason() -> None:
    with pytest.raises(BracketError, match="NOTIONAL"):
        build_spot_bracket(signal(60000, 50000), RULES, D("100"), D("0.005"))
    with pytest.raises(BracketError, match="not below entry"):
        build_spot_bracket(signal(60000, 60000.001), RULES, D("10000"), D("0.005"))


def test_ladder_merges_rungs_below_min_notional() -> None:
    legs = split_ladder(
        D("0.00020"), [D("61000"), D("62000"), D("63000")], [D("1.5"), D("2"), D("3")], RULES
    )
    assert sum(leg.quantity for leg in legs) == D("0.00020")
    assert all(leg.quantity * leg.price >= D("5") for leg in legs)
    assert len(legs) == 2


def test_unknown_symbol() -> None:
    from greenlight.core.symbols import SymbolRulesError

    with pytest.raises(SymbolRulesError, match="unknown symbol 'ETHUSDT'"):
        SymbolRules.from_exchange_info(INFO, "ETHUSDT")


def test_sizing_counts_the_fees_paid_at_entry_and_stop() -> None:
    fee = D("0.001")
    b = build_spot_bracket(signal(60250, 59550), RULES, D("10000"), D("0.005"), fee_rate=fee)
    loss = b.quantity * (b.entry_price - b.stop_price) + fee * b.quantity * (
        b.entry_price + b.stop_price
    )
    assert loss <= D(50) < loss + RULES.step_size * 820  # within one lot step of the budget
    assert b.quantity == D("0.06099")  # 50 / (700 + 119.8), rounded down
