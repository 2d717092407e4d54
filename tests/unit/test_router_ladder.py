from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from greenlight.core.symbols import SymbolRules
from router.brackets import plan_entry
from router.ladder import ProtectionError, split_rungs

# BTCUSDT filters as Binance serves them (2024-2025 exchangeInfo values).
BTCUSDT_INFO: dict[str, Any] = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
                 "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                 "stepSize": "0.00001000"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                 "maxQty": "83.69462011", "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
                 "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
        }
    ]
}  # fmt: skip
RULES = SymbolRules.from_exchange_info(BTCUSDT_INFO, "BTCUSDT")


def bracket(qty: str = "0.0688", rungs: tuple[str, ...] = ("0.0229", "0.0229", "0.0230"),
            entry_type: str = "MARKET") -> Bracket:  # fmt: skip
    prices = ("61300", "61650", "62350")
    return Bracket(
        market=Market.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        entry_type=entry_type,
        entry_price=D("60250"),
        quantity=D(qty),
        stop_price=D("59550"),
        take_profits=tuple(
            BracketLeg(price=D(p), quantity=D(q), r_multiple=D(r))
            for p, q, r in zip(prices, rungs, ("1.5", "2", "3"), strict=False)
        ),
        risk_quote=D("48.2"),
        risk_fraction=D("0.005"),
        equity_quote=D("9640"),
    )


def test_rungs_resplit_to_net_fill_after_base_commission() -> None:
    net = D("0.0688") - D("0.0000688")  # 0.1 % commission taken in BTC
    rungs = split_rungs(bracket(), net, RULES)
    assert [r.quantity for r in rungs] == [D("0.02287"), D("0.02287"), D("0.02299")]
    assert sum(r.quantity for r in rungs) == RULES.round_qty(net)
    assert net - sum(r.quantity for r in rungs) < RULES.step_size
    assert {r.stop for r in rungs} == {D("59550.00")}
    assert [r.take_profit for r in rungs] == [D("61300.00"), D("61650.00"), D("62350.00")]
    assert [r.index for r in rungs] == [1, 2, 3]


def test_rungs_breaking_notional_are_merged_into_the_next() -> None:
    # 0.00025 BTC: each third (0.00008 BTC ≈ 4.8 USDT at the stop) is under the 5 USDT minimum.
    rungs = split_rungs(bracket(), D("0.00025"), RULES)
    assert len(rungs) == 2
    assert rungs[0].quantity == D("0.00016") and rungs[0].take_profit == D("61650.00")
    assert rungs[1].quantity == D("0.00009") and rungs[1].take_profit == D("62350.00")
    for r in rungs:
        assert RULES.check(r.stop, r.quantity) is None
        assert RULES.check(r.take_profit, r.quantity) is None


def test_last_small_rung_merges_into_previous() -> None:
    rungs = split_rungs(bracket(rungs=("0.06872", "0.00008")), D("0.0688"), RULES)
    assert [(r.take_profit, r.quantity) for r in rungs] == [(D("61300.00"), D("0.0688"))]


def test_position_too_small_for_any_order_is_refused() -> None:
    with pytest.raises(ProtectionError, match="too small"):
        split_rungs(bracket(), D("0.00008"), RULES)
    with pytest.raises(ProtectionError, match="nothing to protect"):
        split_rungs(bracket(), D("0"), RULES)


@settings(max_examples=200, deadline=None)
@given(net=st.decimals(min_value=D("0.0001"), max_value=D("5"), places=8))
def test_stop_always_covers_the_whole_position(net: D) -> None:
    try:
        rungs = split_rungs(bracket(), net, RULES)
    except ProtectionError:
        assert net * D("59550") < D("5") * 2 or RULES.round_qty(net) * D("59550") < 5
        return
    total = sum(r.quantity for r in rungs)
    assert total == RULES.round_qty(net)
    for r in rungs:
        assert r.quantity % RULES.step_size == 0
        assert RULES.check(r.stop, r.quantity) is None


def test_entry_plan_rounds_to_filters_and_uses_deterministic_id() -> None:
    plan = plan_entry(12, bracket(qty="0.068812345"), RULES)
    assert plan.order.client_order_id == "gl-12-E"
    assert plan.order.order_type == "MARKET" and plan.order.price is None
    # MARKET_LOT_SIZE step 0 on BTCUSDT: the LOT_SIZE step applies instead.
    assert plan.order.quantity == D("0.06881")
    limit = plan_entry(12, bracket(qty="0.068812345", entry_type="LIMIT"), RULES)
    assert limit.order.quantity == D("0.06881") and limit.order.price == D("60250.00")


def test_entry_plan_refuses_below_notional() -> None:
    with pytest.raises(ValueError, match="NOTIONAL"):
        plan_entry(1, bracket(qty="0.00005", entry_type="LIMIT"), RULES)
