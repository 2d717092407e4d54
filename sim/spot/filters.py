"""Symbol trading rules (exchangeInfo filters) and their checks, in Decimal arithmetic.

BTCUSDT/ETHUSDT/... carry real-looking Binance values; any other symbol gets a tick derived
from the decimals present in its candle file and a step that keeps ``price * step`` around
0.05–0.5 quote units (e.g. XRPUSDT: tick 0.0001, step 0.1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from sim.errors import SimError, filter_failure

QUOTE_ASSETS = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
ZERO = Decimal(0)

# symbol -> (tickSize, stepSize, minQty); values as on Binance spot.
KNOWN: dict[str, tuple[str, str, str]] = {
    "BTCUSDT": ("0.01", "0.00001", "0.00001"),
    "ETHUSDT": ("0.01", "0.0001", "0.0001"),
    "BNBUSDT": ("0.01", "0.001", "0.001"),
    "SOLUSDT": ("0.01", "0.001", "0.001"),
    "XRPUSDT": ("0.0001", "0.1", "0.1"),
    "ADAUSDT": ("0.0001", "0.1", "0.1"),
}


@dataclass(frozen=True)
class SymbolRules:
    """Everything the matching engine and exchangeInfo need to know about one symbol."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = Decimal("100")
    market_step_size: Decimal = ZERO
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    bid_up: Decimal = Decimal(5)
    bid_down: Decimal = Decimal("0.2")
    ask_up: Decimal = Decimal(5)
    ask_down: Decimal = Decimal("0.2")

    @property
    def price_decimals(self) -> int:
        """Number of decimals of the tick size."""
        return decimals_of(self.tick_size)

    def to_price(self, value: float | Decimal) -> Decimal:
        """A float or Decimal price rounded to the tick."""
        d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
        return d.quantize(self.tick_size, rounding=ROUND_HALF_EVEN)


def decimals_of(d: Decimal) -> int:
    """Decimals needed to write ``d`` (0.01 → 2, 1 → 0)."""
    exp = d.normalize().as_tuple().exponent
    return max(0, -int(exp)) if isinstance(exp, int) else 0


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split ``BTCUSDT`` into ``("BTC", "USDT")`` using the known quote assets."""
    for q in QUOTE_ASSETS:
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    raise ValueError(f"cannot tell base and quote assets of symbol {symbol!r}")


def _observed_decimals(prices: Iterable[float], cap: int = 8) -> int:
    best = 0
    for p in prices:
        text = f"{p:.{cap}f}".rstrip("0")
        best = max(best, len(text.split(".")[1]) if "." in text else 0)
        if best >= cap:
            break
    return best


def rules_for(symbol: str, prices: Iterable[float]) -> SymbolRules:
    """Rules for ``symbol``: the known table, or derived from observed ``prices``."""
    base, quote = split_symbol(symbol)
    sample = list(prices)
    if not sample:
        raise ValueError(f"no prices for {symbol}")
    if symbol in KNOWN:
        tick, step, min_qty = (Decimal(x) for x in KNOWN[symbol])
    else:
        tick = Decimal(1).scaleb(-_observed_decimals(sample))
        median = sorted(sample)[len(sample) // 2]
        exp = math.ceil(math.log10(0.05 / median))
        step = Decimal(1).scaleb(min(exp, 0))
        min_qty = step
    max_price = Decimal(1000000) if tick >= Decimal("0.01") else Decimal(10000)
    return SymbolRules(
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=tick,
        min_price=tick,
        max_price=max_price,
        step_size=step,
        min_qty=min_qty,
        max_qty=Decimal(9000) if step < 1 else Decimal(9000000),
        market_max_qty=Decimal(100) if step < Decimal("0.001") else Decimal(5000000),
    )


def _multiple(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - base) % step == 0


def check_price(r: SymbolRules, price: Decimal) -> None:
    """PRICE_FILTER for ``price`` or ``stopPrice`` (zero-valued fields disable a check)."""
    if price <= 0:
        raise SimError(-1013, "Invalid price.")
    if (r.min_price and price < r.min_price) or (r.max_price and price > r.max_price):
        raise filter_failure("PRICE_FILTER")
    if not _multiple(price, r.min_price, r.tick_size):
        raise filter_failure("PRICE_FILTER")


def check_lot(r: SymbolRules, qty: Decimal, market: bool) -> None:
    """LOT_SIZE (all orders) and MARKET_LOT_SIZE (market-executed orders)."""
    if qty <= 0:
        raise SimError(-1013, "Invalid quantity.")
    if qty < r.min_qty or qty > r.max_qty or not _multiple(qty, r.min_qty, r.step_size):
        raise filter_failure("LOT_SIZE")
    if market:
        bad = (r.market_min_qty and qty < r.market_min_qty) or (
            r.market_max_qty and qty > r.market_max_qty
        )
        if bad or not _multiple(qty, r.market_min_qty, r.market_step_size):
            raise filter_failure("MARKET_LOT_SIZE")


def check_percent_price_by_side(r: SymbolRules, side: str, price: Decimal, ref: Decimal) -> None:
    """PERCENT_PRICE_BY_SIDE: a limit price within the side's multipliers of the reference
    (Binance: the average price; the simulator: the last price)."""
    up, down = (r.bid_up, r.bid_down) if side == "BUY" else (r.ask_up, r.ask_down)
    if ref > 0 and not ref * down <= price <= ref * up:
        raise filter_failure("PERCENT_PRICE_BY_SIDE")


def check_notional(r: SymbolRules, notional: Decimal, market: bool) -> None:
    """NOTIONAL: ``minNotional <= price*qty <= maxNotional`` (market flags honoured)."""
    if (not market or r.apply_min_to_market) and notional < r.min_notional:
        raise filter_failure("NOTIONAL")
    if (not market or r.apply_max_to_market) and notional > r.max_notional:
        raise filter_failure("NOTIONAL")


def floor_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Round a quantity down to a multiple of ``step`` (used for quoteOrderQty)."""
    if step == 0:
        return qty
    return (qty / step).to_integral_value(rounding=ROUND_DOWN) * step
