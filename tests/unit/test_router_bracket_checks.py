"""The router's own bracket checks (risk at the stop with fees, sides, targets, leverage,
notional) and the order-count planning of spot protection."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from router.bracket_checks import BracketLimits, cost_to_open, loss_at_stop, refusal
from router.markets.spot import SpotMarket
from router.markets.usdm import UsdmMarket
from router.order_budget import (
    NoRoomError,
    Slots,
    count_resting,
    fit_ladder,
    merge_ladder,
    peak_need,
)
from tests.unit.ladder_support import RULES

LIMITS = BracketLimits()  # 0.5 % risk, 10 % tolerance, 0.1 % fee a side
EQUITY = D(10000)
CARRY = {Market.SPOT: SpotMarket.carry, Market.USDM: UsdmMarket.carry}


def check(bracket: Bracket, equity: D = EQUITY) -> str | None:
    """The router's refusal of ``bracket`` on its own market."""
    return refusal(bracket, equity, LIMITS, CARRY[bracket.market], 3)


def spot(
    qty: str,
    entry: str,
    stop: str,
    tps: tuple[str, ...] = ("61300", "61650", "62350"),
    entry_type: str = "MARKET",
) -> Bracket:
    share = D(qty) / len(tps) if tps else D(0)
    legs = tuple(
        BracketLeg(price=D(p), quantity=share, r_multiple=D(i + 1)) for i, p in enumerate(tps)
    )
    return Bracket(
        market=Market.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        entry_type=entry_type,
        entry_price=D(entry),
        quantity=D(qty),
        stop_price=D(stop),
        take_profits=legs,
        risk_quote=D(0),
        risk_fraction=D("0.005"),
        equity_quote=EQUITY,
    )


def usdm(side: Side, qty: str, entry: str, stop: str, tp: str, leverage: int = 2) -> Bracket:
    return Bracket(
        market=Market.USDM,
        symbol="XRPUSDT",
        side=side,
        entry_type="MARKET",
        entry_price=D(entry),
        quantity=D(qty),
        stop_price=D(stop),
        take_profits=(BracketLeg(price=D(tp), quantity=D(qty), r_multiple=D(1)),),
        risk_quote=D(0),
        risk_fraction=D("0.005"),
        equity_quote=EQUITY,
        leverage=leverage,
    )


def test_loss_at_stop_counts_entry_and_exit_fees() -> None:
    b = spot("0.0688", "60250", "59550")
    assert loss_at_stop(b, D(0)) == D("48.1600")
    assert loss_at_stop(b, D("0.001")) == D("48.16") + D("0.0688") * D("119.8")
    assert cost_to_open(b, D("0.001"), SpotMarket.carry) == D("0.0688") * D(60250) * D("1.001")
    assert cost_to_open(usdm(Side.BUY, "900", "1", "0.98", "1.03", 3), D(0), UsdmMarket.carry) == D(
        300
    )


def test_the_engines_sizing_passes() -> None:
    # 0.5 % of 10,000 over a 700 USDT stop distance plus 0.1 % fees a side: 0.06099 BTC.
    assert check(spot("0.06099", "60250", "59550")) is None
    assert check(usdm(Side.SELL, "900", "1", "1.005", "0.99")) is None


@pytest.mark.parametrize(
    ("bracket", "match"),
    [
        # Within the budget before fees, over it with them (0.0688 BTC: 48.16 + 8.24 > 55).
        (spot("0.0688", "60250", "59550"), r"loss at the stop 56\.40 \(fees included"),
        (spot("0.01", "60250", "60300"), "stop 60300 is on the wrong side"),
        (usdm(Side.SELL, "100", "1", "0.99", "0.98"), "stop 0.99 is on the wrong side"),
        (spot("0.01", "60250", "59550", ()), "has no take-profit"),
        (spot("0.01", "60250", "59550", ("60000",)), "take-profit 60000 is on the wrong side"),
        (usdm(Side.BUY, "100", "1", "0.99", "1.02", leverage=5), "leverage 5 is above the cap 3"),
        (
            spot("0.01", "60250", "59550").model_copy(update={"leverage": 2}),
            r"leverage 2 on spot \(spot has none\)",
        ),
        # A tight stop keeps the risk small, but 0.2 BTC costs more than the account holds.
        (spot("0.2", "60250", "60240"), r"notional 12062\.05 .* more than the account"),
        (usdm(Side.BUY, "25000", "1", "0.9999", "1.01", 2), r"margin 12525\.00 "),
    ],
)
def test_unsafe_brackets_are_refused(bracket: Bracket, match: str) -> None:
    reason = check(bracket)
    assert reason is not None
    assert re.search(match, reason), reason


def test_the_reported_two_btc_bracket_is_refused() -> None:
    # 2 BTC with the stop 50 % below the entry risks 40 % of a 150,000 USDT account.
    b = spot("2", "60000", "30000", ("70000",))
    reason = check(b, D(150000))
    assert reason is not None and "loss at the stop 60180.00" in reason
    assert "40.12% of equity 150000.00) exceeds 825.00" in reason


def test_no_equity_refuses_everything() -> None:
    assert check(spot("0.001", "60250", "59550"), D(0)) == "account equity is 0"


def test_peak_need_of_market_and_limit_entries() -> None:
    assert peak_need(3, limit_entry=False) == Slots(6, 3)
    assert peak_need(1, limit_entry=True) == Slots(5, 2)  # entry + pending OCO + one rung
    assert count_resting(["LIMIT_MAKER", "STOP_LOSS", "LIMIT", "TAKE_PROFIT_LIMIT"]) == Slots(4, 2)


def test_merge_keeps_the_total_and_the_near_targets() -> None:
    b = spot("0.09", "60250", "59550")
    two = merge_ladder(b, 2)
    assert [t.price for t in two.take_profits] == [D(61300), D(61650)]
    assert [t.quantity for t in two.take_profits] == [D("0.03"), D("0.06")]
    one = merge_ladder(b, 1)
    assert [(t.price, t.quantity) for t in one.take_profits] == [(D(61300), D("0.09"))]
    assert merge_ladder(b, 3) is b


def test_fit_ladder_merges_rungs_around_what_already_rests() -> None:
    b = spot("0.09", "60250", "59550")
    assert RULES.max_num_algo_orders == 200  # the unit rules publish no algo filter
    rules = RULES.__class__(**{**RULES.__dict__, "max_num_algo_orders": 5})
    assert fit_ladder(b, rules, Slots(0, 0)) is b
    # Another bracket's three OCOs rest on the symbol: two more stops fit.
    assert len(fit_ladder(b, rules, Slots(6, 3)).take_profits) == 2
    # Plus one of the trader's own stops: one rung carries everything.
    assert len(fit_ladder(b, rules, Slots(7, 4)).take_profits) == 1
    # A LIMIT entry's pending OCO needs a stop slot of its own.
    limit = spot("0.09", "60250", "59550", entry_type="LIMIT")
    assert len(fit_ladder(limit, rules, Slots(6, 3)).take_profits) == 1
    with pytest.raises(NoRoomError, match="MAX_NUM_ALGO_ORDERS 5"):
        fit_ladder(b, rules, Slots(10, 5))
    few = RULES.__class__(**{**rules.__dict__, "max_num_orders": 8})
    with pytest.raises(NoRoomError, match="MAX_NUM_ORDERS 8"):
        fit_ladder(b, few, Slots(7, 0))
