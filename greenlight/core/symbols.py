"""Symbol trading rules from Binance ``exchangeInfo`` and rounding to them (Decimal only)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any


class SymbolRulesError(ValueError):
    """A symbol is unknown or an amount cannot satisfy its filters."""


@dataclass(frozen=True)
class SymbolRules:
    """The filters that matter for sizing and placing orders on one symbol."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    max_num_orders: int
    # Resting STOP_LOSS*/TAKE_PROFIT* orders per symbol (spot); USD-M has no such filter.
    max_num_algo_orders: int = 200

    @classmethod
    def from_exchange_info(cls, info: dict[str, Any], symbol: str) -> SymbolRules:
        """Build the rules for ``symbol`` from an ``exchangeInfo`` response."""
        entry = next((s for s in info.get("symbols", []) if s.get("symbol") == symbol), None)
        if entry is None:
            raise SymbolRulesError(f"unknown symbol {symbol!r}: not in exchangeInfo")
        filters = {f["filterType"]: f for f in entry.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        mlot = filters.get("MARKET_LOT_SIZE", lot)
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}

        def d(src: dict[str, Any], key: str, default: str = "0") -> Decimal:
            return Decimal(str(src.get(key, default)))

        step = d(lot, "stepSize")
        return cls(
            symbol=symbol,
            base_asset=entry["baseAsset"],
            quote_asset=entry["quoteAsset"],
            status=entry.get("status", "TRADING"),
            tick_size=d(price, "tickSize"),
            min_price=d(price, "minPrice"),
            max_price=d(price, "maxPrice"),
            step_size=step,
            min_qty=d(lot, "minQty"),
            max_qty=d(lot, "maxQty"),
            market_step_size=d(mlot, "stepSize") or step,
            market_min_qty=d(mlot, "minQty"),
            market_max_qty=d(mlot, "maxQty"),
            min_notional=d(notional, "minNotional") or d(notional, "notional"),
            max_notional=d(notional, "maxNotional"),
            max_num_orders=_count(filters, "MAX_NUM_ORDERS", "maxNumOrders"),
            max_num_algo_orders=_count(filters, "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders"),
        )

    def round_price(self, price: Decimal, direction: str = "nearest") -> Decimal:
        """Round a price to the tick size: ``nearest``, ``down`` or ``up``."""
        return _to_step(price, self.tick_size, direction)

    def round_qty(self, qty: Decimal, market: bool = False) -> Decimal:
        """Round a quantity down to the (market) lot step; never rounds up."""
        step = self.market_step_size if market else self.step_size
        return _to_step(qty, step, "down")

    def check(self, price: Decimal, qty: Decimal, market: bool = False) -> str | None:
        """Return the name of the first filter an order would fail, or ``None``."""
        if not market and self.tick_size and (price % self.tick_size) != 0:
            return "PRICE_FILTER"
        if not market and (
            (self.min_price and price < self.min_price)
            or (self.max_price and price > self.max_price)
        ):
            return "PRICE_FILTER"
        step, lo, hi = (
            (self.market_step_size, self.market_min_qty, self.market_max_qty)
            if market
            else (self.step_size, self.min_qty, self.max_qty)
        )
        if (step and qty % step != 0) or qty < lo or (hi and qty > hi):
            return "MARKET_LOT_SIZE" if market else "LOT_SIZE"
        notional = price * qty
        if notional < self.min_notional or (self.max_notional and notional > self.max_notional):
            return "NOTIONAL"
        return None


def _count(filters: dict[str, Any], name: str, key: str, absent: int = 200) -> int:
    """An order-count filter's limit (spot ``maxNumOrders``, USD-M ``limit``); ``absent``
    when the venue does not publish the filter."""
    f = filters.get(name, {})
    return int(f.get(key, f.get("limit", absent)))


def _to_step(value: Decimal, step: Decimal, direction: str) -> Decimal:
    if not step:
        return value
    rounding = {"nearest": None, "down": ROUND_FLOOR, "up": ROUND_CEILING}[direction]
    units = value / step
    whole = units.quantize(Decimal(1)) if rounding is None else units.to_integral_value(rounding)
    return (whole * step).quantize(step.normalize(), rounding=ROUND_DOWN)
