"""Binance USD-M Futures REST adapter (``/fapi``): orders, algo orders, account, positions.

Startup refuses a hedge-mode account (``positionSide/dual`` true) and, against real Binance,
a key that can withdraw. Conditional orders go to ``/fapi/v1/algoOrder`` (``/fapi/v1/order``
rejects them with -4120 since 2025-12).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from greenlight.core.symbols import SymbolRules
from router.errors import NoChangeNeeded, PositionModeError, classify_futures
from router.venues.base import (
    AlgoReport,
    FuturesAccount,
    FuturesBalance,
    FuturesPosition,
    NewAlgoOrder,
    NewOrder,
    OrderReport,
    TradeFill,
)
from router.venues.binance_decode import decode_list
from router.venues.binance_http import BinanceRest, fmt_decimal
from router.venues.binance_refusals import FUTURES_BUSINESS_CODES
from router.venues.binance_usdm_decode import (
    decode_account,
    decode_algo,
    decode_balance,
    decode_order,
    decode_position,
    decode_trade,
)

LIVE_VENUES = ("binance",)


def futures_rules(info: dict[str, Any], symbol: str) -> SymbolRules:
    """Rules from ``/fapi/v1/exchangeInfo``; USD-M's MIN_NOTIONAL carries ``notional``."""
    rules = SymbolRules.from_exchange_info(info, symbol)
    entry = next(s for s in info["symbols"] if s.get("symbol") == symbol)
    for f in entry.get("filters", []):
        if f.get("filterType") == "MIN_NOTIONAL" and "notional" in f:
            rules = replace(rules, min_notional=Decimal(str(f["notional"])))
    return rules


class BinanceUsdm(BinanceRest):
    """The :class:`router.venues.base.FuturesVenue` for Binance USD-M and the simulator."""

    time_path = "/fapi/v1/time"
    classify_error = staticmethod(classify_futures)
    business_codes = FUTURES_BUSINESS_CODES
    crossed_messages = ()  # -2021 is typed by its code (classify_futures)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.weight_limit = 2400
        self._margin_set: set[tuple[str, str]] = set()

    async def start(self) -> None:
        """Open the session, sync time; refuse hedge mode and (live) withdrawing keys."""
        await self.open_session()
        if self.config.name in LIVE_VENUES:
            await self.check_no_withdrawals()
        mode = await self._request("GET", "/fapi/v1/positionSide/dual", {}, signed=True)
        if _flag(mode.get("dualSidePosition")):
            raise PositionModeError(
                "the futures account is in hedge mode (dualSidePosition=true); switch it to"
                " one-way mode (POST /fapi/v1/positionSide/dual dualSidePosition=false)"
            )

    async def last_price(self, symbol: str) -> Decimal:
        """``GET /fapi/v1/ticker/price``: the last traded price."""
        return await self._last_price("/fapi/v1/ticker/price", symbol)

    async def rules(self, symbol: str) -> SymbolRules:
        """Trading rules for ``symbol`` from ``/fapi/v1/exchangeInfo``, cached for an hour."""
        return await self._cached_rules(
            symbol, "/fapi/v1/exchangeInfo", {}, futures_rules, "futures exchangeInfo"
        )

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """``POST /fapi/v1/leverage``; returns the leverage the venue applied."""
        params = {"symbol": symbol, "leverage": str(leverage)}
        data = await self._request("POST", "/fapi/v1/leverage", params, signed=True)
        return int(data.get("leverage", leverage))

    async def ensure_margin_type(self, symbol: str, margin_type: str) -> bool:
        """``POST /fapi/v1/marginType``; ``False`` when already set (-4046 or done before)."""
        if (symbol, margin_type) in self._margin_set:
            return False
        params = {"symbol": symbol, "marginType": margin_type}
        try:
            await self._request("POST", "/fapi/v1/marginType", params, signed=True)
        except NoChangeNeeded:
            changed = False
        else:
            changed = True
        self._margin_set.add((symbol, margin_type))
        return changed

    async def place_order(self, order: NewOrder) -> OrderReport:
        """``POST /fapi/v1/order`` (LIMIT/MARKET) with a RESULT response."""
        params = {
            "symbol": order.symbol,
            "side": order.side,
            "type": order.order_type,
            "quantity": fmt_decimal(order.quantity),
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "RESULT",
        }
        if order.reduce_only:
            params["reduceOnly"] = "true"
        if order.order_type == "LIMIT":
            assert order.price is not None, "LIMIT order needs a price"
            params["timeInForce"] = "GTC"
            params["price"] = fmt_decimal(order.price)
        return decode_order(await self._request("POST", "/fapi/v1/order", params, signed=True))

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``GET /fapi/v1/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        data = await self._request("GET", "/fapi/v1/order", params, signed=True, critical=True)
        return decode_order(data)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``DELETE /fapi/v1/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return decode_order(await self._request("DELETE", "/fapi/v1/order", params, signed=True))

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /fapi/v1/openOrders`` for one symbol."""
        data = await self._request("GET", "/fapi/v1/openOrders", {"symbol": symbol}, signed=True)
        return [decode_order(o) for o in decode_list(data, "openOrders")]

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """``GET /fapi/v1/userTrades`` for one order (off the protection path)."""
        params = {"symbol": symbol, "orderId": order_id}
        data = await self._request("GET", "/fapi/v1/userTrades", params, signed=True, critical=True)
        return [decode_trade(t) for t in decode_list(data, "userTrades")]

    async def place_algo(self, algo: NewAlgoOrder) -> AlgoReport:
        """``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``)."""
        params = {
            "algoType": "CONDITIONAL",
            "symbol": algo.symbol,
            "side": algo.side,
            "type": algo.order_type,
            "triggerPrice": fmt_decimal(algo.trigger_price),
            "workingType": algo.working_type,
            "clientAlgoId": algo.client_algo_id,
            "newOrderRespType": "ACK",
        }
        if algo.close_position:
            params["closePosition"] = "true"
        else:
            assert algo.quantity is not None, "an algo order needs quantity or closePosition"
            params["quantity"] = fmt_decimal(algo.quantity)
            params["reduceOnly"] = "true" if algo.reduce_only else "false"
        data = await self._request("POST", "/fapi/v1/algoOrder", params, signed=True)
        return decode_algo(data)

    async def query_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        """``GET /fapi/v1/algoOrder`` by ``clientAlgoId``."""
        params = {"clientAlgoId": client_algo_id}
        data = await self._request("GET", "/fapi/v1/algoOrder", params, signed=True, critical=True)
        return decode_algo(data)

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        """``DELETE /fapi/v1/algoOrder`` by ``clientAlgoId``; returns the order's new state."""
        params = {"clientAlgoId": client_algo_id}
        await self._request("DELETE", "/fapi/v1/algoOrder", params, signed=True)
        return await self.query_algo(symbol, client_algo_id)

    async def open_algos(self, symbol: str) -> list[AlgoReport]:
        """``GET /fapi/v1/openAlgoOrders`` for one symbol."""
        data = await self._request(
            "GET", "/fapi/v1/openAlgoOrders", {"symbol": symbol}, signed=True
        )
        rows = data.get("orders", data) if isinstance(data, dict) else data
        return [decode_algo(o) for o in decode_list(rows, "openAlgoOrders")]

    async def all_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /fapi/v1/allOrders``: every plain order of the account on ``symbol``."""
        data = await self._request("GET", "/fapi/v1/allOrders", {"symbol": symbol}, signed=True)
        return [decode_order(o) for o in decode_list(data, "allOrders")]

    async def all_algos(self, symbol: str) -> list[AlgoReport]:
        """``GET /fapi/v1/allAlgoOrders``: every conditional order on ``symbol``."""
        params = {"symbol": symbol, "limit": "100"}  # 100 is the endpoint's maximum
        data = await self._request("GET", "/fapi/v1/allAlgoOrders", params, signed=True)
        rows = data.get("orders", data) if isinstance(data, dict) else data
        return [decode_algo(o) for o in decode_list(rows, "allAlgoOrders")]

    async def positions(self) -> list[FuturesPosition]:
        """``GET /fapi/v2/positionRisk``: the non-zero positions."""
        data = await self._request("GET", "/fapi/v2/positionRisk", {}, signed=True)
        found = [decode_position(p) for p in decode_list(data, "positionRisk")]
        return [p for p in found if p.amount != 0]

    async def account(self) -> FuturesAccount:
        """``GET /fapi/v2/account``: wallet, unrealized PnL and positions at one moment."""
        return decode_account(await self._request("GET", "/fapi/v2/account", {}, signed=True))

    async def balances(self) -> dict[str, FuturesBalance]:
        """``GET /fapi/v2/balance`` per asset."""
        data = await self._request("GET", "/fapi/v2/balance", {}, signed=True)
        return {b.asset: b for b in (decode_balance(x) for x in decode_list(data, "balance"))}

    async def new_listen_key(self) -> str:
        """``POST /fapi/v1/listenKey`` (returns the active key, extended, when one exists)."""
        data = await self._request("POST", "/fapi/v1/listenKey", {}, signed=False, api_key=True)
        return str(data["listenKey"])

    async def keepalive_listen_key(self) -> None:
        """``PUT /fapi/v1/listenKey``: extend the key's validity by 60 minutes."""
        await self._request("PUT", "/fapi/v1/listenKey", {}, signed=False, api_key=True)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
