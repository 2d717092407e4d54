"""The product's rule as a numba step function over explicit state (see
:mod:`engine.agents.fusion` for the plugin around it).

Structure first: a CHOCH followed by a BOS in the same direction within ``setup_bars`` bars
opens a setup, keyed by the BOS. From the next bar on, for up to ``wait_bars`` bars, a candle
confirms the setup when

* the retest stage confirmed a retest of the zone that very BOS left, or
* the indicators agree: the close is on the trade's side of EMA-200 and EMA-200 slopes that
  way, the MACD histogram ticks in the trade's direction, and RSI bounces from inside
  ``[rsi_low, rsi_high]`` (mirrored around 50 for shorts).

The stop goes ``sl_atr`` ATRs beyond the latest confirmed swing on the losing side (the
structure the trade leans on); a close beyond that swing voids the setup, as does a CHOCH the
other way. Score = 0.4 (structure) + 0.3 (retest) + 0.1 per indicator confirmation, in
[0, 1]; a setup confirms only at ``min_score`` or more. Each setup yields at most one signal.

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

# Config vector.
C_SETUP_BARS = 0
C_WAIT = 1
C_MIN_SCORE = 2
C_SL_ATR = 3
C_RSI_LO = 4
C_RSI_HI = 5
C_SHORTS = 6
C_SIZE = 7

# Scalar state.
S_BAR = 0
S_PREV_RSI = 1
S_PREV_HIST = 2
S_PREV_EMA = 3
S_SWING_HIGH = 4
S_SWING_LOW = 5
S_CHOCH_BAR = 6  # 6 up, 7 down
S_CHOCH_TIME = 8  # 8 up, 9 down
S_SIZE = 10

# Setup rows: 0 long, 1 short.
U_ACTIVE = 0
U_BOS_BAR = 1
U_BOS_TIME = 2
U_CHOCH_TIME = 3
U_COLS = 4

# Inputs of one candle (a vector: fewer arguments, a cheaper call from Python).
X_CLOSE = 0
X_ATR = 1
X_RSI = 2
X_HIST = 3
X_EMA = 4
X_RETEST_DIR = 5  # the retest stage's output at this candle: direction (0: none) …
X_RETEST_BOS = 6  # … and the open time of the BOS whose zone was retested
X_SIZE = 7

# Output row.
O_DIR = 0
O_ENTRY = 1
O_SL = 2
O_SCORE = 3
O_FEATURES = 4
O_BOS_TIME = 5
O_CHOCH_TIME = 6
O_COLS = 7

F_STRUCTURE = 1
F_RETEST = 2
F_EMA = 4
F_MACD = 8
F_RSI = 16
FEATURE_BITS = (
    ("choch_bos", F_STRUCTURE, 0.4),
    ("retest", F_RETEST, 0.3),
    ("ema200_side", F_EMA, 0.1),
    ("macd_uptick", F_MACD, 0.1),
    ("rsi_bounce", F_RSI, 0.1),
)


@njit(cache=True, inline="always")
def _score(bits: int) -> float:
    s = 0.0
    if bits & F_STRUCTURE:
        s += 0.4
    if bits & F_RETEST:
        s += 0.3
    if bits & F_EMA:
        s += 0.1
    if bits & F_MACD:
        s += 0.1
    if bits & F_RSI:
        s += 0.1
    return min(round(s, 6), 1.0)


@njit(cache=True, inline="always")
def _structure(cfg: F64, st: F64, setups: F64, ev: F64, bar: int) -> None:
    """Swings, CHOCHs and BOSs of this candle: remember them, open setups."""
    for e in range(ev.shape[0]):
        typ = ev[e, L.EV_TYPE]
        up = ev[e, L.EV_DIR] > 0
        side = 0 if up else 1
        if typ == L.T_SWING:
            st[S_SWING_HIGH if up else S_SWING_LOW] = ev[e, L.EV_A]
        elif typ == L.T_CHOCH:
            st[S_CHOCH_BAR + side] = bar
            st[S_CHOCH_TIME + side] = ev[e, L.EV_TIME]
            setups[1 - side, U_ACTIVE] = 0.0  # the structure turned: the other way is void
        elif typ == L.T_BOS:
            if side == 1 and cfg[C_SHORTS] == 0.0:
                continue
            choch = st[S_CHOCH_BAR + side]
            if np.isnan(choch) or bar - choch > cfg[C_SETUP_BARS]:
                continue
            setups[side, U_ACTIVE] = 1.0
            setups[side, U_BOS_BAR] = bar
            setups[side, U_BOS_TIME] = ev[e, L.EV_TIME]
            setups[side, U_CHOCH_TIME] = st[S_CHOCH_TIME + side]


@njit(cache=True, inline="always")
def _indicators(cfg: F64, st: F64, d: float, c: float, rsi: float, hist: float, ema: float) -> int:
    """Indicator confirmation bits for direction ``d`` (NaN inputs confirm nothing)."""
    bits = 0
    prev_ema, prev_h, prev_r = st[S_PREV_EMA], st[S_PREV_HIST], st[S_PREV_RSI]
    if (c > ema and ema > prev_ema) if d > 0 else (c < ema and ema < prev_ema):
        bits |= F_EMA
    if (hist > prev_h) if d > 0 else (hist < prev_h):
        bits |= F_MACD
    if d > 0:
        lo, hi = cfg[C_RSI_LO], cfg[C_RSI_HI]
    else:
        lo, hi = 100.0 - cfg[C_RSI_HI], 100.0 - cfg[C_RSI_LO]
    if lo <= prev_r <= hi and ((rsi > prev_r) if d > 0 else (rsi < prev_r)):
        bits |= F_RSI
    return bits


@njit(cache=True, inline="always")
def fusion_step(cfg: F64, st: F64, setups: F64, ev: F64, x: F64, out: F64) -> None:
    """Advance by one candle; ``out`` gets the signal (O_DIR 0 = none). ``ev`` are the
    candle's SMC event rows, ``x`` its inputs (``X_*``: close, ATR, RSI, MACD histogram,
    EMA-200, and the retest stage's direction / BOS time, 0 / NaN when it confirmed
    nothing)."""
    close, atr, rsi, hist, ema = x[X_CLOSE], x[X_ATR], x[X_RSI], x[X_HIST], x[X_EMA]
    retest_dir, retest_bos_time = x[X_RETEST_DIR], x[X_RETEST_BOS]
    bar = int(st[S_BAR])
    for j in range(out.shape[0]):
        out[j] = np.nan
    out[O_DIR] = 0.0
    _structure(cfg, st, setups, ev, bar)
    for side in range(2):
        if setups[side, U_ACTIVE] == 0.0 or setups[side, U_BOS_BAR] == bar:
            continue
        d = 1.0 if side == 0 else -1.0
        if bar - setups[side, U_BOS_BAR] > cfg[C_WAIT]:
            setups[side, U_ACTIVE] = 0.0
            continue
        level = st[S_SWING_LOW] if d > 0 else st[S_SWING_HIGH]
        if np.isnan(level) or not atr > 0.0:
            continue
        if (close <= level) if d > 0 else (close >= level):
            setups[side, U_ACTIVE] = 0.0  # the structure the trade leans on is broken
            continue
        bits = F_STRUCTURE | _indicators(cfg, st, d, close, rsi, hist, ema)
        if retest_dir == d and retest_bos_time == setups[side, U_BOS_TIME]:
            bits |= F_RETEST
        confluence = (bits & (F_EMA | F_MACD | F_RSI)) == (F_EMA | F_MACD | F_RSI)
        score = _score(bits)
        if not ((bits & F_RETEST) or confluence) or score < cfg[C_MIN_SCORE]:
            continue
        if out[O_DIR] != 0.0:
            continue  # both ways at once: the long (checked first) wins this bar
        sl = level - cfg[C_SL_ATR] * atr if d > 0 else level + cfg[C_SL_ATR] * atr
        setups[side, U_ACTIVE] = 0.0
        out[O_DIR] = d
        out[O_ENTRY] = close
        out[O_SL] = sl
        out[O_SCORE] = score
        out[O_FEATURES] = bits
        out[O_BOS_TIME] = setups[side, U_BOS_TIME]
        out[O_CHOCH_TIME] = setups[side, U_CHOCH_TIME]
    st[S_PREV_RSI] = rsi
    st[S_PREV_HIST] = hist
    st[S_PREV_EMA] = ema
    st[S_BAR] = bar + 1


def fresh_state() -> tuple[F64, F64]:
    """Scalars and setup rows before the first candle."""
    scalars = np.full(S_SIZE, np.nan)
    scalars[S_BAR] = 0.0
    return scalars, np.zeros((2, U_COLS))
