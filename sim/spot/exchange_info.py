"""``GET /api/v3/exchangeInfo`` document built from the symbol rules."""

from __future__ import annotations

from typing import Any

from sim.spot.filters import SymbolRules
from sim.spot.orders import ORDER_TYPES
from sim.spot.payloads import fmt

RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
]


def symbol_info(r: SymbolRules) -> dict[str, Any]:
    """One ``symbols[]`` entry."""
    return {
        "symbol": r.symbol,
        "status": "TRADING",
        "baseAsset": r.base,
        "baseAssetPrecision": 8,
        "quoteAsset": r.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(r.min_price),
                "maxPrice": fmt(r.max_price),
                "tickSize": fmt(r.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(r.min_qty),
                "maxQty": fmt(r.max_qty),
                "stepSize": fmt(r.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(r.market_min_qty),
                "maxQty": fmt(r.market_max_qty),
                "stepSize": fmt(r.market_step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(r.min_notional),
                "applyMinToMarket": r.apply_min_to_market,
                "maxNotional": fmt(r.max_notional),
                "applyMaxToMarket": r.apply_max_to_market,
                "avgPriceMins": 5,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": fmt(r.bid_up),
                "bidMultiplierDown": fmt(r.bid_down),
                "askMultiplierUp": fmt(r.ask_up),
                "askMultiplierDown": fmt(r.ask_down),
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": r.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": r.max_num_algo_orders},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(rules: list[SymbolRules], server_time: int) -> dict[str, Any]:
    """The whole document for the given symbols."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_info(r) for r in rules],
    }
