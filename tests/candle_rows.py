"""Engine ``Candle`` events built from rows of a candle file, for the stream and pipeline tests."""

from __future__ import annotations

from engine.events import Candle
from greenlight.core.candlefile import CandleArrays


def candle_at(c: CandleArrays, i: int, venue: str, symbol: str, tf: str, tf_ms: int) -> Candle:
    """Row ``i`` of ``c`` as a closed candle of a ``tf_ms``-long interval."""
    return Candle(
        venue=venue,
        symbol=symbol,
        tf=tf,
        open_time=int(c.open_time[i]),
        close_time=int(c.open_time[i]) + tf_ms - 1,
        open=float(c.open[i]),
        high=float(c.high[i]),
        low=float(c.low[i]),
        close=float(c.close[i]),
        volume=float(c.volume[i]),
    )


def candle_rows(
    c: CandleArrays,
    venue: str,
    symbol: str,
    tf: str,
    tf_ms: int,
    start: int = 0,
    stop: int | None = None,
) -> list[Candle]:
    """Rows ``start`` to ``stop`` (exclusive; ``None``: to the end) of ``c`` as closed candles."""
    end = len(c) if stop is None else stop
    return [candle_at(c, i, venue, symbol, tf, tf_ms) for i in range(start, end)]
