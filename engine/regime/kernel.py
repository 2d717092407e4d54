"""Regime step function (numba): TREND / RANGE / SHOCK from ADX, the Bollinger-width
percentile and the normalised-ATR percentile over a rolling window.

Percentiles are causal: the rank of the current value among the last ``window`` values
*including* the current one (fraction of values <= it). Until ``min_periods`` values exist,
or while an input is NaN, the regime is UNKNOWN.

The helpers are inlined into the step (``inline="always"``): numba compiles each function
on its own, so a helper was a real call per candle.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]

UNKNOWN = 0
TREND = 1
RANGE = 2
SHOCK = 3
NAMES = {UNKNOWN: "", TREND: "TREND", RANGE: "RANGE", SHOCK: "SHOCK"}

C_WINDOW = 0
C_MIN_PERIODS = 1
C_ADX_TREND = 2
C_SHOCK_PCT = 3
C_TREND_BBW_PCT = 4
C_SIZE = 5

S_COUNT = 0  # values stored in the rings (<= window)
S_POS = 1  # next write position
S_SIZE = 2

O_REGIME = 0
O_ATR_PCT = 1
O_BBW_PCT = 2
O_ADX = 3
O_COLS = 4


@njit(cache=True, inline="always")
def _rank(ring: F64, count: int, v: float) -> float:
    le = 0
    for j in range(count):
        if ring[j] <= v:
            le += 1
    return le / count


@njit(cache=True, inline="always")
def regime_step(
    cfg: F64, st: F64, rings: F64, adx: float, atr: float, close: float, bb_width: float, out: F64
) -> None:
    """Advance by one candle; ``rings`` is (2, window): normalised ATR and BB width."""
    out[:] = np.nan
    out[O_REGIME] = UNKNOWN
    out[O_ADX] = adx
    natr = atr / close
    if not (np.isfinite(natr) and np.isfinite(bb_width) and np.isfinite(adx)):
        return
    window = int(cfg[C_WINDOW])
    pos = int(st[S_POS])
    rings[0, pos] = natr
    rings[1, pos] = bb_width
    st[S_POS] = (pos + 1) % window
    count = min(int(st[S_COUNT]) + 1, window)
    st[S_COUNT] = count
    if count < cfg[C_MIN_PERIODS]:
        return
    atr_pct = _rank(rings[0], count, natr)
    bbw_pct = _rank(rings[1], count, bb_width)
    out[O_ATR_PCT] = atr_pct
    out[O_BBW_PCT] = bbw_pct
    if atr_pct >= cfg[C_SHOCK_PCT]:
        out[O_REGIME] = SHOCK
    elif adx >= cfg[C_ADX_TREND] and bbw_pct >= cfg[C_TREND_BBW_PCT]:
        out[O_REGIME] = TREND
    else:
        out[O_REGIME] = RANGE


@njit(cache=True)
def regime_run(
    cfg: F64, st: F64, rings: F64, adx: F64, atr: F64, close: F64, bb_width: F64, out: F64
) -> None:
    """Batch: the same step over every candle."""
    for i in range(close.shape[0]):
        regime_step(cfg, st, rings, adx[i], atr[i], close[i], bb_width[i], out[i])
