"""The simulator's market clock: candle files replayed on today's calendar.

Recorded candles keep their original times in the data files. At start the simulator shifts
every series of a market (trade candles, mark prices, funding) by the same whole number of
days, so that the first replayed candle opens within half a day of the wall clock, at the
time of day where it was recorded. A whole-day shift keeps everything tied to the time of
day where it was: 00:00 UTC VWAP resets, 8-hourly funding, daily boundaries.

The USD-M market is shifted to the spot replay's start rather than to the wall clock, so
the two markets keep the same offset from each other whatever the hour a run starts at
(each rounded to the wall clock on its own, they would jump a day apart twice a day, and a
run's cross-market order of events with them).

Server time, event times (``E``), transaction times and candle times are then read off one
clock — the replay's position — so they agree with each other at any replay speed. Two
things stay on the wall clock, as they are about the client's machine rather than the market:
the ``recvWindow`` check of signed requests (a client signs with its own clock; a client that
synchronised with ``serverTime`` is accepted too) and expiry of listen keys, rate-limit
windows and faults.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

from greenlight.core.candlefile import CandleArrays

DAY_MS = 86_400_000
ClockMode = Literal["now", "historical"]


def wall_ms() -> int:
    """Wall-clock milliseconds (signing windows, expiry; never market times)."""
    return int(time.time() * 1000)


def shift_to_today(first_open_ms: int, now_ms: int) -> int:
    """Whole days that move ``first_open_ms`` nearest to ``now_ms`` (within half a day)."""
    return max(0, (now_ms - first_open_ms + DAY_MS // 2) // DAY_MS) * DAY_MS


def shifted(arr: CandleArrays, shift_ms: int) -> CandleArrays:
    """The same candles ``shift_ms`` later (prices untouched; a copy of the time column)."""
    if shift_ms == 0:
        return arr
    return CandleArrays(
        arr.open_time + shift_ms,
        arr.open,
        arr.high,
        arr.low,
        arr.close,
        arr.volume,
        arr.has_volume,
    )


def shift_all(series: Mapping[str, CandleArrays], shift_ms: int) -> dict[str, CandleArrays]:
    """:func:`shifted` for every symbol of a mapping."""
    return {s: shifted(a, shift_ms) for s, a in series.items()}


def first_open(series: Mapping[str, CandleArrays], first_row: int) -> int | None:
    """Open time of row ``first_row`` of the first series (the replay's master timeline)."""
    if not series:
        return None
    master = next(iter(series.values())).open_time
    return int(master[min(max(first_row, 0), len(master) - 1)])


def market_shift(
    mode: ClockMode, series: Mapping[str, CandleArrays], first_row: int, anchor_ms: int
) -> int:
    """The shift of one market: 0 for ``historical``; for ``now`` the whole days that bring
    row ``first_row`` of the master timeline nearest to ``anchor_ms`` (the wall clock for the
    spot market, the spot replay's shifted start for USD-M)."""
    first = first_open(series, first_row)
    if mode == "historical" or first is None:
        return 0
    return shift_to_today(first, anchor_ms)
