"""Swing detectors of the causal SMC step (numba): N-bar pivots and an ATR-scaled ZigZag.

Both append ``T_SWING`` event rows at the candle where the swing became known, carrying the
pivot candle's open time, and update the structure references (latest swing high / low,
HH/LH/HL/LL labels) through the same :func:`record_swing`.

- Pivots: bar ``p`` is a swing high when its high is strictly above the N highs before it and
  at least as high as the N after it (mirrored for lows); known at ``p + N``.
- ZigZag: the leg's extreme (highest high of an up-leg, lowest low of a down-leg) becomes a
  swing when a later candle reaches ``mult × ATR`` beyond it in the other direction, ATR being
  Wilder's (TA-Lib definition) at that candle. A candle that makes a new extreme does not
  also reverse the leg, so the pivot is always an earlier candle than the confirmation. Before
  the first leg, the highest high and lowest low so far are tracked; the first time they are
  ``mult × ATR`` apart, the earlier of the two is the first swing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.smc import layout as L

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@njit(cache=True, inline="always")
def emit(
    ev: F64,
    k: int,
    bar: int,
    t: float,
    typ: int,
    ref: float,
    a: float,
    b: float,
    d: float,
    kind: float,
    zone: float,
) -> int:
    """Write one event row at ``ev[k]``; return ``k + 1``."""
    row = ev[k]
    row[L.EV_BAR] = bar
    row[L.EV_TIME] = t
    row[L.EV_TYPE] = typ
    row[L.EV_REF_TIME] = ref
    row[L.EV_A] = a
    row[L.EV_B] = b
    row[L.EV_DIR] = d
    row[L.EV_KIND] = kind
    row[L.EV_ZONE] = zone
    return k + 1


@njit(cache=True)
def record_swing(
    ist: I64, fst: F64, price: float, ptime: float, d: float, bar: int, t: float, ev: F64, k: int
) -> int:
    """Make a confirmed swing (``d`` +1 high, -1 low) the structure reference and emit it."""
    if d > 0:
        label = L.LABEL_NONE
        if ist[L.I_HAS_HIGH]:
            label = L.LABEL_HH if price > fst[L.F_LAST_HIGH] else L.LABEL_LH
        fst[L.F_LAST_HIGH] = price
        fst[L.F_LAST_HIGH_TIME] = ptime
        ist[L.I_HAS_HIGH] = 1
        ist[L.I_TOP_CROSSED] = 0
    else:
        label = L.LABEL_NONE
        if ist[L.I_HAS_LOW]:
            label = L.LABEL_LL if price < fst[L.F_LAST_LOW] else L.LABEL_HL
        fst[L.F_LAST_LOW] = price
        fst[L.F_LAST_LOW_TIME] = ptime
        ist[L.I_HAS_LOW] = 1
        ist[L.I_BTM_CROSSED] = 0
    return emit(ev, k, bar, t, L.T_SWING, ptime, price, label, d, 0.0, 0.0)


@njit(cache=True, inline="always")
def _pivot(ring: F64, size: int, bar: int, n: int, col: int, sign: float) -> bool:
    """Is bar - n an n-bar pivot of ``col`` (sign +1: high, -1: low)?"""
    p = bar - n
    v = sign * ring[p % size, col]
    for j in range(p - n, p):
        if sign * ring[j % size, col] >= v:
            return False
    for j in range(p + 1, bar + 1):  # noqa: SIM110 (plain loops compile best in numba)
        if sign * ring[j % size, col] > v:
            return False
    return True


@njit(cache=True, inline="always")
def pivot_swings(
    cfg: I64, ist: I64, fst: F64, ring: F64, bar: int, t: float, ev: F64, k: int
) -> int:
    """N-bar pivot swings confirmed at ``bar``."""
    n = cfg[L.CFG_N]
    size = cfg[L.CFG_RING]
    if bar < 2 * n:
        return k
    p = (bar - n) % size
    if _pivot(ring, size, bar, n, L.R_HIGH, 1.0):
        k = record_swing(ist, fst, ring[p, L.R_HIGH], ring[p, L.R_TIME], 1.0, bar, t, ev, k)
    if _pivot(ring, size, bar, n, L.R_LOW, -1.0):
        k = record_swing(ist, fst, ring[p, L.R_LOW], ring[p, L.R_TIME], -1.0, bar, t, ev, k)
    return k


@njit(cache=True)
def update_atr(cfg: I64, fst: F64, bar: int, h: float, lo: float, c: float) -> None:
    """Wilder ATR: first value at bar ``period`` (mean of the true ranges of bars 1..period),
    then ``(atr * (period - 1) + tr) / period``; the first candle has no true range."""
    period = cfg[L.CFG_ATR_PERIOD]
    prev = fst[L.F_PREV_CLOSE]
    fst[L.F_PREV_CLOSE] = c
    if bar == 0:
        fst[L.F_TR_SUM] = 0.0
        return
    tr = max(h - lo, abs(h - prev), abs(lo - prev))
    if bar < period:
        fst[L.F_TR_SUM] += tr
    elif bar == period:
        fst[L.F_ATR] = (fst[L.F_TR_SUM] + tr) / period
    else:
        fst[L.F_ATR] = (fst[L.F_ATR] * (period - 1) + tr) / period


@njit(cache=True)
def _zz_first_leg(
    ist: I64, fst: F64, bar: int, t: float, h: float, lo: float, thr: float, ev: F64, k: int
) -> int:
    if not h <= fst[L.F_ZZ_HI]:  # also true while NaN
        fst[L.F_ZZ_HI] = h
        fst[L.F_ZZ_HI_TIME] = t
    if not lo >= fst[L.F_ZZ_LO]:
        fst[L.F_ZZ_LO] = lo
        fst[L.F_ZZ_LO_TIME] = t
    hi_t, lo_t = fst[L.F_ZZ_HI_TIME], fst[L.F_ZZ_LO_TIME]
    if not fst[L.F_ZZ_HI] - fst[L.F_ZZ_LO] >= thr or hi_t == lo_t:
        return k
    if lo_t < hi_t:  # the low came first: it is a swing low, an up-leg is running
        ist[L.I_ZZ_DIR] = 1
        return record_swing(ist, fst, fst[L.F_ZZ_LO], lo_t, -1.0, bar, t, ev, k)
    ist[L.I_ZZ_DIR] = -1
    return record_swing(ist, fst, fst[L.F_ZZ_HI], hi_t, 1.0, bar, t, ev, k)


@njit(cache=True, inline="always")
def zigzag_swings(
    cfg: I64, ist: I64, fst: F64, bar: int, t: float, h: float, lo: float, c: float, ev: F64, k: int
) -> int:
    """ZigZag swings confirmed by the candle ``bar`` (see the module docstring)."""
    update_atr(cfg, fst, bar, h, lo, c)
    thr = fst[L.F_ZZ_MULT] * fst[L.F_ATR]  # NaN during the ATR warm-up: never reverses
    d = ist[L.I_ZZ_DIR]
    if d == 0:
        return _zz_first_leg(ist, fst, bar, t, h, lo, thr, ev, k)
    if d > 0:
        if h > fst[L.F_ZZ_HI]:
            fst[L.F_ZZ_HI] = h
            fst[L.F_ZZ_HI_TIME] = t
        elif lo <= fst[L.F_ZZ_HI] - thr:
            k = record_swing(ist, fst, fst[L.F_ZZ_HI], fst[L.F_ZZ_HI_TIME], 1.0, bar, t, ev, k)
            ist[L.I_ZZ_DIR] = -1
            fst[L.F_ZZ_LO] = lo
            fst[L.F_ZZ_LO_TIME] = t
        return k
    if lo < fst[L.F_ZZ_LO]:
        fst[L.F_ZZ_LO] = lo
        fst[L.F_ZZ_LO_TIME] = t
    elif h >= fst[L.F_ZZ_LO] + thr:
        k = record_swing(ist, fst, fst[L.F_ZZ_LO], fst[L.F_ZZ_LO_TIME], -1.0, bar, t, ev, k)
        ist[L.I_ZZ_DIR] = 1
        fst[L.F_ZZ_HI] = h
        fst[L.F_ZZ_HI_TIME] = t
    return k
