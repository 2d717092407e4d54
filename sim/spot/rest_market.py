"""Public market-data REST endpoints."""

from __future__ import annotations

import json
from typing import Any, Protocol

import numpy as np
from aiohttp import web

from greenlight.core.candlefile import CandleArrays
from sim.errors import SimError, mandatory
from sim.http_util import p_int, read_params, reject_unknown
from sim.replay.player import KlineUpdate
from sim.spot.exchange_info import exchange_info
from sim.spot.payloads import fmt, kline_rows, update_row
from sim.spot.state import SpotState
from sim.state import STATE

INTERVALS = frozenset(
    [
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    ]
)
MAX_KLINES = 1000


async def ping(request: web.Request) -> web.Response:
    """``GET /api/v3/ping``."""
    return web.json_response({})


async def server_time(request: web.Request) -> web.Response:
    """``GET /api/v3/time``: the spot market clock."""
    return web.json_response({"serverTime": request.app[STATE].spot.replay.now_ms})


async def get_exchange_info(request: web.Request) -> web.Response:
    """``GET /api/v3/exchangeInfo`` with optional ``symbol`` or ``symbols``."""
    st = request.app[STATE].spot
    params, _, _ = await read_params(request)
    reject_unknown(
        params, {"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}
    )
    names = list(st.rules)
    if params.get("symbol"):
        names = [params["symbol"]]
    elif params.get("symbols"):
        try:
            names = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise SimError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SimError(-1100, "Illegal characters found in parameter 'symbols'.")
    for n in names:
        if n not in st.rules:
            raise SimError(-1121, "Invalid symbol.")
    return web.json_response(exchange_info([st.rules[n] for n in names], st.replay.now_ms))


def _symbol(st: SpotState, params: dict[str, str]) -> str:
    symbol = params.get("symbol", "")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in st.rules:
        raise SimError(-1121, "Invalid symbol.")
    return symbol


class RowSource(Protocol):
    """Where kline rows become visible: a :class:`Replay` or an interval aggregator."""

    in_progress: dict[str, KlineUpdate]

    def visible_range(self, symbol: str) -> tuple[int, int]:
        """Row range ``[lo, hi)`` of closed candles visible to clients."""


def select_klines(
    st: SpotState, symbol: str, start: int | None, end: int | None, limit: int
) -> list[list[Any]]:
    """Closed candles visible in the replay plus the in-progress one, Binance paging rules."""
    arr, source, ms = st.intervals.source(symbol, st.interval)
    return select_rows(arr, source, symbol, ms, (start, end, limit))


def select_rows(
    arr: CandleArrays,
    replay: RowSource,
    symbol: str,
    tf_ms: int,
    window: tuple[int | None, int | None, int],
) -> list[list[Any]]:
    """Kline rows of ``symbol`` for ``(startTime, endTime, limit)`` from any replay."""
    start, end, limit = window
    lo, hi = replay.visible_range(symbol)
    times = arr.open_time
    if start is not None:
        lo = max(lo, int(np.searchsorted(times[:hi], start, side="left")))
    if end is not None:
        hi = min(hi, int(np.searchsorted(times[:hi], end, side="right")))
    live = replay.in_progress.get(symbol)
    live_ok = (
        live is not None
        and (start is None or live.open_time >= start)
        and (end is None or live.open_time <= end)
    )
    count = max(hi - lo, 0) + (1 if live_ok else 0)
    if count > limit:
        if start is not None:
            hi = min(hi, lo + limit)
            live_ok = live_ok and hi - lo < limit
        else:
            lo = max(lo, hi - (limit - (1 if live_ok else 0)))
    rows = kline_rows(arr, lo, hi, tf_ms) if hi > lo else []
    if live_ok and live is not None:
        rows.append(update_row(live))
    return rows


async def klines(request: web.Request) -> web.Response:
    """``GET /api/v3/klines`` and ``/api/v3/uiKlines``."""
    st = request.app[STATE].spot
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol", "interval", "startTime", "endTime", "limit", "timeZone"})
    symbol = _symbol(st, params)
    interval = params.get("interval", "")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS:
        raise SimError(-1120, "Invalid interval.")
    arr, source, ms = st.intervals.source(symbol, interval)
    limit = p_int(params, "limit")
    limit = 500 if limit is None else limit
    if limit < 1:
        raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
    window = (p_int(params, "startTime"), p_int(params, "endTime"), min(limit, MAX_KLINES))
    rows = select_rows(arr, source, symbol, ms, window)
    return web.json_response(rows)


async def ticker_price(request: web.Request) -> web.Response:
    """``GET /api/v3/ticker/price`` (one symbol or all)."""
    st = request.app[STATE].spot
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol", "symbols"})
    if params.get("symbol"):
        s = _symbol(st, params)
        return web.json_response({"symbol": s, "price": fmt(st.last_price(s))})
    return web.json_response(
        [
            {"symbol": s, "price": fmt(st.last_price(s))}
            for s in st.rules
            if s in st.exchange.last_price
        ]
    )


async def avg_price(request: web.Request) -> web.Response:
    """``GET /api/v3/avgPrice``: the replay has no trade tape, so this is the last price."""
    st = request.app[STATE].spot
    params, _, _ = await read_params(request)
    reject_unknown(params, {"symbol"})
    s = _symbol(st, params)
    return web.json_response(
        {"mins": 5, "price": fmt(st.last_price(s)), "closeTime": st.replay.now_ms}
    )


def add_routes(app: web.Application) -> None:
    """Register the public endpoints."""
    r = app.router
    r.add_get("/api/v3/ping", ping)
    r.add_get("/api/v3/time", server_time)
    r.add_get("/api/v3/exchangeInfo", get_exchange_info)
    r.add_get("/api/v3/klines", klines)
    r.add_get("/api/v3/uiKlines", klines)
    r.add_get("/api/v3/ticker/price", ticker_price)
    r.add_get("/api/v3/avgPrice", avg_price)
