"""Bracket sizing: fixed-fractional risk, ATR-scaled stop, take-profit ladder, exchange rounding.

Everything from here on is ``Decimal``: the analysis hands over float hints, and this module
turns them into prices and quantities the venue will accept.
"""

from __future__ import annotations

from decimal import Decimal

from engine.decision.costs import Costs
from greenlight.core.contracts import Bracket, BracketLeg, Market, Side, SignalRaw
from greenlight.core.symbols import SymbolRules


class BracketError(ValueError):
    """The setup cannot be turned into an order the venue would accept."""


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def split_ladder(
    total: Decimal, prices: list[Decimal], r_multiples: list[Decimal], rules: SymbolRules
) -> tuple[BracketLeg, ...]:
    """Split ``total`` over the take-profit prices in equal steps-rounded parts.

    Rungs whose notional would fail the NOTIONAL/LOT_SIZE filters are merged into the next
    rung; the last rung takes the remainder so the rungs always add up to ``total``.
    """
    if not prices:
        raise BracketError("a bracket needs at least one take-profit level")
    legs: list[BracketLeg] = []
    share = rules.round_qty(total / len(prices))
    carried = Decimal(0)
    remaining = total
    for i, (price, r) in enumerate(zip(prices, r_multiples, strict=True)):
        last = i == len(prices) - 1
        qty = remaining if last else share + carried
        if not last and (
            qty < rules.min_qty or qty * price < rules.min_notional or remaining - qty <= 0
        ):
            carried = qty
            continue
        legs.append(BracketLeg(price=price, quantity=qty, r_multiple=r))
        remaining -= qty
        carried = Decimal(0)
    last_leg = legs[-1]
    if last_leg.quantity < rules.min_qty or last_leg.quantity * last_leg.price < rules.min_notional:
        if len(legs) == 1:
            raise BracketError(
                f"take-profit quantity {last_leg.quantity} fails {rules.symbol} LOT_SIZE/NOTIONAL"
            )
        prev = legs[-2]
        legs[-2:] = [prev.model_copy(update={"quantity": prev.quantity + last_leg.quantity})]
    return tuple(legs)


def build_spot_bracket(
    signal: SignalRaw,
    rules: SymbolRules,
    equity: Decimal,
    risk_fraction: Decimal,
    max_notional_fraction: Decimal = Decimal("0.95"),
    fee_rate: Decimal = Decimal(0),
    slippage_rate: Decimal = Decimal(0),
) -> Bracket:
    """Size a long spot bracket: market entry at ``entry_hint``, stop at ``sl_hint``.

    Quantity risks ``risk_fraction`` of ``equity`` between entry and stop, the ``fee_rate``
    and ``slippage_rate`` paid on the entry and on the stop's exit included, capped so the
    position never costs more than ``max_notional_fraction`` of equity (spot has no
    leverage).
    """
    if signal.side_hint != "long":
        raise BracketError("spot brackets are long only")
    if equity <= 0:
        raise BracketError(f"equity must be positive, got {equity}")
    entry = rules.round_price(_dec(signal.entry_hint))
    stop = rules.round_price(_dec(signal.sl_hint), "down")
    per_unit = entry - stop
    if per_unit <= 0:
        raise BracketError(f"stop {stop} is not below entry {entry}")
    costs = Costs(fee_rate, slippage_rate)
    risk_budget = equity * risk_fraction
    qty = rules.round_qty(risk_budget / costs.loss_per_unit(entry, stop), market=True)
    cap = rules.round_qty(equity * max_notional_fraction / entry, market=True)
    qty = min(qty, cap)
    check_position(
        rules, entry, qty, f"equity {equity} {rules.quote_asset}, risk {risk_fraction:%}"
    )
    r_multiples = [_dec(r) for r in signal.tpR]
    tp_prices = [rules.round_price(entry + r * per_unit, "down") for r in r_multiples]
    legs = split_ladder(qty, tp_prices, r_multiples, rules)
    return market_bracket(
        Market.SPOT, Side.BUY, rules, entry, stop, qty, legs, costs, risk_fraction, equity
    )


def check_position(rules: SymbolRules, entry: Decimal, qty: Decimal, sizing: str) -> None:
    """Raise :class:`BracketError` unless ``qty`` at ``entry`` passes the symbol's filters;
    ``sizing`` (equity, risk, ...) goes into the message in parentheses."""
    failed = rules.check(entry, qty, market=True)
    if failed or qty <= 0:
        raise BracketError(
            f"position of {qty} {rules.base_asset} at {entry} fails {failed or 'LOT_SIZE'}"
            f" ({sizing})"
        )


def market_bracket(
    market: Market,
    side: Side,
    rules: SymbolRules,
    entry: Decimal,
    stop: Decimal,
    qty: Decimal,
    legs: tuple[BracketLeg, ...],
    costs: Costs,
    risk_fraction: Decimal,
    equity: Decimal,
    leverage: int = 1,
) -> Bracket:
    """The sized bracket with a market entry. Its risk is the loss at the stop with the
    round trip's costs (to the cent, ``cost_quote`` being the costs' part) and each
    take-profit carries its R after costs."""
    cent = Decimal("0.01")
    net = tuple(
        leg.model_copy(update={"r_net": costs.net_r(entry, stop, leg.price).quantize(cent)})
        for leg in legs
    )
    return Bracket(
        market=market,
        symbol=rules.symbol,
        side=side,
        entry_type="MARKET",
        entry_price=entry,
        quantity=qty,
        stop_price=stop,
        take_profits=net,
        risk_quote=(qty * costs.loss_per_unit(entry, stop)).quantize(cent),
        risk_fraction=risk_fraction,
        equity_quote=equity,
        leverage=leverage,
        cost_quote=(qty * costs.round_trip(entry, stop)).quantize(cent),
    )
