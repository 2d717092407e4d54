"""USD-M futures bracket sizing: long or short, fixed-fractional risk, lowest leverage that fits.

Quantity risks ``risk_fraction`` of ``equity`` between entry and stop. Leverage is the smallest
integer (at most ``leverage_cap``) whose initial margin ``notional / leverage`` fits within
``MARGIN_FRACTION`` of equity; when even the cap does not fit, the quantity is reduced so it
does (the trade then risks less than the budget, never more).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from engine.decision.bracket import (
    BracketError,
    check_position,
    market_bracket,
    split_ladder,
)
from engine.decision.costs import Costs
from greenlight.core.contracts import Bracket, Market, Side, SignalRaw
from greenlight.core.symbols import SymbolRules

# Share of equity the initial margin may use; the rest absorbs fees and mark-price moves.
MARGIN_FRACTION = Decimal("0.95")


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _prices(signal: SignalRaw, rules: SymbolRules) -> tuple[Decimal, Decimal, Decimal]:
    """Entry, stop (rounded away from the entry) and the per-unit risk between them."""
    long = signal.side_hint == "long"
    entry = rules.round_price(_dec(signal.entry_hint))
    stop = rules.round_price(_dec(signal.sl_hint), "down" if long else "up")
    per_unit = entry - stop if long else stop - entry
    if per_unit <= 0:
        where = "below" if long else "above"
        raise BracketError(f"stop {stop} is not {where} entry {entry} for a {signal.side_hint}")
    return entry, stop, per_unit


def leverage_for(notional: Decimal, equity: Decimal, cap: int) -> int:
    """The smallest integer leverage whose margin fits ``MARGIN_FRACTION`` of equity (≥ 1)."""
    needed = (notional / (equity * MARGIN_FRACTION)).to_integral_value(ROUND_CEILING)
    lev = max(int(needed), 1)
    if lev > cap:
        raise BracketError(f"notional {notional} needs leverage {lev} > cap {cap}")
    return lev


def _check_inputs(equity: Decimal, risk_fraction: Decimal, leverage_cap: int) -> None:
    if equity <= 0:
        raise BracketError(f"equity must be positive, got {equity}")
    if leverage_cap < 1:
        raise BracketError(f"leverage cap must be at least 1, got {leverage_cap}")
    if not 0 < risk_fraction < 1:
        raise BracketError(f"risk fraction must be in (0, 1), got {risk_fraction}")


def build_futures_bracket(
    signal: SignalRaw,
    rules: SymbolRules,
    equity: Decimal,
    risk_fraction: Decimal,
    leverage_cap: int,
    fee_rate: Decimal = Decimal(0),
    slippage_rate: Decimal = Decimal(0),
) -> Bracket:
    """Size a USD-M bracket: market entry at ``entry_hint``, stop at ``sl_hint``, TP ladder.

    The loss at the stop includes ``fee_rate`` and ``slippage_rate`` on the entry and on the
    exit.

    Raises :class:`BracketError` with the reason when the setup cannot satisfy the symbol's
    filters (tick, step, minimum notional) within equity × ``leverage_cap``.
    """
    _check_inputs(equity, risk_fraction, leverage_cap)
    long = signal.side_hint == "long"
    entry, stop, per_unit = _prices(signal, rules)
    costs = Costs(fee_rate, slippage_rate)
    unit_loss = costs.loss_per_unit(entry, stop)
    qty = rules.round_qty(equity * risk_fraction / unit_loss, market=True)
    max_qty = rules.round_qty(equity * MARGIN_FRACTION * leverage_cap / entry, market=True)
    qty = min(qty, max_qty)
    check_position(
        rules,
        entry,
        qty,
        f"equity {equity} {rules.quote_asset}, risk {risk_fraction:%}, leverage cap {leverage_cap}",
    )
    leverage = leverage_for(qty * entry, equity, leverage_cap)
    r_multiples = [_dec(r) for r in signal.tpR]
    if long:
        tps = [rules.round_price(entry + r * per_unit, "down") for r in r_multiples]
    else:
        tps = [rules.round_price(entry - r * per_unit, "up") for r in r_multiples]
    if any(p <= 0 for p in tps):
        raise BracketError(f"a take-profit price is not positive: {tps}")
    legs = split_ladder(qty, tps, r_multiples, rules)
    side = Side.BUY if long else Side.SELL
    return market_bracket(
        Market.USDM, side, rules, entry, stop, qty, legs, costs, risk_fraction, equity, leverage
    )
