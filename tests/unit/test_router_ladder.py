from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.ladder import ProtectionError, split_rungs
from router.markets.spot_entry import plan_entry
from tests.unit.ladder_support import RULES, bracket


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
