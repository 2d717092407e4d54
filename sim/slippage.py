"""The slippage model shared by the backtester and the paper venue.

A market-type fill (market order, triggered stop, marketable limit) moves against the order
by a fixed number of basis points of the price plus a fraction of a candle's high-low range:
``slip = price × bps / 10 000 + range_fraction × (high − low)``. The backtester takes the
range of the candle the fill happens in; the paper venue, which cannot see the rest of a
live candle, the range of the last closed candle of the trading timeframe. Resting limits
(maker fills) never slip.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Slippage:
    """Fixed basis points plus a fraction of a candle's range."""

    bps: Decimal = Decimal(0)
    range_fraction: Decimal = Decimal(0)

    def amount(self, price: Decimal, bar_range: Decimal) -> Decimal:
        """How far a market fill at ``price`` moves against the order (≥ 0)."""
        return price * self.bps / 10_000 + self.range_fraction * bar_range

    def against(self, price: Decimal, side: str, bar_range: Decimal) -> Decimal:
        """``price`` moved against a ``BUY`` (up) or ``SELL`` (down), before tick rounding."""
        slip = self.amount(price, bar_range)
        return price + slip if side == "BUY" else price - slip
