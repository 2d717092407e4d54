"""What a trade costs besides the price move: fees and slippage, on the entry and the exit.

Sizing makes the loss at the stop — price distance plus these costs — equal the risk budget
(``risk.risk_per_trade`` of equity). The fee is the taker commission (``router
.taker_fee_rate``, the rate the router's own check uses; entries and stops are market
orders); slippage (``risk.slippage_rate``) is a price allowance on both fills. A setup whose
round-trip costs exceed ``risk.max_cost_fraction_of_r`` of R (the price risk) is not worth
proposing: the costs would eat the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenlight.core.settings import Settings


@dataclass(frozen=True)
class Costs:
    """Fee and slippage rates per fill, as fractions of the fill price."""

    fee_rate: Decimal = Decimal(0)
    slippage_rate: Decimal = Decimal(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Costs:
        """``router.taker_fee_rate`` and ``risk.slippage_rate``."""
        return cls(settings.router.taker_fee_rate, settings.risk.slippage_rate)

    @property
    def rate(self) -> Decimal:
        """Cost of one fill per unit of notional."""
        return self.fee_rate + self.slippage_rate

    def round_trip(self, entry: Decimal, exit_price: Decimal) -> Decimal:
        """Costs per unit of a position opened at ``entry`` and closed at ``exit_price``."""
        return self.rate * (entry + exit_price)

    def loss_per_unit(self, entry: Decimal, stop: Decimal) -> Decimal:
        """What one unit loses when the stop fills: distance plus the round trip's costs."""
        return abs(entry - stop) + self.round_trip(entry, stop)

    def fraction_of_r(self, entry: Decimal, stop: Decimal) -> Decimal:
        """Round-trip costs at the stop as a fraction of R (the price distance)."""
        distance = abs(entry - stop)
        return self.round_trip(entry, stop) / distance if distance else Decimal("Infinity")

    def net_r(self, entry: Decimal, stop: Decimal, target: Decimal) -> Decimal:
        """A target's reward after the round trip's costs, in units of the loss at the stop
        (costs included): what the trade really earns per unit really risked."""
        reward = abs(target - entry) - self.round_trip(entry, target)
        return reward / self.loss_per_unit(entry, stop)


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def cost_refusal(entry: float, stop: float, costs: Costs, limit: Decimal) -> str | None:
    """Why a setup is not worth proposing — its round-trip costs at the stop exceed
    ``limit`` of R — or ``None``. Same answer live and in batch (``greenlight analyze``)."""
    share = costs.fraction_of_r(_dec(entry), _dec(stop))
    if share <= limit:
        return None
    return f"round-trip costs are {share:.0%} of R (limit {limit:.0%})"
