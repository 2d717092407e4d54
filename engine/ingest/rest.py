"""Public Binance REST endpoints the engine needs: klines and exchangeInfo."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from engine.events import Candle


class MarketDataError(RuntimeError):
    """The venue's market-data API answered with an error or malformed data; ``code`` is the
    Binance error code when the venue gave one (e.g. -1120 for an unsupported interval)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class VenueBusy(MarketDataError):
    """The venue could not answer now (HTTP 5xx, 429, 418): worth asking again later."""


INVALID_INTERVAL = -1120


def _error_code(body: bytes) -> int | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, int) else None


def kline_row_to_candle(venue: str, symbol: str, tf: str, row: list[Any]) -> Candle:
    """Decode one 12-column kline row; raise :class:`MarketDataError` if malformed."""
    try:
        return Candle(
            venue=venue,
            symbol=symbol,
            tf=tf,
            open_time=int(row[0]),
            close_time=int(row[6]),
            open=float(row[1]),
            high=float(row[2]),
            low=float(row[3]),
            close=float(row[4]),
            volume=float(row[5]),
        )
    except (IndexError, TypeError, ValueError) as exc:
        raise MarketDataError(f"malformed kline row for {symbol} {tf}: {row!r}") from exc


class MarketRest:
    """A small client for the public market-data endpoints."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, venue: str, prefix: str = "/api/v3"
    ) -> None:
        """``prefix`` is ``/api/v3`` for Spot and ``/fapi/v1`` for USD-M futures."""
        self._session = session
        self._base = base_url.rstrip("/")
        self._venue = venue
        self._prefix = prefix

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self._base}{path}"
        async with self._session.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                busy = resp.status >= 500 or resp.status in (418, 429)
                kind = VenueBusy if busy else MarketDataError
                raise kind(
                    f"GET {path} {params} → HTTP {resp.status}: {body[:200]!r}", _error_code(body)
                )
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MarketDataError(f"GET {path}: response is not JSON") from exc

    async def exchange_info(self, symbols: list[str]) -> dict[str, Any]:
        """``GET …/exchangeInfo``, keeping only the given symbols (USD-M ignores the filter)."""
        data = await self._get(
            f"{self._prefix}/exchangeInfo", {"symbols": orjson.dumps(symbols).decode()}
        )
        if not isinstance(data, dict) or "symbols" not in data:
            raise MarketDataError("exchangeInfo without a symbols list")
        data["symbols"] = [s for s in data["symbols"] if s.get("symbol") in symbols]
        return data

    async def server_time(self) -> int:
        """``GET …/time``: the venue's clock (ms)."""
        data = await self._get(f"{self._prefix}/time", {})
        try:
            return int(data["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MarketDataError(f"GET {self._prefix}/time: no serverTime in {data!r}") from exc

    async def closed_klines(
        self, symbol: str, tf: str, start_time: int | None = None, limit: int = 1000
    ) -> tuple[list[Candle], bool]:
        """Closed candles from ``start_time`` on (or the most recent ones), oldest first, and
        whether the page was full (more may follow).

        A row is closed when its close time is before the venue's clock, read *before* the
        klines: the still-open candle (Binance's usual last row) is left out, and so is a
        row that was open when the page was served — however the page ends.
        """
        now = await self.server_time()
        params: dict[str, Any] = {"symbol": symbol, "interval": tf, "limit": limit}
        if start_time is not None:
            params["startTime"] = start_time
        rows = await self._get(f"{self._prefix}/klines", params)
        if not isinstance(rows, list):
            raise MarketDataError(f"klines for {symbol}: expected a list")
        candles = [kline_row_to_candle(self._venue, symbol, tf, r) for r in rows]
        return [c for c in candles if c.close_time < now], len(rows) >= limit

    async def backfill(self, symbol: str, tf: str, after_open_time: int) -> list[Candle]:
        """Every closed candle with ``open_time > after_open_time``, paging as needed."""
        out: list[Candle] = []
        start = after_open_time + 1
        while True:
            page, full = await self.closed_klines(symbol, tf, start_time=start)
            out.extend(c for c in page if c.open_time > after_open_time)
            if not full or not page:
                return out
            start = page[-1].open_time + 1
