"""USD-M symbol rules (``/fapi/v1/exchangeInfo`` filters) and their ``-40xx`` checks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sim.errors import SimError
from sim.spot.filters import SymbolRules, decimals_of

ZERO = Decimal(0)


@dataclass(frozen=True)
class FutRules:
    """Trading rules of one perpetual contract (margin asset USDT)."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal = Decimal("5")
    multiplier_up: Decimal = Decimal("1.0500")
    multiplier_down: Decimal = Decimal("0.9500")
    max_num_orders: int = 200
    max_leverage: int = 125
    maint_margin_rate: Decimal = Decimal("0.005")
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")

    @property
    def price_precision(self) -> int:
        """Decimals of the tick size."""
        return decimals_of(self.tick_size)

    @property
    def quantity_precision(self) -> int:
        """Decimals of the step size."""
        return decimals_of(self.step_size)

    def to_price(self, value: float | Decimal) -> Decimal:
        """A float or Decimal price rounded to the tick."""
        d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
        return d.quantize(self.tick_size)


def fut_rules_from(spot: SymbolRules) -> FutRules:
    """Futures rules sharing tick/step with the spot rules derived for the same symbol."""
    return FutRules(
        symbol=spot.symbol,
        base=spot.base,
        quote=spot.quote,
        tick_size=spot.tick_size,
        min_price=spot.tick_size * 10,
        max_price=spot.max_price,
        step_size=spot.step_size,
        min_qty=spot.min_qty,
        max_qty=spot.max_qty * 100,
        market_max_qty=spot.max_qty * 10,
    )


def check_price(r: FutRules, price: Decimal, mark: Decimal) -> None:
    """PRICE_FILTER and PERCENT_PRICE (vs. mark price) for a LIMIT price."""
    if price <= 0:
        raise SimError(-4013, "Price less than min price.")
    if price < r.min_price:
        raise SimError(-4013, "Price less than min price.")
    if price > r.max_price:
        raise SimError(-4002, "Price greater than max price.")
    if (price - r.min_price) % r.tick_size != 0:
        raise SimError(-4014, "Price not increased by tick size.")
    if mark > 0 and price > mark * r.multiplier_up:
        raise SimError(-4016, "Price is higher than mark price multiplier cap.")
    if mark > 0 and price < mark * r.multiplier_down:
        raise SimError(-4024, "Price is lower than mark price multiplier floor.")


def check_qty(r: FutRules, qty: Decimal, market: bool) -> None:
    """LOT_SIZE (LIMIT) or MARKET_LOT_SIZE (MARKET)."""
    if qty <= 0:
        raise SimError(-4003, "Quantity less than or equal to zero.")
    if qty < r.min_qty:
        raise SimError(-4004, "Quantity less than min quantity.")
    if qty > (r.market_max_qty if market else r.max_qty):
        raise SimError(-4005, "Quantity greater than max quantity.")
    if (qty - r.min_qty) % r.step_size != 0:
        raise SimError(-4023, "Qty not increased by step size.")


def check_notional(r: FutRules, qty: Decimal, price: Decimal, reduce_only: bool) -> None:
    """``-4164`` when ``qty × price`` is below the minimum and the order is not reduce-only."""
    if not reduce_only and qty * price < r.min_notional:
        raise SimError(
            -4164,
            f"Order's notional must be no smaller than {r.min_notional.normalize()} "
            "(unless you choose reduce only)",
        )
