"""BTCUSDT filters and a standard spot bracket for the router's ladder and protection tests."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from greenlight.core.symbols import SymbolRules

# BTCUSDT filters as Binance serves them (2024-2025 exchangeInfo values).
BTCUSDT_INFO: dict[str, Any] = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01000000",
                    "maxPrice": "1000000.00000000",
                    "tickSize": "0.01000000",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.00001000",
                    "maxQty": "9000.00000000",
                    "stepSize": "0.00001000",
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": "83.69462011",
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
        }
    ]
}


RULES = SymbolRules.from_exchange_info(BTCUSDT_INFO, "BTCUSDT")


def bracket(
    qty: str = "0.0688",
    rungs: tuple[str, ...] = ("0.0229", "0.0229", "0.0230"),
    entry_type: str = "MARKET",
) -> Bracket:
    prices = ("61300", "61650", "62350")
    return Bracket(
        market=Market.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        entry_type=entry_type,
        entry_price=D("60250"),
        quantity=D(qty),
        stop_price=D("59550"),
        take_profits=tuple(
            BracketLeg(price=D(p), quantity=D(q), r_multiple=D(r))
            for p, q, r in zip(prices, rungs, ("1.5", "2", "3"), strict=False)
        ),
        risk_quote=D("48.2"),
        risk_fraction=D("0.005"),
        equity_quote=D("9640"),
    )
