"""Symbol rules (exchange filters) the tests size and check orders with: BTCUSDT spot and the
bundled XRPUSDT perpetual, as Binance serves them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

from greenlight.core.symbols import SymbolRules

BTCUSDT_INFO = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01",
                    "maxPrice": "1000000.00",
                    "tickSize": "0.01",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.00001",
                    "maxQty": "9000.00000",
                    "stepSize": "0.00001",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
        }
    ]
}


BTCUSDT = SymbolRules.from_exchange_info(BTCUSDT_INFO, "BTCUSDT")


def xrp_rules() -> SymbolRules:
    """XRPUSDT USD-M filters (tick 0.0001, step 0.1, min notional 5) as Binance serves them."""
    info: dict[str, Any] = {
        "symbols": [
            {
                "symbol": "XRPUSDT",
                "status": "TRADING",
                "baseAsset": "XRP",
                "quoteAsset": "USDT",
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.0143",
                        "maxPrice": "100000",
                        "tickSize": "0.0001",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.1",
                        "maxQty": "10000000",
                        "stepSize": "0.1",
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "minQty": "0.1",
                        "maxQty": "2000000",
                        "stepSize": "0.1",
                    },
                ],
            }
        ]
    }
    return replace(SymbolRules.from_exchange_info(info, "XRPUSDT"), min_notional=D(5))


XRPUSDT_PERP = xrp_rules()
