"""Symbol rules of the paper venue: the market-data source's own exchangeInfo filters, so an
order the paper venue accepts is one the source would accept."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sim.spot.filters import SymbolRules


class RulesError(ValueError):
    """The source's exchangeInfo does not describe a symbol the paper venue can trade."""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()


def rules_from_info(info: Mapping[str, Any], symbol: str) -> SymbolRules:
    """:class:`SymbolRules` of ``symbol`` from an ``exchangeInfo`` document."""
    entry = next((s for s in info.get("symbols", []) if s.get("symbol") == symbol), None)
    if entry is None:
        raise RulesError(f"the market-data source does not list {symbol}")
    f = {x.get("filterType"): x for x in entry.get("filters", []) if isinstance(x, dict)}
    try:
        price, lot = f["PRICE_FILTER"], f["LOT_SIZE"]
        market = f.get("MARKET_LOT_SIZE", {})
        notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
        side = f.get("PERCENT_PRICE_BY_SIDE", {})
        extra: dict[str, Any] = {}
        if market:
            extra |= {
                "market_min_qty": _dec(market["minQty"]),
                "market_max_qty": _dec(market["maxQty"]),
                "market_step_size": _dec(market["stepSize"]),
            }
        if notional:
            extra |= {
                "min_notional": _dec(notional["minNotional"]),
                "max_notional": _dec(notional.get("maxNotional", 0)),
                "apply_min_to_market": bool(
                    notional.get("applyMinToMarket", notional.get("applyToMarket", True))
                ),
                "apply_max_to_market": bool(notional.get("applyMaxToMarket", False)),
            }
        if side:
            extra |= {
                "bid_up": _dec(side["bidMultiplierUp"]),
                "bid_down": _dec(side["bidMultiplierDown"]),
                "ask_up": _dec(side["askMultiplierUp"]),
                "ask_down": _dec(side["askMultiplierDown"]),
            }
        if "MAX_NUM_ORDERS" in f:
            extra["max_num_orders"] = int(f["MAX_NUM_ORDERS"]["maxNumOrders"])
        if "MAX_NUM_ALGO_ORDERS" in f:
            extra["max_num_algo_orders"] = int(f["MAX_NUM_ALGO_ORDERS"]["maxNumAlgoOrders"])
        return SymbolRules(
            symbol=symbol,
            base=str(entry["baseAsset"]),
            quote=str(entry["quoteAsset"]),
            tick_size=_dec(price["tickSize"]),
            min_price=_dec(price["minPrice"]),
            max_price=_dec(price["maxPrice"]),
            step_size=_dec(lot["stepSize"]),
            min_qty=_dec(lot["minQty"]),
            max_qty=_dec(lot["maxQty"]),
            **extra,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise RulesError(f"exchangeInfo of {symbol} from the source: {exc!r}") from exc
