"""The price path between two kline updates of a live market.

A kline update says where a candle opened, its extremes so far and its last price, not the
order prices were traded in. Between two updates of one candle the price went from the last
price to every new extreme the update reports and then to its close; when both extremes are
new, the one nearer the starting price is taken first (the backtester's ``ohlc`` rule; on a
tie the low first). A new candle starts at its open. Candles the paper venue did not see
live (filled in from REST after a reconnect) follow the same rule from their open. The
simulator reports its own candles this way, so a paper venue following a ``greenlight sim``
walks the simulator's very path (bullish O→L→H→C, bearish O→H→L→C).
"""

from __future__ import annotations

from dataclasses import dataclass


def walk(start: float, high: float | None, low: float | None, end: float) -> tuple[float, ...]:
    """``start`` → the new extremes (nearer first; a tie: the low first) → ``end``, without
    repeated points."""
    extremes = [p for p in (low, high) if p is not None]  # low first on a tie (stable sort)
    extremes.sort(key=lambda p: abs(p - start))
    points = [start]
    for p in (*extremes, end):
        if p != points[-1]:
            points.append(p)
    return tuple(points)


def candle_path(o: float, h: float, lo: float, c: float) -> tuple[float, ...]:
    """A whole candle: open → the extreme nearer the open → the other extreme → close."""
    return walk(o, h if h > o else None, lo if lo < o else None, c)


@dataclass
class _Seen:
    open_time: int
    high: float
    low: float


class PathTracker:
    """Per symbol, the candle seen last and its extremes so far."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def update(
        self, symbol: str, open_time: int, ohlc: tuple[float, float, float, float], last: float
    ) -> tuple[float, ...]:
        """The path from ``last`` (the previous last price) to this update of the candle
        opened at ``open_time``; ``()`` for an update of a candle older than the one seen."""
        o, h, lo, c = ohlc
        seen = self._seen.get(symbol)
        if seen is not None and open_time < seen.open_time:
            return ()
        if seen is None or open_time > seen.open_time:
            self._seen[symbol] = _Seen(open_time, h, lo)
            return candle_path(o, h, lo, c)
        high = h if h > seen.high else None
        low = lo if lo < seen.low else None
        seen.high, seen.low = max(seen.high, h), min(seen.low, lo)
        return walk(last, high, low, c)[1:] or (c,)
