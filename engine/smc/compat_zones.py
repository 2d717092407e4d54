"""smartmoneyconcepts 0.0.27 compatibility: ``fvg`` and ``ob`` (close_mitigation=False).

Library quirks reproduced on purpose:

- FVG on the middle bar of three (the middle candle's direction decides the side); mitigation
  is the first bar from two bars later whose low (bullish) / high (bearish) reaches the far
  edge; an unmitigated FVG has mitigated index 0, not NaN.
- Order blocks: the bullish pass runs over all bars before the bearish pass, and both share
  the same per-bar arrays (so a bearish block can overwrite a bullish one, and inherits its
  "breaker" flag). Tops, bottoms, volumes and percentages are float32 and are compared as
  float32. A bullish block's mitigation index is the bar *before* the breaking bar, a bearish
  block's is the breaking bar. When the break comes right after the swing, the default block
  is the previous bar with top and bottom swapped (bullish side only).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.smc._search import build_max_table, first_at_least

F64 = npt.NDArray[np.float64]
_SCAN = 32
F32 = npt.NDArray[np.float32]
I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]


@njit(cache=True)
def compat_fvg(
    open_: F64, high: F64, low: F64, close: F64, join_consecutive: bool
) -> tuple[I8, F64, F64, I64]:
    """``fvg``: side (1 / -1 / 0), top, bottom (NaN when none), mitigated index (0 = never)."""
    n = close.shape[0]
    side = np.zeros(n, np.int8)
    top = np.full(n, np.nan)
    bottom = np.full(n, np.nan)
    for i in range(1, n - 1):
        up = close[i] > open_[i]
        if (high[i - 1] < low[i + 1] and up) or (low[i - 1] > high[i + 1] and close[i] < open_[i]):
            side[i] = 1 if up else -1
            top[i] = low[i + 1] if up else low[i - 1]
            bottom[i] = high[i - 1] if up else high[i + 1]
    if join_consecutive:
        for i in range(n - 1):
            if side[i] == side[i + 1]:
                top[i + 1] = max(top[i], top[i + 1])
                bottom[i + 1] = min(bottom[i], bottom[i + 1])
                side[i] = 0
                top[i] = np.nan
                bottom[i] = np.nan
    mitigated = np.zeros(n, np.int64)
    neg_low = np.empty((0, 0))
    high_t = np.empty((0, 0))
    for i in range(n):
        if side[i] == 0:
            continue
        j = -1
        for q in range(i + 2, min(i + 2 + _SCAN, n)):  # most gaps fill quickly
            if (low[q] <= top[i]) if side[i] == 1 else (high[q] >= bottom[i]):
                j = q
                break
        if j < 0 and i + 2 + _SCAN < n:
            if neg_low.shape[0] == 0:
                neg_low = build_max_table(-low)
                high_t = build_max_table(high)
            if side[i] == 1:
                j = first_at_least(neg_low, n, i + 2 + _SCAN, -top[i])
            else:
                j = first_at_least(high_t, n, i + 2 + _SCAN, bottom[i])
        mitigated[i] = max(j, 0)
    return side, top, bottom, mitigated


@njit(cache=True)
def _extreme_before(values: F64, start: int, end: int, want_max: bool) -> int:
    """Index of the last occurrence of the min (or max) of ``values[start:end]``."""
    best = start
    for k in range(start + 1, end):
        if (values[k] >= values[best]) if want_max else (values[k] <= values[best]):
            best = k
    return best


@njit(cache=True)
def _ob_pass(
    bullish: bool,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    swing_kind: I8,
    state: tuple[I8, F32, F32, F32, F32, I64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
) -> None:
    ob, top, bottom, obvol, pct, mitig, crossed, breaker = state
    n = close.shape[0]
    sign = 1 if bullish else -1
    active = np.empty(n + 1, np.int64)  # insertion-ordered list, duplicates allowed
    count = 0
    last_swing = -1
    for i in range(n):
        snapshot = active[:count].copy()
        for idx in snapshot:
            if breaker[idx]:
                gone = high[i] > top[idx] if bullish else low[i] < bottom[idx]
                if gone:
                    ob[idx] = 0
                    top[idx] = 0
                    bottom[idx] = 0
                    obvol[idx] = 0
                    pct[idx] = 0
                    mitig[idx] = 0
                    count = _remove_first(active, count, idx)
            elif (low[i] < bottom[idx]) if bullish else (high[i] > top[idx]):
                breaker[idx] = True
                mitig[idx] = i - 1 if bullish else i
        if last_swing >= 0 and _crosses(bullish, close[i], high, low, last_swing, crossed):
            crossed[last_swing] = True
            idx = _place(bullish, high, low, last_swing, i, state)
            _volumes(bullish, volume, i, idx, obvol, pct)
            ob[idx] = sign
            active[count] = idx
            count += 1
        if swing_kind[i] == sign:
            last_swing = i


@njit(cache=True)
def _remove_first(active: I64, count: int, idx: int) -> int:
    """``list.remove``: drop the first occurrence of ``idx``; return the new length."""
    for r in range(count):
        if active[r] == idx:
            active[r : count - 1] = active[r + 1 : count].copy()
            return count - 1
    return count


@njit(cache=True)
def _crosses(
    bullish: bool, c: float, high: F64, low: F64, swing: int, crossed: npt.NDArray[np.bool_]
) -> bool:
    if crossed[swing]:
        return False
    return bool(c > high[swing]) if bullish else bool(c < low[swing])


@njit(cache=True)
def _place(
    bullish: bool,
    high: F64,
    low: F64,
    swing: int,
    i: int,
    state: tuple[I8, F32, F32, F32, F32, I64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
) -> int:
    top = state[1]
    bottom = state[2]
    idx = i - 1
    if bullish:
        t, b = low[idx], high[idx]
    else:
        t, b = high[idx], low[idx]
    if i - swing > 1:
        idx = _extreme_before(high if not bullish else low, swing + 1, i, not bullish)
        t, b = high[idx], low[idx]
    top[idx] = np.float32(t)
    bottom[idx] = np.float32(b)
    return idx


@njit(cache=True)
def _volumes(bullish: bool, volume: F64, i: int, idx: int, obvol: F32, pct: F32) -> None:
    v0 = volume[i]
    v1 = volume[i - 1] if i >= 1 else 0.0
    v2 = volume[i - 2] if i >= 2 else 0.0
    obvol[idx] = np.float32(v0 + v1 + v2)
    recent = np.float32(v0 + v1)
    older = np.float32(v2)
    hi_v, lo_v = (recent, older) if bullish else (older, recent)
    mx = max(hi_v, lo_v)
    if mx != 0:
        pct[idx] = np.float32(np.float32(min(hi_v, lo_v) / mx) * np.float32(100.0))
    else:
        pct[idx] = np.float32(100.0)


@njit(cache=True)
def compat_ob(
    high: F64, low: F64, close: F64, volume: F64, swing_kind: I8
) -> tuple[I8, F32, F32, F32, I64, F32]:
    """``ob(close_mitigation=False)``: side, top, bottom, volume, mitigated index, percentage.

    Values are meaningful only where side != 0."""
    n = close.shape[0]
    state = (
        np.zeros(n, np.int8),
        np.zeros(n, np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.int64),
        np.zeros(n, np.bool_),
        np.zeros(n, np.bool_),
    )
    _ob_pass(True, high, low, close, volume, swing_kind, state)
    _ob_pass(False, high, low, close, volume, swing_kind, state)
    return state[0], state[1], state[2], state[3], state[5], state[4]
