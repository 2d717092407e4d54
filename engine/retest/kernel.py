"""Retest step function (numba): consumes the SMC event rows of one candle plus that candle's
prices and indicators, and tells whether a retest setup confirmed on it.

After a BOS (not a CHOCH) the setup waits ``wait_bars`` candles for price to come within
``tol_atr`` × ATR of the band the BOS left: the order block created by that break and the
latest same-side FVG formed since the broken swing's pivot. Once price has entered, a candle
confirms with a close in the trade direction or a micro-BOS on the sub-timeframe, together
with a MACD-histogram uptick and an RSI bounce inside ``[rsi_lo, rsi_hi]`` (mirrored around 50
for shorts). A close beyond the band (by the tolerance) cancels the setup.

The per-candle path reads state rows by index rather than through row views, and its
helpers are inlined into the step (``inline="always"``; numba compiles each function on
its own, so a helper was a real call with every array argument unpacked): the same
outputs in a fraction of the time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.smc import layout as L

F64 = npt.NDArray[np.float64]

# Config vector (float64).
C_WAIT = 0
C_TOL_ATR = 1
C_SL_ATR = 2
C_RSI_LO = 3
C_RSI_HI = 4
C_REQUIRE_MOMENTUM = 5
C_SIZE = 6

# Scalar state.
S_PREV_RSI = 0
S_PREV_HIST = 1
S_BAR = 2
S_SIZE = 3

# Zone mirror rows.
Z_ACTIVE = 0
Z_ID = 1
Z_KIND = 2
Z_DIR = 3
Z_TOP = 4
Z_BOTTOM = 5
Z_START = 6
Z_BAR = 7
Z_COLS = 8

# Setup rows: row 0 long, row 1 short.
U_ACTIVE = 0
U_BOS_BAR = 1
U_BOS_TIME = 2
U_OB_TOP = 3
U_OB_BOTTOM = 4
U_FVG_TOP = 5
U_FVG_BOTTOM = 6
U_ENTERED = 7  # bitmask: 1 = OB band entered, 2 = FVG band entered
U_COLS = 8

# Output row.
O_DIR = 0
O_ENTRY = 1
O_SL = 2
O_SCORE = 3
O_FEATURES = 4
O_TOP = 5
O_BOTTOM = 6
O_BOS_TIME = 7
O_COLS = 8

F_ZONE_OB = 1
F_ZONE_FVG = 2
F_CLOSE = 4
F_MICRO = 8
F_MACD = 16
F_RSI = 32
FEATURE_BITS = (
    ("zone_ob", F_ZONE_OB, 0.20),
    ("zone_fvg", F_ZONE_FVG, 0.10),
    ("close_confirm", F_CLOSE, 0.20),
    ("micro_bos", F_MICRO, 0.15),
    ("macd_uptick", F_MACD, 0.15),
    ("rsi_bounce", F_RSI, 0.20),
)


@njit(cache=True, inline="always")
def _mirror_zones(zones: F64, ev: F64, k0: int, k1: int) -> None:
    for e in range(k0, k1):
        typ = ev[e, L.EV_TYPE]
        if typ == L.T_ZONE_NEW:
            slot = 0
            for r in range(zones.shape[0]):
                if zones[r, Z_ACTIVE] == 0.0:
                    slot = r
                    break
                if zones[r, Z_ID] < zones[slot, Z_ID]:
                    slot = r
            zones[slot, Z_ACTIVE] = 1.0
            zones[slot, Z_ID] = ev[e, L.EV_ZONE]
            zones[slot, Z_KIND] = ev[e, L.EV_KIND]
            zones[slot, Z_DIR] = ev[e, L.EV_DIR]
            zones[slot, Z_TOP] = ev[e, L.EV_A]
            zones[slot, Z_BOTTOM] = ev[e, L.EV_B]
            zones[slot, Z_START] = ev[e, L.EV_REF_TIME]
            zones[slot, Z_BAR] = ev[e, L.EV_BAR]
        elif typ == L.T_ZONE_MITIGATED or typ == L.T_ZONE_EXPIRED:
            for r in range(zones.shape[0]):
                if zones[r, Z_ACTIVE] != 0.0 and zones[r, Z_ID] == ev[e, L.EV_ZONE]:
                    zones[r, Z_ACTIVE] = 0.0


@njit(cache=True, inline="always")
def _open_setup(zones: F64, setups: F64, row: F64) -> None:
    d = row[L.EV_DIR]
    u = setups[0 if d > 0 else 1]
    u[:] = np.nan
    u[U_ACTIVE] = 1.0
    u[U_BOS_BAR] = row[L.EV_BAR]
    u[U_BOS_TIME] = row[L.EV_TIME]
    u[U_ENTERED] = 0.0
    best_fvg = -1.0
    for r in range(zones.shape[0]):
        z = zones[r]
        if z[Z_ACTIVE] == 0.0 or z[Z_DIR] != d:
            continue
        if z[Z_KIND] == L.KIND_OB and z[Z_BAR] == row[L.EV_BAR]:
            u[U_OB_TOP] = z[Z_TOP]
            u[U_OB_BOTTOM] = z[Z_BOTTOM]
        elif z[Z_KIND] == L.KIND_FVG and z[Z_START] >= row[L.EV_REF_TIME] and z[Z_ID] > best_fvg:
            best_fvg = z[Z_ID]
            u[U_FVG_TOP] = z[Z_TOP]
            u[U_FVG_BOTTOM] = z[Z_BOTTOM]
    if np.isnan(u[U_OB_TOP]) and best_fvg < 0:
        u[U_ACTIVE] = 0.0


@njit(cache=True, inline="always")
def _touches(d: float, h: float, lo: float, top: float, bottom: float, tol: float) -> bool:
    if np.isnan(top):
        return False
    if d > 0:
        return lo <= top + tol and h >= bottom - tol
    return h >= bottom - tol and lo <= top + tol


@njit(cache=True, inline="always")
def _far_edge(u: F64, side: int, d: float) -> float:
    """The band edge a stop goes beyond: lowest bottom for longs, highest top for shorts."""
    if d > 0:
        return float(np.fmin(u[side, U_OB_BOTTOM], u[side, U_FVG_BOTTOM]))
    return float(np.fmax(u[side, U_OB_TOP], u[side, U_FVG_TOP]))


@njit(cache=True, inline="always")
def _momentum(cfg: F64, st: F64, d: float, rsi: float, hist: float) -> int:
    bits = 0
    prev_h = st[S_PREV_HIST]
    prev_r = st[S_PREV_RSI]
    if (hist > prev_h) if d > 0 else (hist < prev_h):
        bits |= F_MACD
    lo, hi = (cfg[C_RSI_LO], cfg[C_RSI_HI]) if d > 0 else (100 - cfg[C_RSI_HI], 100 - cfg[C_RSI_LO])
    if lo <= prev_r <= hi and ((rsi > prev_r) if d > 0 else (rsi < prev_r)):
        bits |= F_RSI
    return bits


@njit(cache=True, inline="always")
def _score(bits: int) -> float:
    s = 0.0
    if bits & F_ZONE_OB:
        s += 0.20
    if bits & F_ZONE_FVG:
        s += 0.10
    if bits & F_CLOSE:
        s += 0.20
    if bits & F_MICRO:
        s += 0.15
    if bits & F_MACD:
        s += 0.15
    if bits & F_RSI:
        s += 0.20
    return min(s, 1.0)


@njit(cache=True, inline="always")
def _confirmation(
    cfg: F64,
    st: F64,
    d: float,
    o: float,
    c: float,
    entered: int,
    micro: bool,
    rsi: float,
    hist: float,
) -> int:
    """Feature bits of a candle inside the band: zones entered, close, micro-BOS, momentum."""
    bits = entered
    if (c > o) if d > 0 else (c < o):
        bits |= F_CLOSE
    if micro:
        bits |= F_MICRO
    return bits | _momentum(cfg, st, d, rsi, hist)


@njit(cache=True, inline="always")
def _advance(
    cfg: F64,
    st: F64,
    u: F64,
    side: int,
    bar: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    atr: float,
    rsi: float,
    hist: float,
    micro: bool,
    out: F64,
) -> None:
    """Move the open setup ``u[side]`` forward by the candle (open, high, low, close)."""
    d = 1.0 if side == 0 else -1.0
    if bar - u[side, U_BOS_BAR] > cfg[C_WAIT]:
        u[side, U_ACTIVE] = 0.0
        return
    if not atr > 0.0:
        return
    tol = cfg[C_TOL_ATR] * atr
    far = _far_edge(u, side, d)
    if (c < far - tol) if d > 0 else (c > far + tol):
        u[side, U_ACTIVE] = 0.0
        return
    entered = int(u[side, U_ENTERED])
    if _touches(d, h, lo, u[side, U_OB_TOP], u[side, U_OB_BOTTOM], tol):
        entered |= F_ZONE_OB
    if _touches(d, h, lo, u[side, U_FVG_TOP], u[side, U_FVG_BOTTOM], tol):
        entered |= F_ZONE_FVG
    u[side, U_ENTERED] = entered
    if entered == 0:
        return
    bits = _confirmation(cfg, st, d, o, c, entered, micro, rsi, hist)
    confirmed = (bits & (F_CLOSE | F_MICRO)) != 0
    if cfg[C_REQUIRE_MOMENTUM] != 0.0:
        confirmed = confirmed and (bits & F_MACD) != 0 and (bits & F_RSI) != 0
    sl = far - cfg[C_SL_ATR] * atr if d > 0 else far + cfg[C_SL_ATR] * atr
    if not confirmed or ((sl >= c) if d > 0 else (sl <= c)):
        return
    u[side, U_ACTIVE] = 0.0
    out[O_DIR] = d
    out[O_ENTRY] = c
    out[O_SL] = sl
    out[O_SCORE] = _score(bits)
    out[O_FEATURES] = bits
    out[O_TOP] = np.fmax(u[side, U_OB_TOP], u[side, U_FVG_TOP])
    out[O_BOTTOM] = np.fmin(u[side, U_OB_BOTTOM], u[side, U_FVG_BOTTOM])
    out[O_BOS_TIME] = u[side, U_BOS_TIME]


@njit(cache=True, inline="always")
def retest_step(
    cfg: F64,
    st: F64,
    zones: F64,
    setups: F64,
    ev: F64,
    k0: int,
    k1: int,
    px: F64,
    atr: float,
    rsi: float,
    hist: float,
    micro_up: bool,
    micro_dn: bool,
    out: F64,
) -> None:
    """Advance the retest stage by one candle; ``out`` gets the signal (O_DIR 0 = none).

    ``ev[k0:k1]`` are the SMC event rows of this candle, ``px`` its (open, high, low, close)."""
    bar = int(st[S_BAR])
    for j in range(out.shape[0]):
        out[j] = np.nan
    out[O_DIR] = 0.0
    o, h, lo, c = px[0], px[1], px[2], px[3]
    for side in range(2):
        if setups[side, U_ACTIVE] != 0.0 and out[O_DIR] == 0.0:
            micro = micro_up if side == 0 else micro_dn
            _advance(cfg, st, setups, side, bar, o, h, lo, c, atr, rsi, hist, micro, out)
    _mirror_zones(zones, ev, k0, k1)
    for e in range(k0, k1):
        if ev[e, L.EV_TYPE] == L.T_BOS:
            _open_setup(zones, setups, ev[e])
    st[S_PREV_RSI] = rsi
    st[S_PREV_HIST] = hist
    st[S_BAR] = bar + 1


@njit(cache=True)
def retest_run(
    cfg: F64,
    st: F64,
    zones: F64,
    setups: F64,
    ev: F64,
    bars: F64,
    o: F64,
    h: F64,
    lo: F64,
    c: F64,
    atr: F64,
    rsi: F64,
    hist: F64,
    micro_up: npt.NDArray[np.bool_],
    micro_dn: npt.NDArray[np.bool_],
    out: F64,
) -> None:
    """Batch: the same step over every candle; ``bars`` is the EV_BAR column of ``ev`` (sorted),
    offset so that 0 is the first candle of this run."""
    n = c.shape[0]
    px = np.empty(4)
    k0 = 0
    for i in range(n):
        k1 = k0
        while k1 < bars.shape[0] and bars[k1] == i:
            k1 += 1
        px[0], px[1], px[2], px[3] = o[i], h[i], lo[i], c[i]
        retest_step(
            cfg,
            st,
            zones,
            setups,
            ev,
            k0,
            k1,
            px,
            atr[i],
            rsi[i],
            hist[i],
            micro_up[i],
            micro_dn[i],
            out[i],
        )
        k0 = k1
