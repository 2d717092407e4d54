"""Binance Spot REST adapter: signing, server-time offset, rate limits, typed responses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from yarl import URL

from engine.symbols import SymbolRules, SymbolRulesError
from router.errors import (
    AuthError,
    RateLimitError,
    TemporaryError,
    TimestampError,
    UnknownOutcomeError,
    VenueDataError,
    VenueError,
    classify,
)
from router.signing import encode_params, signed_query
from router.venues.base import NewOco, NewOrder, OrderListReport, OrderReport, TradeFill
from router.venues.binance_decode import decode_order, decode_order_list, decode_trade

log = logging.getLogger(__name__)

RULES_TTL_S = 3600.0
WEIGHT_BACKOFF_FRACTION = 0.9

# (method, path, params without secrets, HTTP status or None, response JSON or error text)
ExchangeObserver = Callable[[str, str, dict[str, str], int | None, Any], Awaitable[None]]


@dataclass(frozen=True)
class VenueConfig:
    """Where and how to reach the venue. ``api_secret`` never leaves this object."""

    name: str
    rest_url: str
    ws_url: str
    api_key: str
    api_secret: str
    recv_window_ms: int = 5000
    timeout_s: float = 5.0

    def __repr__(self) -> str:
        return f"VenueConfig(name={self.name!r}, rest_url={self.rest_url!r}, key=***)"


def fmt_decimal(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros (``'0.0688'``)."""
    text = format(value.normalize(), "f")
    return text


class BinanceSpot:
    """The :class:`router.venues.base.SpotVenue` for Binance Spot and the simulator."""

    def __init__(
        self,
        config: VenueConfig,
        observer: ExchangeObserver | None = None,
        on_error: Callable[[VenueError], None] | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._observer = observer
        self._on_error = on_error
        self._session: aiohttp.ClientSession | None = None
        self.time_offset_ms = 0
        self.used_weight = 0
        self.weight_limit = 6000
        self._banned_until = 0.0
        self._rules: dict[str, tuple[float, SymbolRules]] = {}

    async def start(self) -> None:
        """Open the HTTP session, sync the clock and refuse keys that can withdraw."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            connector = aiohttp.TCPConnector(limit=16, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        await self.sync_time()
        if self.config.name == "binance":
            await self._check_no_withdrawals()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def sync_time(self) -> None:
        """Measure the offset between the venue clock and ours (midpoint of the round trip)."""
        t0 = time.time() * 1000
        data = await self._request("GET", "/api/v3/time", {}, signed=False)
        t1 = time.time() * 1000
        self.time_offset_ms = int(int(data["serverTime"]) - (t0 + t1) / 2)

    async def _check_no_withdrawals(self) -> None:
        data = await self._request("GET", "/sapi/v1/account/apiRestrictions", {}, signed=True)
        if data.get("enableWithdrawals", True):
            raise AuthError("refusing to trade with an API key that can withdraw funds")

    async def rules(self, symbol: str) -> SymbolRules:
        """Trading rules for ``symbol`` from exchangeInfo, cached for an hour."""
        cached = self._rules.get(symbol)
        if cached and time.monotonic() - cached[0] < RULES_TTL_S:
            return cached[1]
        info = await self._request("GET", "/api/v3/exchangeInfo", {"symbol": symbol})
        for limit in info.get("rateLimits", []):
            kind = (limit.get("rateLimitType"), limit.get("interval"), limit.get("intervalNum"))
            if kind == ("REQUEST_WEIGHT", "MINUTE", 1):
                self.weight_limit = int(limit["limit"])
        try:
            rules = SymbolRules.from_exchange_info(info, symbol)
        except (SymbolRulesError, KeyError) as exc:
            raise VenueDataError(f"exchangeInfo for {symbol}: {exc}") from exc
        self._rules[symbol] = (time.monotonic(), rules)
        return rules

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

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``GET /api/v3/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return decode_order(await self._request("GET", "/api/v3/order", params, signed=True))

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``DELETE /api/v3/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return decode_order(await self._request("DELETE", "/api/v3/order", params, signed=True))

    async def cancel_order_list(self, symbol: str, list_client_id: str) -> None:
        """``DELETE /api/v3/orderList`` by ``listClientOrderId``."""
        params = {"symbol": symbol, "listClientOrderId": list_client_id}
        await self._request("DELETE", "/api/v3/orderList", params, signed=True)

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /api/v3/openOrders`` for one symbol."""
        data = await self._request("GET", "/api/v3/openOrders", {"symbol": symbol}, signed=True)
        if not isinstance(data, list):
            raise VenueDataError("openOrders did not return a list")
        return [decode_order(o) for o in data]

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """``GET /api/v3/myTrades`` for one order."""
        params = {"symbol": symbol, "orderId": order_id}
        data = await self._request("GET", "/api/v3/myTrades", params, signed=True)
        if not isinstance(data, list):
            raise VenueDataError("myTrades did not return a list")
        return [decode_trade(t) for t in data]

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
        if not isinstance(data, list):
            raise VenueDataError("allOrders did not return a list")
        return [decode_order(o) for o in data]

    async def _request(
        self, method: str, path: str, params: dict[str, str], signed: bool = False
    ) -> Any:
        try:
            return await self._request_once(method, path, params, signed)
        except TimestampError:
            if not signed:
                raise
            log.warning("timestamp outside recvWindow: resyncing the clock and retrying once")
            await self.sync_time()
            return await self._request_once(method, path, params, signed)
        except VenueError as exc:
            if self._on_error is not None and not isinstance(exc, TimestampError):
                self._on_error(exc)
            raise

    async def _request_once(
        self, method: str, path: str, params: dict[str, str], signed: bool
    ) -> Any:
        if self._session is None:
            raise TemporaryError("venue adapter is not started")
        await self._throttle(critical=method != "GET")
        query_params = dict(params)
        if signed:
            query_params["recvWindow"] = str(self.config.recv_window_ms)
            query_params["timestamp"] = str(int(time.time() * 1000) + self.time_offset_ms)
            query = signed_query(self.config.api_secret, query_params)
        else:
            query = encode_params(query_params)
        url = URL(
            f"{self.config.rest_url}{path}?{query}" if query else self.config.rest_url + path,
            encoded=True,
        )
        headers = {"X-MBX-APIKEY": self.config.api_key} if signed else {}
        status, body = await self._send(method, url, headers)
        if self._observer is not None:
            await self._observer(method, path, params, status, body)
        if status >= 400 or (isinstance(body, dict) and "code" in body and status != 200):
            raise self._error(status, body)
        return body

    async def _send(self, method: str, url: URL, headers: dict[str, str]) -> tuple[int, Any]:
        assert self._session is not None
        try:
            async with self._session.request(method, url, headers=headers) as resp:
                self._read_limits(resp)
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise TemporaryError(f"cannot connect to {self.config.rest_url}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            if method == "GET":
                raise TemporaryError(f"{method} {url.path} failed: {exc!r}") from exc
            raise UnknownOutcomeError(f"{method} {url.path}: no answer ({exc!r})") from exc
        try:
            return status, orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            if status >= 500:
                return status, {"msg": raw[:200].decode(errors="replace")}
            raise VenueDataError(f"{url.path}: HTTP {status} with non-JSON body") from None

    def _read_limits(self, resp: aiohttp.ClientResponse) -> None:
        used = resp.headers.get("X-MBX-USED-WEIGHT-1M") or resp.headers.get("X-MBX-USED-WEIGHT")
        if used and used.isdigit():
            self.used_weight = int(used)
        if resp.status in (429, 418):
            retry = resp.headers.get("Retry-After", "60")
            wait = float(retry) if retry.replace(".", "", 1).isdigit() else 60.0
            self._banned_until = time.monotonic() + wait

    async def _throttle(self, critical: bool) -> None:
        remaining = self._banned_until - time.monotonic()
        if remaining > 0:
            raise RateLimitError(f"rate limited for another {remaining:.1f}s", remaining, None, 429)
        if not critical and self.used_weight >= WEIGHT_BACKOFF_FRACTION * self.weight_limit:
            # Near the limit: wait for the minute window to roll over (weight resets then).
            await asyncio.sleep(60.0 - (time.time() % 60.0) + 0.05)
            self.used_weight = 0

    def _error(self, status: int, body: Any) -> VenueError:
        code = body.get("code") if isinstance(body, dict) else None
        msg = str(body.get("msg", "")) if isinstance(body, dict) else str(body)
        retry_after = max(self._banned_until - time.monotonic(), 0.0)
        return classify(status, code if isinstance(code, int) else None, msg, retry_after)
