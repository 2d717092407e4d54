"""Binance REST plumbing shared by the Spot and USD-M adapters.

Signing over the exact query string sent, server-time offset with one resync on ``-1021``,
the shared weight budget from ``X-MBX-USED-WEIGHT-1M`` (back off before 429, stop until
``Retry-After`` on 429/418), and error classification into :mod:`router.errors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from yarl import URL

from greenlight.core.clock import Clock, SystemClock
from greenlight.core.symbols import SymbolRules, SymbolRulesError
from router.errors import (
    AuthError,
    NoChangeNeeded,
    RateLimitError,
    TemporaryError,
    TimestampError,
    UnknownOutcomeError,
    VenueDataError,
    VenueError,
    classify,
)
from router.signing import encode_params, signed_query
from router.venues.binance_refusals import PRICE_ALREADY_CROSSED, SPOT_BUSINESS_CODES, refine

log = logging.getLogger(__name__)

WEIGHT_BACKOFF_FRACTION = 0.9
MAX_RESYNCS = 3  # consecutive -1021 answers survived by re-syncing the clock
MAX_SKEW_MS = 600_000  # a larger offset is not a skewed clock but another clock (a replay)

# (method, path, params without secrets, HTTP status or None, response JSON or error text)
ExchangeObserver = Callable[[str, str, dict[str, str], int | None, Any], Awaitable[None]]
Classifier = Callable[[int, int | None, str, float], VenueError]
RulesParser = Callable[[dict[str, Any], str], SymbolRules]
RULES_TTL_S = 3600.0


@dataclass(frozen=True)
class VenueConfig:
    """Where and how to reach the venue. ``api_secret`` never leaves this object.

    ``sapi_url`` is where ``/sapi`` key checks go (the spot host; futures hosts lack it).
    """

    name: str
    rest_url: str
    ws_url: str
    api_key: str
    api_secret: str
    recv_window_ms: int = 5000
    timeout_s: float = 5.0
    sapi_url: str = ""

    def __repr__(self) -> str:
        return f"VenueConfig(name={self.name!r}, rest_url={self.rest_url!r}, key=***)"


def fmt_decimal(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros (``'0.0688'``)."""
    text = format(value.normalize(), "f")
    return text


class BinanceRest:
    """Signed REST requests against one Binance base URL."""

    time_path = "/api/v3/time"
    classify_error: Classifier = staticmethod(classify)
    # Refusals that are normal answers, not venue trouble: never counted towards the error burst.
    business_codes = SPOT_BUSINESS_CODES
    # Refusals that say the market already passed the order's price (typed PriceCrossedError).
    crossed_messages: tuple[str, ...] = PRICE_ALREADY_CROSSED

    def __init__(
        self,
        config: VenueConfig,
        observer: ExchangeObserver | None = None,
        on_error: Callable[[VenueError], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
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

    def attach(
        self, observer: ExchangeObserver | None, on_error: Callable[[VenueError], None] | None
    ) -> None:
        """Report every request to ``observer`` (the audit) and every error to ``on_error``
        (the kill switch's error count): set by the process that runs the adapter."""
        self._observer = observer
        self._on_error = on_error

    async def open_session(self) -> None:
        """Open the HTTP session (idempotent). Requests are signed with our own clock until
        the venue refuses a timestamp (-1021); see :meth:`_recover_clock`."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            connector = aiohttp.TCPConnector(limit=16, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def server_time(self) -> int:
        """The venue's clock (ms): market time, when the venue is a replay."""
        data = await self._request("GET", self.time_path, {}, signed=False)
        return int(data["serverTime"])

    async def sync_time(self) -> None:
        """Measure the offset between the venue clock and ours (midpoint of the round trip)."""
        t0 = self.clock.now_ms()
        data = await self._request("GET", self.time_path, {}, signed=False)
        t1 = self.clock.now_ms()
        self.time_offset_ms = int(int(data["serverTime"]) - (t0 + t1) / 2)

    async def _recover_clock(self, attempt: int) -> None:
        """After a -1021: measure the venue's clock and sign with its offset, unless it is a
        replay clock: the simulator's ``serverTime`` is market time (running at replay speed,
        on today's calendar but not at today's hour) while it checks signatures against the
        wall clock, and an offset beyond any real skew (:data:`MAX_SKEW_MS`) is a replay too.
        Then we sign with our own clock. (A replay hour that happens to lie within minutes of
        ours must not pass for a skew: the next candles move it on by minutes a second.)"""
        log.warning("timestamp outside recvWindow: resyncing the clock (%d)", attempt + 1)
        await self.sync_time()
        if self.config.name == "sim" or abs(self.time_offset_ms) > MAX_SKEW_MS:
            log.warning(
                "venue clock is %.0f s from ours: a replay clock, signing with our own",
                self.time_offset_ms / 1000,
            )
            self.time_offset_ms = 0

    async def check_no_withdrawals(self) -> None:
        """Refuse an API key that can withdraw (``/sapi/v1/account/apiRestrictions``)."""
        base = self.config.sapi_url or self.config.rest_url
        data = await self._request(
            "GET", "/sapi/v1/account/apiRestrictions", {}, signed=True, base=base
        )
        if data.get("enableWithdrawals", True):
            raise AuthError("refusing to trade with an API key that can withdraw funds")

    def read_rate_limits(self, info: dict[str, Any]) -> None:
        """Take the minute weight limit from an exchangeInfo ``rateLimits`` list."""
        for limit in info.get("rateLimits", []):
            kind = (limit.get("rateLimitType"), limit.get("interval"), limit.get("intervalNum"))
            if kind == ("REQUEST_WEIGHT", "MINUTE", 1):
                self.weight_limit = int(limit["limit"])

    async def _last_price(self, path: str, symbol: str) -> Decimal:
        """``GET`` a ticker price endpoint: the last traded price of ``symbol``."""
        data = await self._request("GET", path, {"symbol": symbol})
        try:
            return Decimal(str(data["price"]))
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise VenueDataError(f"ticker price for {symbol}: {data!r}") from exc

    async def _cached_rules(
        self, symbol: str, info_path: str, params: dict[str, str], parse: RulesParser, what: str
    ) -> SymbolRules:
        """Rules for ``symbol`` parsed from an exchangeInfo endpoint, cached for an hour."""
        cached = self._rules.get(symbol)
        if cached and self.clock.monotonic() - cached[0] < RULES_TTL_S:
            return cached[1]
        info = await self._request("GET", info_path, params)
        self.read_rate_limits(info)
        try:
            rules = parse(info, symbol)
        except (SymbolRulesError, KeyError, StopIteration) as exc:
            raise VenueDataError(f"{what} for {symbol}: {exc}") from exc
        self._rules[symbol] = (self.clock.monotonic(), rules)
        return rules

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        signed: bool = False,
        base: str | None = None,
        api_key: bool = False,
        critical: bool = False,
    ) -> Any:
        """Send one request; ``critical`` GETs (order look-ups on the protection path) skip
        the back-off that other GETs take near the weight limit (writes always skip it)."""
        crit = critical or method != "GET"
        for attempt in range(MAX_RESYNCS + 1):
            try:
                return await self._request_once(method, path, params, signed, base, api_key, crit)
            except TimestampError as exc:
                # Refused before execution: re-sync the clock and send again (bounded).
                if not signed or attempt == MAX_RESYNCS:
                    self._report(exc)
                    raise
                await self._recover_clock(attempt)
            except VenueError as exc:
                self._report(exc)
                raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _report(self, exc: VenueError) -> None:
        local = isinstance(exc, RateLimitError) and exc.http_status == 0
        if self._on_error is not None and not isinstance(exc, NoChangeNeeded) and not local:
            self._on_error(exc)

    async def _request_once(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        signed: bool,
        base: str | None,
        api_key: bool = False,
        critical: bool = True,
    ) -> Any:
        if self._session is None:
            raise TemporaryError("venue adapter is not started")
        await self._throttle(critical=critical)
        query_params = dict(params)
        if signed:
            query_params["recvWindow"] = str(self.config.recv_window_ms)
            query_params["timestamp"] = str(self.clock.now_ms() + self.time_offset_ms)
            query = signed_query(self.config.api_secret, query_params)
        else:
            query = encode_params(query_params)
        root = base or self.config.rest_url
        url = URL(f"{root}{path}?{query}" if query else root + path, encoded=True)
        headers = {"X-MBX-APIKEY": self.config.api_key} if signed or api_key else {}
        status, body = await self._send(method, url, headers)
        if self._observer is not None:
            await self._observer(method, path, params, status, body)
        if status >= 400 or (isinstance(body, dict) and "code" in body and status != 200):
            err = self._error(status, body)
            if method == "GET" and isinstance(err, UnknownOutcomeError):
                # A read changes nothing: a 5xx on it is simply "try again later".
                raise TemporaryError(str(err), err.code, err.http_status) from err
            raise err
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
            self._banned_until = self.clock.monotonic() + wait

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a ban seen by another adapter on the same IP)."""
        self._banned_until = max(self._banned_until, self.clock.monotonic() + seconds)

    @property
    def held_for(self) -> float:
        """Seconds left before requests may be sent again (0 when free)."""
        return max(self._banned_until - self.clock.monotonic(), 0.0)

    async def _throttle(self, critical: bool) -> None:
        remaining = self._banned_until - self.clock.monotonic()
        if remaining > 0:
            # Refused here, never sent (http_status None): not a venue error to count.
            raise RateLimitError(f"rate limited for another {remaining:.1f}s", remaining, None, 0)
        if not critical and self.used_weight >= WEIGHT_BACKOFF_FRACTION * self.weight_limit:
            # Near the limit: wait for the minute window to roll over (weight resets then).
            await asyncio.sleep(60.0 - (self.clock.now_ms() / 1000 % 60.0) + 0.05)
            self.used_weight = 0

    def _error(self, status: int, body: Any) -> VenueError:
        code = body.get("code") if isinstance(body, dict) else None
        msg = str(body.get("msg", "")) if isinstance(body, dict) else str(body)
        retry_after = max(self._banned_until - self.clock.monotonic(), 0.0)
        known = code if isinstance(code, int) else None
        err = self.classify_error(status, known, msg, retry_after)
        return refine(err, known, msg, self.business_codes, self.crossed_messages)
