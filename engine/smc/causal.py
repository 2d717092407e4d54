"""Causal SMC step function (numba) over explicit state; see :mod:`engine.smc.layout`.

One call consumes one closed candle and appends the events that became known at that candle:

- swings: N-bar pivots, confirmed N bars after the pivot (strictly above the N bars before,
  at least as high as the N bars after; mirrored for lows), or an ATR-scaled ZigZag
  (:mod:`engine.smc.swing_kernels`), labelled HH/LH or HL/LL against the previous swing of
  the same kind (equal counts as LH / HL);
- structure: a close above the latest swing high is BOS_UP, or CHOCH_UP when the trend was
  down; a close below the latest swing low is BOS_DN, or CHOCH_DN when the trend was up; each
  swing level can be broken once;
- FVG: three-candle gap (high two bars back below this low, or mirrored), touched when price
  enters the gap, mitigated when price fills it completely, expired after ``fvg_expiry`` bars;
- order blocks: on every structure break, the last opposite candle before the impulse (within
  ``ob_lookback`` bars), touched when price returns into it, mitigated when a close goes
  through its far side, expired after ``ob_expiry`` bars.

The helpers run on every candle are inlined into the step (``inline="always"``; numba
compiles each function on its own, so each was a real call with every array argument
unpacked); the rare ones (new zones, swings) stay calls, which keeps the compile time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.smc import layout as L
from engine.smc.swing_kernels import emit, pivot_swings, zigzag_swings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

CFG_N = L.CFG_N
CFG_RING = L.CFG_RING
CFG_OB_EXPIRY = L.CFG_OB_EXPIRY
CFG_FVG_EXPIRY = L.CFG_FVG_EXPIRY
CFG_OB_LOOKBACK = L.CFG_OB_LOOKBACK
CFG_SIZE = L.CFG_SIZE

MAX_EVENTS_FIXED = 12  # swings, structure, new and evicted zones per candle


@njit(cache=True, inline="always")
def _zone_event(ev: F64, k: int, bar: int, t: float, typ: int, z: F64) -> int:
    return emit(
        ev,
        k,
        bar,
        t,
        typ,
        z[L.Z_START],
        z[L.Z_TOP],
        z[L.Z_BOTTOM],
        z[L.Z_DIR],
        z[L.Z_KIND],
        z[L.Z_ID],
    )


@njit(cache=True)
def _add_zone(
    ist: I64,
    zones: F64,
    kind: int,
    d: float,
    top: float,
    bottom: float,
    start: float,
    bar: int,
    t: float,
    ev: F64,
    k: int,
) -> tuple[int, int]:
    """Store a zone in a free row, or evict the oldest one (emitting its expiry); return the
    row and the new event count."""
    row = -1
    oldest = -1
    for r in range(zones.shape[0]):
        if zones[r, L.Z_ACTIVE] == 0.0:
            row = r
            break
        if oldest < 0 or zones[r, L.Z_ID] < zones[oldest, L.Z_ID]:
            oldest = r
    if row < 0:
        row = oldest
        k = _zone_event(ev, k, bar, t, L.T_ZONE_EXPIRED, zones[row])
    z = zones[row]
    z[L.Z_ACTIVE] = 1.0
    z[L.Z_ID] = ist[L.I_ZONE_SEQ]
    ist[L.I_ZONE_SEQ] += 1
    z[L.Z_KIND] = kind
    z[L.Z_DIR] = d
    z[L.Z_TOP] = top
    z[L.Z_BOTTOM] = bottom
    z[L.Z_START] = start
    z[L.Z_KNOWN_BAR] = bar
    z[L.Z_TOUCHED] = 0.0
    return row, k


@njit(cache=True)
def _order_block(
    cfg: I64, ist: I64, ring: F64, zones: F64, bar: int, t: float, d: float, ev: F64, k: int
) -> int:
    size = cfg[CFG_RING]
    lowest = max(0, bar - cfg[CFG_OB_LOOKBACK])
    for j in range(bar - 1, lowest - 1, -1):
        r = ring[j % size]
        opposite = r[L.R_CLOSE] < r[L.R_OPEN] if d > 0 else r[L.R_CLOSE] > r[L.R_OPEN]
        if opposite:
            row, k = _add_zone(
                ist, zones, L.KIND_OB, d, r[L.R_HIGH], r[L.R_LOW], r[L.R_TIME], bar, t, ev, k
            )
            return _zone_event(ev, k, bar, t, L.T_ZONE_NEW, zones[row])
    return k


@njit(cache=True, inline="always")
def _structure(
    cfg: I64,
    ist: I64,
    fst: F64,
    ring: F64,
    zones: F64,
    bar: int,
    t: float,
    c: float,
    ev: F64,
    k: int,
) -> int:
    if ist[L.I_HAS_HIGH] and not ist[L.I_TOP_CROSSED] and c > fst[L.F_LAST_HIGH]:
        typ = L.T_CHOCH if ist[L.I_TREND] == -1 else L.T_BOS
        ist[L.I_TOP_CROSSED] = 1
        ist[L.I_TREND] = 1
        k = emit(
            ev, k, bar, t, typ, fst[L.F_LAST_HIGH_TIME], fst[L.F_LAST_HIGH], 0.0, 1.0, 0.0, 0.0
        )
        k = _order_block(cfg, ist, ring, zones, bar, t, 1.0, ev, k)
    if ist[L.I_HAS_LOW] and not ist[L.I_BTM_CROSSED] and c < fst[L.F_LAST_LOW]:
        typ = L.T_CHOCH if ist[L.I_TREND] == 1 else L.T_BOS
        ist[L.I_BTM_CROSSED] = 1
        ist[L.I_TREND] = -1
        k = emit(ev, k, bar, t, typ, fst[L.F_LAST_LOW_TIME], fst[L.F_LAST_LOW], 0.0, -1.0, 0.0, 0.0)
        k = _order_block(cfg, ist, ring, zones, bar, t, -1.0, ev, k)
    return k


@njit(cache=True, inline="always")
def _zones(
    cfg: I64, zones: F64, bar: int, t: float, h: float, lo: float, c: float, ev: F64, k: int
) -> int:
    """Advance every active zone by the candle: mitigated (an FVG filled to its far edge, an
    order block closed through it), else expired, else touched once (price entered it).

    Rows are read by index in one loop, on purpose: a row view per zone and candle handed to
    a helper made this loop three quarters of the whole step's time."""
    fvg_exp = cfg[CFG_FVG_EXPIRY]
    ob_exp = cfg[CFG_OB_EXPIRY]
    for r in range(zones.shape[0]):
        if zones[r, L.Z_ACTIVE] == 0.0:
            continue
        d = zones[r, L.Z_DIR]
        top = zones[r, L.Z_TOP]
        btm = zones[r, L.Z_BOTTOM]
        is_fvg = zones[r, L.Z_KIND] == L.KIND_FVG
        if d > 0:
            if is_fvg:
                done = lo <= btm
                entered = lo < top
            else:
                done = c < btm
                entered = lo <= top
        else:
            if is_fvg:
                done = h >= top
                entered = h > btm
            else:
                done = c > top
                entered = h >= btm
        typ = 0
        if done:
            typ = L.T_ZONE_MITIGATED
        elif bar - zones[r, L.Z_KNOWN_BAR] >= (fvg_exp if is_fvg else ob_exp):
            typ = L.T_ZONE_EXPIRED
        elif entered and zones[r, L.Z_TOUCHED] == 0.0:
            zones[r, L.Z_TOUCHED] = 1.0
            typ = L.T_ZONE_TOUCH
        if typ != 0:
            k = _zone_event(ev, k, bar, t, typ, zones[r])
            if typ != L.T_ZONE_TOUCH:
                zones[r, L.Z_ACTIVE] = 0.0
    return k


@njit(cache=True, inline="always")
def _fvg(ist: I64, ring: F64, zones: F64, size: int, bar: int, t: float, ev: F64, k: int) -> int:
    if bar < 2:
        return k
    a = ring[(bar - 2) % size]
    mid = ring[(bar - 1) % size]
    cur = ring[bar % size]
    if a[L.R_HIGH] < cur[L.R_LOW]:
        row, k = _add_zone(
            ist, zones, L.KIND_FVG, 1.0, cur[L.R_LOW], a[L.R_HIGH], mid[L.R_TIME], bar, t, ev, k
        )
        k = _zone_event(ev, k, bar, t, L.T_ZONE_NEW, zones[row])
    elif a[L.R_LOW] > cur[L.R_HIGH]:
        row, k = _add_zone(
            ist, zones, L.KIND_FVG, -1.0, a[L.R_LOW], cur[L.R_HIGH], mid[L.R_TIME], bar, t, ev, k
        )
        k = _zone_event(ev, k, bar, t, L.T_ZONE_NEW, zones[row])
    return k


@njit(cache=True, inline="always")
def smc_step(
    cfg: I64,
    ist: I64,
    fst: F64,
    ring: F64,
    zones: F64,
    t: float,
    o: float,
    h: float,
    lo: float,
    c: float,
    v: float,
    ev: F64,
    k: int,
) -> int:
    """Consume one closed candle; append its events to ``ev`` from row ``k``; return the new
    row count. ``ev`` needs ``MAX_EVENTS_FIXED + 2 * zones.shape[0]`` free rows."""
    size = cfg[CFG_RING]
    bar = ist[L.I_N]
    r = ring[bar % size]
    r[L.R_TIME] = t
    r[L.R_OPEN] = o
    r[L.R_HIGH] = h
    r[L.R_LOW] = lo
    r[L.R_CLOSE] = c
    r[L.R_VOLUME] = v
    k = _zones(cfg, zones, bar, t, h, lo, c, ev, k)
    if cfg[L.CFG_METHOD] == L.METHOD_ZIGZAG:
        k = zigzag_swings(cfg, ist, fst, bar, t, h, lo, c, ev, k)
    else:
        k = pivot_swings(cfg, ist, fst, ring, bar, t, ev, k)
    k = _structure(cfg, ist, fst, ring, zones, bar, t, c, ev, k)
    k = _fvg(ist, ring, zones, size, bar, t, ev, k)
    ist[L.I_N] = bar + 1
    ist[L.I_LAST_TIME] = np.int64(t)
    return k


@njit(cache=True)
def smc_run(
    cfg: I64,
    ist: I64,
    fst: F64,
    ring: F64,
    zones: F64,
    t: I64,
    o: F64,
    h: F64,
    lo: F64,
    c: F64,
    v: F64,
    start: int,
    ev: F64,
    k: int,
) -> tuple[int, int]:
    """Batch: loop :func:`smc_step` from ``start`` while ``ev`` has room; return
    ``(next_candle, event_count)``."""
    need = MAX_EVENTS_FIXED + 2 * zones.shape[0]
    i = start
    while i < t.shape[0] and ev.shape[0] - k >= need:
        k = smc_step(cfg, ist, fst, ring, zones, float(t[i]), o[i], h[i], lo[i], c[i], v[i], ev, k)
        i += 1
    return i, k
