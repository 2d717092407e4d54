"""Coordinate helpers: candles sit at x = row index (so data gaps leave no holes), times map to
fractional rows, and tick positions / labels are computed here instead of by matplotlib
locators, which keeps every render's axes fully determined by its spec.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt

_MIN = 60_000
_TIME_STEPS_MS = (
    _MIN,
    5 * _MIN,
    15 * _MIN,
    30 * _MIN,
    60 * _MIN,
    2 * 60 * _MIN,
    3 * 60 * _MIN,
    4 * 60 * _MIN,
    6 * 60 * _MIN,
    12 * 60 * _MIN,
    24 * 60 * _MIN,
    2 * 24 * 60 * _MIN,
    7 * 24 * 60 * _MIN,
    14 * 24 * 60 * _MIN,
    30 * 24 * 60 * _MIN,
)
_DAY_MS = 24 * 60 * _MIN


def time_to_x(open_time: npt.NDArray[np.int64], t: int) -> float:
    """Row position of time ``t``: the row of the candle that contains it; times before the
    first candle map to the left edge (-0.5), times after the last candle to the last row."""
    if t < int(open_time[0]):
        return -0.5
    return float(np.searchsorted(open_time, t, side="right") - 1)


def time_ticks(
    open_time: npt.NDArray[np.int64], max_ticks: int = 7
) -> tuple[list[float], list[str]]:
    """UTC time ticks at round multiples of a step: ``HH:MM`` within a day, ``DD Mon`` at
    midnight or when the step is a day or longer."""
    first, last = int(open_time[0]), int(open_time[-1])
    span = max(last - first, 1)
    step = next((s for s in _TIME_STEPS_MS if span / s <= max_ticks), _TIME_STEPS_MS[-1])
    start = -(-first // step) * step
    ticks = np.arange(start, last + 1, step, dtype=np.int64)
    rows = np.arange(open_time.shape[0], dtype=np.float64)
    xs = np.interp(ticks.astype(np.float64), open_time.astype(np.float64), rows)
    labels = []
    for t in ticks.tolist():
        st = time.gmtime(t / 1000)
        daily = step >= _DAY_MS or (st.tm_hour == 0 and st.tm_min == 0)
        labels.append(time.strftime("%d %b" if daily else "%H:%M", st))
    return xs.tolist(), labels


def format_utc(t: int) -> str:
    """``YYYY-MM-DD HH:MM UTC`` for an epoch-ms time."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t / 1000))


def price_decimals(step: float) -> int:
    """Decimals needed to tell apart prices ``step`` apart."""
    return max(0, math.ceil(-math.log10(step) - 1e-9)) if step > 0 else 2


def format_price(price: float, decimals: int) -> str:
    """Price with thousands separators, e.g. ``61,300`` or ``0.00001234``."""
    return f"{price:,.{decimals}f}"


def quoted_decimals(price: float, at_least: int = 0, most: int = 8) -> int:
    """Decimals that show ``price`` as it was quoted (1.0523 → 4, 61300.0 → 0), never fewer
    than ``at_least`` nor more than ``most``."""
    text = repr(float(price))
    if "e" in text:
        return most
    frac = text.partition(".")[2].rstrip("0")
    return max(at_least, min(most, len(frac)))


def _nice_step(raw: float) -> float:
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= mult * base * (1 + 1e-9):
            return mult * base
    return 10.0 * base


def price_ticks(lo: float, hi: float, max_ticks: int = 8) -> tuple[list[float], int]:
    """Round tick values inside ``[lo, hi]`` and the decimals to print them with."""
    span = hi - lo if hi > lo else abs(hi) * 1e-3 or 1.0
    step = _nice_step(span / max_ticks)
    first = math.ceil(lo / step) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    ticks = [first + k * step for k in range(max(count, 0))]
    return ticks, price_decimals(step)


def padded_range(lo: float, hi: float, fraction: float) -> tuple[float, float]:
    """``[lo, hi]`` widened by ``fraction`` of its span on each side (never zero-width)."""
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 0.01 or 1.0
    return lo - span * fraction, hi + span * fraction
