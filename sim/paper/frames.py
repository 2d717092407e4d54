"""Kline frames of a Binance-compatible market stream, decoded once at the edge.

A frame is ``{"e": "kline", "E": event time, "s": symbol, "k": {...}}``, on a combined
stream wrapped as ``{"stream": name, "data": frame}``. Its REST twin is the 12-column row of
``GET /api/v3/klines``; the cache keeps rows exactly as the source wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Row = list[Any]


class FrameError(ValueError):
    """A message from the market-data source is not a kline frame it should send."""


@dataclass(frozen=True, slots=True)
class KlineFrame:
    """One kline update: where it belongs, its prices, and the source's own payload."""

    symbol: str
    interval: str
    event_time: int
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    closed: bool
    row: Row  # the 12-column REST row of this state of the candle
    payload: dict[str, Any]  # the frame as the source sent it (relayed unchanged)


def decode(message: Any) -> KlineFrame | None:
    """The kline frame in ``message`` (plain or combined), ``None`` for anything else the
    source may send (subscription answers, ``serverShutdown``); :class:`FrameError` for a
    kline frame that cannot be read."""
    data = message.get("data", message) if isinstance(message, dict) else None
    if not isinstance(data, dict) or data.get("e") != "kline":
        return None
    try:
        k = data["k"]
        open_time, close_time = int(k["t"]), int(k["T"])
        o, h, lo, c = float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"])
        row: Row = [
            int(k["t"]),
            str(k["o"]),
            str(k["h"]),
            str(k["l"]),
            str(k["c"]),
            str(k["v"]),
            int(k["T"]),
            str(k.get("q", "0")),
            int(k.get("n", 0)),
            str(k.get("V", "0")),
            str(k.get("Q", "0")),
            "0",
        ]
        return KlineFrame(
            symbol=str(data["s"]),
            interval=str(k["i"]),
            event_time=int(data["E"]),
            open_time=open_time,
            close_time=close_time,
            open=o,
            high=h,
            low=lo,
            close=c,
            closed=bool(k["x"]),
            row=row,
            payload=data,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"malformed kline frame {data!r}: {exc!r}") from exc


def check_row(row: Any) -> Row:
    """A 12-column kline row from the source's REST answer (:class:`FrameError` if not)."""
    if not isinstance(row, list) or len(row) < 12:
        raise FrameError(f"malformed kline row {row!r}")
    try:
        int(row[0]), int(row[6]), float(row[2]), float(row[3]), float(row[4])
    except (TypeError, ValueError) as exc:
        raise FrameError(f"malformed kline row {row!r}") from exc
    return list(row[:12])


def ohlc(row: Row) -> tuple[float, float, float, float]:
    """Open, high, low and close of a row."""
    return float(row[1]), float(row[2]), float(row[3]), float(row[4])
