"""Binance Spot REST adapter: orders, order lists, account; plumbing in ``binance_http``."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from greenlight.core.symbols import SymbolRules
from router.venues.base import NewOco, NewOrder, NewOtoco, OrderListReport, OrderReport, TradeFill
from router.venues.binance_decode import (
    decode_list,
    decode_order,
    decode_order_list,
    decode_trade,
)
from router.venues.binance_http import (
    BinanceRest,
    ExchangeObserver,
    VenueConfig,
    fmt_decimal,
)

__all__ = ["BinanceSpot", "ExchangeObserver", "VenueConfig", "fmt_decimal"]


class BinanceSpot(BinanceRest):
    """The :class:`router.venues.base.SpotVenue` for Binance Spot and the simulator."""

    async def start(self) -> None:
        """Open the HTTP session, sync the clock and refuse keys that can withdraw."""
        await self.open_session()
        if self.config.name == "binance":
            await self.check_no_withdrawals()

    async def last_price(self, symbol: str) -> Decimal:
        """``GET /api/v3/ticker/price``: the last traded price."""
        return await self._last_price("/api/v3/ticker/price", symbol)

    async def rules(self, symbol: str) -> SymbolRules:
        """Trading rules for ``symbol`` from exchangeInfo, cached for an hour."""
        return await self._cached_rules(
            symbol,
            "/api/v3/exchangeInfo",
            {"symbol": symbol},
            SymbolRules.from_exchange_info,
            "exchangeInfo",
        )

    async def place_order(self, order: NewOrder) -> OrderReport:
        """``POST /api/v3/order`` with a FULL response."""
        params = {
            "symbol": order.symbol,
            "side": order.side,
            "type": order.order_type,
            "quantity": fmt_decimal(order.quantity),
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "FULL",
        }
        if order.order_type == "LIMIT":
            assert order.price is not None, "LIMIT order needs a price"
            params["timeInForce"] = "GTC"
            params["price"] = fmt_decimal(order.price)
        return decode_order(await self._request("POST", "/api/v3/order", params, signed=True))

    async def place_oco(self, oco: NewOco) -> OrderListReport:
        """``POST /api/v3/orderList/oco``: LIMIT_MAKER above, STOP_LOSS below (for a SELL)."""
        params = {
            "symbol": oco.symbol,
            "side": oco.side,
            "quantity": fmt_decimal(oco.quantity),
            "listClientOrderId": oco.list_client_id,
            "aboveType": "LIMIT_MAKER",
            "abovePrice": fmt_decimal(oco.take_profit_price),
            "aboveClientOrderId": oco.take_profit_client_id,
            "belowType": "STOP_LOSS",
            "belowStopPrice": fmt_decimal(oco.stop_price),
            "belowClientOrderId": oco.stop_client_id,
            "newOrderRespType": "FULL",
        }
        data = await self._request("POST", "/api/v3/orderList/oco", params, signed=True)
        return decode_order_list(data)

    async def place_otoco(self, otoco: NewOtoco) -> OrderListReport:
        """``POST /api/v3/orderList/otoco``: working LIMIT, pending LIMIT_MAKER + STOP_LOSS."""
        entry, oco = otoco.entry, otoco.protection
        assert entry.price is not None, "the working order of an OTOCO needs a price"
        params = {
            "symbol": entry.symbol,
            "listClientOrderId": oco.list_client_id,
            "workingType": "LIMIT",
            "workingSide": entry.side,
            "workingQuantity": fmt_decimal(entry.quantity),
            "workingPrice": fmt_decimal(entry.price),
            "workingTimeInForce": "GTC",
            "workingClientOrderId": entry.client_order_id,
            "pendingSide": oco.side,
            "pendingQuantity": fmt_decimal(oco.quantity),
            "pendingAboveType": "LIMIT_MAKER",
            "pendingAbovePrice": fmt_decimal(oco.take_profit_price),
            "pendingAboveClientOrderId": oco.take_profit_client_id,
            "pendingBelowType": "STOP_LOSS",
            "pendingBelowStopPrice": fmt_decimal(oco.stop_price),
            "pendingBelowClientOrderId": oco.stop_client_id,
            "newOrderRespType": "FULL",
        }
        data = await self._request("POST", "/api/v3/orderList/otoco", params, signed=True)
        return decode_order_list(data)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``GET /api/v3/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        # On the protection path (unknown outcomes, cancels, fills): never held by back-off.
        data = await self._request("GET", "/api/v3/order", params, signed=True, critical=True)
        return decode_order(data)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``DELETE /api/v3/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        data = await self._request("DELETE", "/api/v3/order", params, signed=True)
        # The answer's clientOrderId is the cancel request's own id; the order's is "orig".
        return replace(decode_order(data), client_order_id=client_order_id)

    async def cancel_order_list(self, symbol: str, list_client_id: str) -> None:
        """``DELETE /api/v3/orderList`` by ``listClientOrderId``."""
        params = {"symbol": symbol, "listClientOrderId": list_client_id}
        await self._request("DELETE", "/api/v3/orderList", params, signed=True)

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /api/v3/openOrders`` for one symbol."""
        data = await self._request("GET", "/api/v3/openOrders", {"symbol": symbol}, signed=True)
        return [decode_order(o) for o in decode_list(data, "openOrders")]

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """``GET /api/v3/myTrades`` for one order."""
        params = {"symbol": symbol, "orderId": order_id}
        data = await self._request("GET", "/api/v3/myTrades", params, signed=True, critical=True)
        return [decode_trade(t) for t in decode_list(data, "myTrades")]

    async def balances(self) -> dict[str, Decimal]:
        """``GET /api/v3/account``: free + locked per asset."""
        data = await self._request("GET", "/api/v3/account", {}, signed=True)
        return {
            str(b["asset"]): Decimal(str(b["free"])) + Decimal(str(b["locked"]))
            for b in data.get("balances", [])
        }

    async def all_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /api/v3/allOrders``: every order of the account on ``symbol``."""
        data = await self._request("GET", "/api/v3/allOrders", {"symbol": symbol}, signed=True)
        return [decode_order(o) for o in decode_list(data, "allOrders")]
