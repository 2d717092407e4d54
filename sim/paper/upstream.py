"""The paper venue's only link to its market-data source: public endpoints, nothing else.

No key, no signature, no order path: :meth:`Upstream.get` refuses any path that is not a
public market-data endpoint, so a paper venue pointed at real Binance can read the market
and nothing more. ``GET /sim/admin/status`` is asked only of a source on this machine
(another ``greenlight sim``), for the whole-day shift of its candles.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from greenlight.core.modes import LOOPBACK_HOSTS
from sim.paper.frames import Row, check_row

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset(
    {
        "/api/v3/ping",
        "/api/v3/time",
        "/api/v3/exchangeInfo",
        "/api/v3/klines",
        "/api/v3/uiKlines",
        "/api/v3/ticker/price",
        "/api/v3/avgPrice",
    }
)
SIM_STATUS = "/sim/admin/status"
INVALID_INTERVAL = -1120
_STREAM_HOSTS = {  # Binance serves its market streams on another host than its REST API
    "api.binance.com": "wss://stream.binance.com:9443",
    "testnet.binance.vision": "wss://stream.testnet.binance.vision",
}


class UpstreamError(RuntimeError):
    """The market-data source answered with an error or something unreadable; ``code`` is
    its Binance error code when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class UpstreamBusy(UpstreamError):
    """The source could not answer now (HTTP 5xx, 429, 418): worth asking again later."""


def _code(body: bytes) -> int | None:
    try:
        code = orjson.loads(body).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def stream_base(rest_url: str, ws_url: str = "") -> str:
    """The source's stream base: ``ws_url`` when given, Binance's stream host for its REST
    hosts, else the REST URL with ``ws(s)://``."""
    if ws_url:
        return ws_url.rstrip("/")
    parts = urlsplit(rest_url)
    known = _STREAM_HOSTS.get((parts.hostname or "").lower())
    if known:
        return known
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine."""
    return (urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


class Upstream:
    """Public REST and market streams of the source."""

    def __init__(self, http: aiohttp.ClientSession, rest_url: str, ws_url: str = "") -> None:
        self._http = http
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = stream_base(self.rest_url, ws_url)

    async def get(self, path: str, params: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
        """``GET path`` on the source: its HTTP status and body, as they come. Only public
        market-data paths (``ValueError`` for any other)."""
        loopback_status = path == SIM_STATUS and is_loopback(self.rest_url)
        if path not in PUBLIC_PATHS and not loopback_status:
            raise ValueError(f"the paper venue never calls {path} on its market-data source")
        async with self._http.get(f"{self.rest_url}{path}", params=list(params)) as resp:
            return resp.status, await resp.read()

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """The JSON answer of ``GET path`` (:class:`UpstreamError` unless HTTP 200)."""
        status, body = await self.get(path, params)
        if status != 200:
            kind = UpstreamBusy if status >= 500 or status in (418, 429) else UpstreamError
            raise kind(f"GET {self.rest_url}{path}: HTTP {status} {body[:200]!r}", _code(body))
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"GET {self.rest_url}{path}: not JSON") from exc

    async def server_time(self) -> int:
        """The source's clock (ms)."""
        data = await self.get_json("/api/v3/time")
        try:
            return int(data["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"GET /api/v3/time: no serverTime in {data!r}") from exc

    async def exchange_info(self, symbols: Sequence[str]) -> dict[str, Any]:
        """``exchangeInfo`` for ``symbols``."""
        params = [("symbols", orjson.dumps(list(symbols)).decode())]
        data = await self.get_json("/api/v3/exchangeInfo", params)
        if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
            raise UpstreamError("exchangeInfo without a symbols list")
        return data

    async def klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None
    ) -> list[Row]:
        """Kline rows (the newest ``limit``, or ``limit`` from ``start``), oldest first."""
        params = [("symbol", symbol), ("interval", interval), ("limit", str(limit))]
        if start is not None:
            params.append(("startTime", str(start)))
        rows = await self.get_json("/api/v3/klines", params)
        if not isinstance(rows, list):
            raise UpstreamError(f"klines for {symbol} {interval}: expected a list")
        return [check_row(r) for r in rows]

    async def clock_shift(self) -> int:
        """How far the source's candles are moved from the real calendar: a simulator on
        this machine says so (``clock_shift_ms``); anything else runs on the real one."""
        if not is_loopback(self.rest_url):
            return 0
        try:
            status, body = await self.get(SIM_STATUS, ())
            shift = orjson.loads(body).get("clock_shift_ms", 0) if status == 200 else 0
        except (aiohttp.ClientError, orjson.JSONDecodeError, AttributeError):
            return 0
        return int(shift) if isinstance(shift, int) else 0

    @asynccontextmanager
    async def stream(self, names: Sequence[str]) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """A combined market stream of ``names`` (``btcusdt@kline_15m`` …)."""
        url = f"{self.ws_url}/stream?streams={'/'.join(names)}"
        async with self._http.ws_connect(url, autoping=True, max_msg_size=0) as ws:
            yield ws
