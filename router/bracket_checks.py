"""The router's own check of a bracket, independent of the engine that sized it.

Before anything is sent, an approved bracket must have its stop on the losing side of the
entry and at least one take-profit on the winning side, leverage within the cap (none on
an unmargined market), a loss at the stop — entry and exit fees included — within
``risk.risk_per_trade`` × equity × (1 + ``router.risk_tolerance``), and a cost the account
can carry (unmargined, as spot: notional plus the entry fee; margined, as USD-M: initial
margin plus the entry fee). How a market carries a position is its :class:`Carry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from greenlight.core.contracts import Bracket, Side
from greenlight.core.settings import Settings

CENT = Decimal("0.01")


@dataclass(frozen=True)
class BracketLimits:
    """What the router allows a bracket to risk; defaults are the settings' defaults."""

    risk_per_trade: Decimal = Decimal("0.005")
    risk_tolerance: Decimal = Decimal("0.10")
    fee_rate: Decimal = Decimal("0.001")

    @classmethod
    def from_settings(cls, settings: Settings) -> BracketLimits:
        """``risk.risk_per_trade``, ``router.risk_tolerance`` and ``router.taker_fee_rate``."""
        return cls(
            settings.risk.risk_per_trade,
            settings.router.risk_tolerance,
            settings.router.taker_fee_rate,
        )

    def max_loss(self, equity: Decimal) -> Decimal:
        """The largest loss at the stop a bracket may carry on ``equity``."""
        return self.risk_per_trade * equity * (1 + self.risk_tolerance)


@dataclass(frozen=True)
class Carry:
    """How a market carries a position: ``margined`` posts notional / leverage as margin
    (leverage up to the cap); otherwise the account pays the whole notional (no leverage).
    ``title`` names the market in refusals."""

    title: str
    margined: bool

    @property
    def held(self) -> str:
        """What the account puts up to open: its name in refusals."""
        return "margin" if self.margined else "notional"


def loss_at_stop(bracket: Bracket, fee_rate: Decimal) -> Decimal:
    """What the whole quantity loses if the stop fills at its price: the price distance plus
    the fee on the entry and on the exit."""
    qty = bracket.quantity
    distance = abs(bracket.entry_price - bracket.stop_price)
    return qty * distance + fee_rate * qty * (bracket.entry_price + bracket.stop_price)


def cost_to_open(bracket: Bracket, fee_rate: Decimal, carry: Carry) -> Decimal:
    """What the account must hold to open the bracket: the notional, or on a margined market
    the initial margin (notional / leverage); either way the entry fee on the notional."""
    notional = bracket.quantity * bracket.entry_price
    held = notional / max(bracket.leverage, 1) if carry.margined else notional
    return held + notional * fee_rate


def _shape(bracket: Bracket) -> str | None:
    """Prices, quantity, stop side and take-profits."""
    long = bracket.side == Side.BUY
    entry, stop = bracket.entry_price, bracket.stop_price
    if bracket.quantity <= 0 or entry <= 0 or stop <= 0:
        return f"quantity {bracket.quantity}, entry {entry} and stop {stop} must be positive"
    if (stop < entry) != long:
        where = "below" if long else "above"
        return f"stop {stop} is on the wrong side: a {bracket.side.value} needs it {where} {entry}"
    if not bracket.take_profits:
        return "the bracket has no take-profit"
    for leg in bracket.take_profits:
        if leg.quantity <= 0:
            return f"take-profit {leg.price} has quantity {leg.quantity}"
        if (leg.price > entry) != long:
            return f"take-profit {leg.price} is on the wrong side of the entry {entry}"
    return None


def _leverage(bracket: Bracket, carry: Carry, leverage_cap: int) -> str | None:
    if not carry.margined and bracket.leverage != 1:
        return f"leverage {bracket.leverage} on {carry.title} ({carry.title} has none)"
    if not 1 <= bracket.leverage <= leverage_cap:
        return f"leverage {bracket.leverage} is above the cap {leverage_cap}"
    return None


def refusal(
    bracket: Bracket, equity: Decimal, limits: BracketLimits, carry: Carry, leverage_cap: int
) -> str | None:
    """Why the router must refuse ``bracket`` on an account worth ``equity`` of a market
    that carries positions as ``carry``; ``None`` if it passes every check."""
    reason = _shape(bracket) or _leverage(bracket, carry, leverage_cap)
    if reason is not None:
        return reason
    if equity <= 0:
        return f"account equity is {equity}"
    loss, allowed = loss_at_stop(bracket, limits.fee_rate), limits.max_loss(equity)
    if loss > allowed:
        share = (loss / equity * 100).quantize(CENT)
        return (
            f"loss at the stop {loss.quantize(CENT)} (fees included, {share}% of equity"
            f" {equity.quantize(CENT)}) exceeds {allowed.quantize(CENT)}"
            f" (risk {limits.risk_per_trade * 100}% + {limits.risk_tolerance * 100}% tolerance)"
        )
    cost = cost_to_open(bracket, limits.fee_rate, carry)
    if cost > equity:
        return (
            f"{carry.held} {cost.quantize(CENT)} (entry fee included) is more than the account"
            f" carries ({equity.quantize(CENT)})"
        )
    return None
