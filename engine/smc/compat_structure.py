"""smartmoneyconcepts 0.0.27 compatibility: ``swing_highs_lows`` and ``bos_choch``.

Reimplemented from the library's documented behaviour, quirks included, as numba kernels:

- a bar is a swing-high candidate when its high equals the maximum of the window
  ``[i - N + 1, i + N]`` (N - 1 bars left, N right); candidates need ``2N - 1 <= i <= n - 1 - N``;
  a swing high wins over a swing low on the same bar;
- runs of same-kind candidates collapse to their first extreme (what the library's repeated
  pairwise thinning converges to); the first and last bars are then forced to the kind opposite
  to the first and last swing;
- BOS/CHOCH are judged on each group of four alternating swings and written at the swing two
  before the newest one, with a float32 level; a break needs a close beyond the level from
  two bars later on; an earlier event whose break came at or after a later event's break is
  dropped (its broken index is kept, as the library does); unbroken events are dropped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.smc._search import build_max_table, first_above

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
_SCAN = 32


@njit(cache=True)
def _candidates(high: F64, low: F64, n_len: int) -> I8:
    n = high.shape[0]
    kind = np.zeros(n, np.int8)
    for i in range(2 * n_len - 1, n - n_len):
        mx = high[i - n_len + 1]
        mn = low[i - n_len + 1]
        for j in range(i - n_len + 2, i + n_len + 1):
            mx = max(mx, high[j])
            mn = min(mn, low[j])
        if high[i] == mx:
            kind[i] = 1
        elif low[i] == mn:
            kind[i] = -1
    return kind


@njit(cache=True)
def compat_swings(high: F64, low: F64, swing_length: int) -> tuple[I8, F64]:
    """``swing_highs_lows``: per bar 1 / -1 / 0 (none) and the swing level (NaN when none)."""
    n = high.shape[0]
    cand = _candidates(high, low, swing_length)
    kind = np.zeros(n, np.int8)
    best = -1
    for i in range(n):
        if cand[i] == 0:
            continue
        if best >= 0 and cand[best] == cand[i]:
            better = high[i] > high[best] if cand[i] == 1 else low[i] < low[best]
            if better:
                best = i
            continue
        if best >= 0:
            kind[best] = cand[best]
        best = i
    if best >= 0:
        kind[best] = cand[best]
        first = -1
        for i in range(n):
            if kind[i] != 0:
                first = i
                break
        first_kind = kind[first]
        last_kind = kind[best]
        kind[0] = -first_kind
        kind[n - 1] = -last_kind
    level = np.full(n, np.nan)
    for i in range(n):
        if kind[i] == 1:
            level[i] = high[i]
        elif kind[i] == -1:
            level[i] = low[i]
    return kind, level


@njit(cache=True)
def _judge(kinds: I8, lev: F64, k: int) -> tuple[int, int]:
    t1, t2, t3, t4 = kinds[k], kinds[k - 1], kinds[k - 2], kinds[k - 3]
    l1, l2, l3, l4 = lev[k], lev[k - 1], lev[k - 2], lev[k - 3]
    bull = t4 == -1 and t3 == 1 and t2 == -1 and t1 == 1
    bear = t4 == 1 and t3 == -1 and t2 == 1 and t1 == -1
    bos = 0
    if bull and l4 < l2 < l3 < l1:
        bos = 1
    if bear and l4 > l2 > l3 > l1:
        bos = -1
    choch = 0
    if bull and l1 > l3 > l4 > l2:
        choch = 1
    if bear and l1 < l3 < l4 < l2:
        choch = -1
    return bos, choch


@njit(cache=True)
def _label(swing_kind: I8, swing_level: F64, n: int) -> tuple[I8, I8, F32]:
    pos = np.flatnonzero(swing_kind != 0)
    kinds = swing_kind[pos]
    lev = swing_level[pos]
    bos = np.zeros(n, np.int8)
    choch = np.zeros(n, np.int8)
    level = np.zeros(n, np.float32)
    for k in range(3, pos.shape[0]):
        b, c = _judge(kinds, lev, k)
        at = pos[k - 2]
        bos[at] = b
        choch[at] = c
        if b != 0 or c != 0:
            level[at] = np.float32(lev[k - 2])
    return bos, choch, level


@njit(cache=True)
def _scan(close: F64, start: int, lvl: float, d: int) -> int:
    """First close beyond ``lvl`` within ``_SCAN`` bars: index, -1 (none, data ends) or -2
    (none yet, more data to search)."""
    n = close.shape[0]
    for q in range(start, min(start + _SCAN, n)):
        if (close[q] > lvl) if d == 1 else (close[q] < lvl):
            return q
    return -2 if start + _SCAN < n else -1


@njit(cache=True)
def compat_bos_choch(swing_kind: I8, swing_level: F64, close: F64) -> tuple[I8, I8, F64, I64]:
    """``bos_choch(close_break=True)``: BOS, CHOCH (1 / -1 / 0), float32-rounded level (NaN when
    none) and broken index (-1 when none)."""
    n = close.shape[0]
    bos, choch, level = _label(swing_kind, swing_level, n)
    broken = np.zeros(n, np.int64)
    up_table = np.empty((0, 0))
    down_table = np.empty((0, 0))
    events = np.flatnonzero((bos != 0) | (choch != 0))
    for e in range(events.shape[0]):
        i = events[e]
        lvl = np.float64(level[i])
        d = 1 if bos[i] == 1 or choch[i] == 1 else -1
        j = _scan(close, i + 2, lvl, d)
        if j == -2:
            if up_table.shape[0] == 0:
                up_table = build_max_table(close)
                down_table = build_max_table(-close)
            start = i + 2 + _SCAN
            j = (
                first_above(up_table, n, start, lvl)
                if d == 1
                else first_above(down_table, n, start, -lvl)
            )
        if j < 0:
            continue
        broken[i] = j
        for q in range(e):
            k = events[q]
            if broken[k] >= j:
                bos[k] = 0
                choch[k] = 0
                level[k] = 0
    return _finish(bos, choch, level, broken)


@njit(cache=True)
def _finish(bos: I8, choch: I8, level: F32, broken: I64) -> tuple[I8, I8, F64, I64]:
    """Drop unbroken events; NaN levels and -1 indices where the library gives NaN."""
    n = bos.shape[0]
    out_level = np.full(n, np.nan)
    for i in range(n):
        if (bos[i] != 0 or choch[i] != 0) and broken[i] == 0:
            bos[i] = 0
            choch[i] = 0
            level[i] = 0
        if level[i] != 0:
            out_level[i] = level[i]
        if broken[i] == 0:
            broken[i] = -1
    return bos, choch, out_level, broken
