"""Numba step functions for every indicator, over explicit state vectors.

``step`` consumes one closed candle: it validates the candle, advances every indicator and
writes the outputs into column ``j`` of ``out`` (shape ``(N_OUT, m)``). ``run`` loops the
same ``step`` over arrays, so live and batch results are equal bit for bit.

The arithmetic follows TA-Lib's C code operation by operation (seeds, the order of sums,
Wilder's multiply-add-divide, the running sum of the SMA), so EMA, RSI, ADX, +DI, -DI and
the Bollinger middle band equal TA-Lib 0.6 to the bit and ATR/MACD to a few ulps. TA-Lib
0.6 tests exact zero (no epsilon) before dividing, and so do we. The Bollinger standard
deviation is our own: sums of deviations from a shift, rebuilt once per window lap, which is
more accurate than TA-Lib's (1e-13 vs 3e-11 relative on BTC prices).

State: ``si`` (int64: counters, ring positions, times) and ``s`` (float64: fixed slots
``S_*`` then three ring buffers - Bollinger closes, VWMA prices, VWMA volumes - whose sizes
come from the periods in ``cfg``).
cfg = (ema1, ema2, ema3, rsi, macd_fast, macd_slow, macd_signal, atr, bb, vwma, adx, groups),
fcfg = (bb_k, six EMA alphas 2/(n+1), 1/rsi, 1/bb)
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

# int state slots
I_COUNT, I_LAST_T, I_VWAP_DAY, I_BB_POS, I_VWMA_POS = 0, 1, 2, 3, 4
N_INT = 5

# float state slots
S_PREV_H, S_PREV_L, S_PREV_C = 0, 1, 2
S_EMA = 3  # three slots
S_RSI_GAIN, S_RSI_LOSS = 6, 7
S_MACD_FAST, S_MACD_SLOW, S_MACD_SIGNAL = 8, 9, 10
S_ATR = 11
S_BB_SUM, S_BB_SHIFT, S_BB_SX, S_BB_SXX = 12, 13, 14, 15
S_VWAP_PV, S_VWAP_V = 16, 17
S_VWMA_PV, S_VWMA_V = 18, 19
S_ADX_PDM, S_ADX_MDM, S_ADX_TR, S_ADX_SUMDX, S_ADX = 20, 21, 22, 23, 24
N_FIXED = 25

# float config (see FeatureParams.fconfig): precomputed so the loop does not divide
F_BB_K, F_ALPHA, F_RSI_INV, F_BB_INV = 0, 1, 7, 8  # F_ALPHA: ema1-3, macd fast/slow/signal

# output rows
O_EMA, O_RSI, O_MACD, O_MACD_SIGNAL, O_MACD_HIST, O_ATR = 0, 3, 4, 5, 6, 7
O_BB_UPPER, O_BB_MIDDLE, O_BB_LOWER, O_BB_WIDTH = 8, 9, 10, 11
O_VWAP, O_VWMA, O_ADX, O_PLUS_DI, O_MINUS_DI = 12, 13, 14, 15, 16
N_OUT = 17

# indicator groups (cfg[11] is a bit mask of them; the engine always enables all)
G_EMA, G_RSI, G_MACD, G_ATR, G_BB, G_VWAP, G_VWMA, G_ADX = 1, 2, 4, 8, 16, 32, 64, 128
G_ALL = 255

# step return codes
OK, ERR_TIME, ERR_PRICE, ERR_RANGE, ERR_VOLUME = 0, 1, 2, 3, 4

DAY_MS = 86_400_000
NAN = np.nan

# ``_nrt=False``: the kernels never allocate, and refcounting the array arguments around
# every helper call costs more than the indicators themselves. ``forceinline`` marks the
# helpers (and step) alwaysinline for LLVM: numba would otherwise emit a real call per helper
# per candle. One entry point (``run``) keeps the cold compile to a few seconds.
_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True, "_nrt": False}
_jit = numba.njit(**_OPTIONS)
_inline = numba.njit(forceinline=True, **_OPTIONS)


def new_state(
    periods: tuple[int, ...],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Fresh ``(si, s)`` state vectors for ``periods`` (cfg order): no candle seen yet."""
    si = np.zeros(N_INT, dtype=np.int64)
    si[I_LAST_T] = np.iinfo(np.int64).min
    si[I_VWAP_DAY] = np.iinfo(np.int64).min
    s = np.zeros(N_FIXED + periods[8] + 2 * periods[9], dtype=np.float64)
    return si, s


@_inline
def _check(si, t, o, h, lo, c, v):  # type: ignore[no-untyped-def]
    if not t > si[I_LAST_T]:
        return ERR_TIME
    if not (lo > 0.0 and h < np.inf and o > 0.0 and c > 0.0):
        return ERR_PRICE
    if not (lo <= h and lo <= o <= h and lo <= c <= h):
        return ERR_RANGE
    if v < 0.0 or v == np.inf:
        return ERR_VOLUME
    return OK


@_inline
def _ema(s, slot, n, alpha, j, x):  # type: ignore[no-untyped-def]
    """EMA value at index ``j`` of its own input series: SMA seed at n-1, then alpha."""
    if j < n - 1:
        s[slot] += x
        return NAN
    if j == n - 1:
        s[slot] = (s[slot] + x) / n
    else:
        prev = s[slot]
        s[slot] = ((x - prev) * alpha) + prev
    return s[slot]


@_inline
def _rsi(s, n, inv, k, c):  # type: ignore[no-untyped-def]
    if k == 0:
        return NAN
    d = c - s[S_PREV_C]
    gain, loss = s[S_RSI_GAIN], s[S_RSI_LOSS]
    if k > n:
        loss *= n - 1
        gain *= n - 1
    # selects, not branches (the sign of d is unpredictable); adding 0.0 changes nothing
    loss += -d if d < 0.0 else 0.0
    gain += d if d >= 0.0 else 0.0
    if k >= n:
        # TA-Lib 0.6 multiplies by 1/n here (not a division): bit-exact with it
        loss *= inv
        gain *= inv
    s[S_RSI_GAIN], s[S_RSI_LOSS] = gain, loss
    if k < n:
        return NAN
    total = gain + loss
    return 100.0 * (gain / total) if total > 0.0 else 0.0


@_inline
def _macd(s, cfg, fcfg, k, c, out, j):  # type: ignore[no-untyped-def]
    mf, ms, msig = cfg[4], cfg[5], cfg[6]
    # TA-Lib seeds the fast EMA on the window that ends where the slow seed ends.
    kf = k - (ms - mf)
    fast = _ema(s, S_MACD_FAST, mf, fcfg[F_ALPHA + 3], kf, c) if kf >= 0 else NAN
    slow = _ema(s, S_MACD_SLOW, ms, fcfg[F_ALPHA + 4], k, c)
    km = k - (ms - 1)
    if km < 0:
        line = signal = NAN
    else:
        line = fast - slow
        signal = _ema(s, S_MACD_SIGNAL, msig, fcfg[F_ALPHA + 5], km, line)
        if km < msig - 1:
            line = NAN
    out[O_MACD, j] = line
    out[O_MACD_SIGNAL, j] = signal
    out[O_MACD_HIST, j] = line - signal


@_inline
def _true_range(s, k, h, lo):  # type: ignore[no-untyped-def]
    if k == 0:
        return NAN
    pc = s[S_PREV_C]
    tr = h - lo
    t2 = abs(h - pc)
    if t2 > tr:
        tr = t2
    t3 = abs(lo - pc)
    if t3 > tr:
        tr = t3
    return tr


@_inline
def _atr(s, n, k, tr):  # type: ignore[no-untyped-def]
    if k == 0:
        return NAN
    if k < n:
        s[S_ATR] += tr
        return NAN
    if k == n:
        s[S_ATR] = (s[S_ATR] + tr) / n
    else:
        s[S_ATR] = ((s[S_ATR] * (n - 1)) + tr) / n
    return s[S_ATR]


@_inline
def _advance(si, slot, n):  # type: ignore[no-untyped-def]
    """Ring position for this candle; the next one wraps at n (no integer division)."""
    pos = si[slot]
    si[slot] = 0 if pos + 1 == n else pos + 1
    return pos


@_inline
def _shifted_sums(s, ring, n, shift):  # type: ignore[no-untyped-def]
    sx = 0.0
    sxx = 0.0
    for i in range(n):
        d = s[ring + i] - shift
        sx += d
        sxx += d * d
    return sx, sxx


@_inline
def _window_sums(s, prices, vols, n):  # type: ignore[no-untyped-def]
    pv = 0.0
    vv = 0.0
    for i in range(n):
        pv += s[prices + i] * s[vols + i]
        vv += s[vols + i]
    return pv, vv


@_inline
def _bollinger(si, s, n, inv, width, k, c, out, j):  # type: ignore[no-untyped-def]
    ring = N_FIXED
    pos = _advance(si, I_BB_POS, n)
    old = s[ring + pos]  # the close leaving the window
    s[ring + pos] = c
    s[S_BB_SUM] += c
    if k < n - 1:
        out[O_BB_UPPER, j] = out[O_BB_MIDDLE, j] = out[O_BB_LOWER, j] = NAN
        out[O_BB_WIDTH, j] = NAN
        return
    total = s[S_BB_SUM]
    s[S_BB_SUM] -= s[ring + (0 if pos + 1 == n else pos + 1)]  # the close n-1 candles ago
    middle = total / n
    # Variance from sums of (x - shift): E[x^2] - mean^2 on raw prices loses ~8 digits.
    # Once per lap of the ring the sums are rebuilt around the current mean (no drift).
    if pos == n - 1:
        shift = middle
        sx, sxx = _shifted_sums(s, ring, n, shift)
        s[S_BB_SHIFT] = shift
    else:
        shift = s[S_BB_SHIFT]
        dn, do = c - shift, old - shift
        sx = s[S_BB_SX] + (dn - do)
        sxx = s[S_BB_SXX] + (dn * dn - do * do)
    s[S_BB_SX], s[S_BB_SXX] = sx, sxx
    mean_d = sx * inv
    var = sxx * inv - mean_d * mean_d
    dev = math.sqrt(var) * width if var > 0.0 else 0.0
    upper = middle + dev
    lower = middle - dev
    out[O_BB_UPPER, j] = upper
    out[O_BB_MIDDLE, j] = middle
    out[O_BB_LOWER, j] = lower
    out[O_BB_WIDTH, j] = (upper - lower) / middle


@_inline
def _vwap(si, s, t, h, lo, c, v):  # type: ignore[no-untyped-def]
    day = t // DAY_MS
    if day != si[I_VWAP_DAY]:
        si[I_VWAP_DAY] = day
        s[S_VWAP_PV] = 0.0
        s[S_VWAP_V] = 0.0
    s[S_VWAP_PV] += ((h + lo + c) / 3.0) * v
    s[S_VWAP_V] += v
    return s[S_VWAP_PV] / s[S_VWAP_V]


@_inline
def _vwma(si, s, bb, n, k, c, v):  # type: ignore[no-untyped-def]
    prices = N_FIXED + bb
    vols = prices + n
    pos = _advance(si, I_VWMA_POS, n)
    old_p, old_v = s[prices + pos], s[vols + pos]
    s[prices + pos] = c
    s[vols + pos] = v
    if k < n:
        s[S_VWMA_PV] += c * v
        s[S_VWMA_V] += v
        return NAN if k < n - 1 else s[S_VWMA_PV] / s[S_VWMA_V]
    if pos == n - 1:
        # running sums drift; re-add the whole window once per lap (zero volume stays 0)
        s[S_VWMA_PV], s[S_VWMA_V] = _window_sums(s, prices, vols, n)
    else:
        s[S_VWMA_PV] += c * v - old_p * old_v
        s[S_VWMA_V] += v - old_v
    return s[S_VWMA_PV] / s[S_VWMA_V]


@_inline
def _adx(s, n, k, h, lo, tr, out, j):  # type: ignore[no-untyped-def]
    out[O_ADX, j] = out[O_PLUS_DI, j] = out[O_MINUS_DI, j] = NAN
    if k == 0:
        return
    dp = h - s[S_PREV_H]
    dm = s[S_PREV_L] - lo
    pdm, mdm = s[S_ADX_PDM], s[S_ADX_MDM]
    # at most one of the two directional moves counts; selects instead of branches
    minus_dm = dm if dm > 0.0 and dp < dm else 0.0
    plus_dm = dp if dp > 0.0 and dp > dm else 0.0
    if k < n:
        s[S_ADX_PDM], s[S_ADX_MDM] = pdm + plus_dm, mdm + minus_dm
        s[S_ADX_TR] += tr
        return
    mdm -= mdm / n
    pdm -= pdm / n
    mdm += minus_dm
    pdm += plus_dm
    s[S_ADX_PDM], s[S_ADX_MDM] = pdm, mdm
    tr_s = s[S_ADX_TR] - (s[S_ADX_TR] / n) + tr
    s[S_ADX_TR] = tr_s
    plus = minus = 0.0
    if tr_s != 0.0:
        minus = 100.0 * (mdm / tr_s)
        plus = 100.0 * (pdm / tr_s)
    out[O_PLUS_DI, j] = plus
    out[O_MINUS_DI, j] = minus
    has_dx = tr_s != 0.0 and (minus + plus) != 0.0
    dx = 100.0 * (abs(minus - plus) / (minus + plus)) if has_dx else 0.0
    if k < 2 * n - 1:
        if has_dx:
            s[S_ADX_SUMDX] += dx
        return
    if k == 2 * n - 1:
        if has_dx:
            s[S_ADX_SUMDX] += dx
        s[S_ADX] = s[S_ADX_SUMDX] / n
    elif has_dx:
        s[S_ADX] = ((s[S_ADX] * (n - 1)) + dx) / n
    out[O_ADX, j] = s[S_ADX]


@_inline
def _advance_all(si, s, cfg, fcfg, t, h, lo, c, v, out, j):  # type: ignore[no-untyped-def]
    k = si[I_COUNT]
    groups = cfg[11]
    if groups & G_EMA:
        for e in range(3):
            out[O_EMA + e, j] = _ema(s, S_EMA + e, cfg[e], fcfg[F_ALPHA + e], k, c)
    if groups & G_RSI:
        out[O_RSI, j] = _rsi(s, cfg[3], fcfg[F_RSI_INV], k, c)
    if groups & G_MACD:
        _macd(s, cfg, fcfg, k, c, out, j)
    tr = _true_range(s, k, h, lo)
    if groups & G_ATR:
        out[O_ATR, j] = _atr(s, cfg[7], k, tr)
    if groups & G_BB:
        _bollinger(si, s, cfg[8], fcfg[F_BB_INV], fcfg[F_BB_K], k, c, out, j)
    if groups & G_VWAP:
        out[O_VWAP, j] = _vwap(si, s, t, h, lo, c, v)
    if groups & G_VWMA:
        out[O_VWMA, j] = _vwma(si, s, cfg[8], cfg[9], k, c, v)
    if groups & G_ADX:
        _adx(s, cfg[10], k, h, lo, tr, out, j)
    s[S_PREV_H] = h
    s[S_PREV_L] = lo
    s[S_PREV_C] = c
    si[I_LAST_T] = t
    si[I_COUNT] = k + 1


@_inline
def step(si, s, cfg, fcfg, t, o, h, lo, c, v, out, j):  # type: ignore[no-untyped-def]
    """Consume one candle; write outputs to ``out[:, j]``. Returns OK or an ERR_* code, in
    which case neither the state nor ``out`` was touched."""
    code = _check(si, t, o, h, lo, c, v)
    if code == OK:
        _advance_all(si, s, cfg, fcfg, t, h, lo, c, v, out, j)
    return code


@_jit
def run(si, s, cfg, fcfg, t, o, h, lo, c, v, out):  # type: ignore[no-untyped-def]
    """Loop ``step`` over arrays. Returns -1, or ``row * 8 + code`` for the first bad row
    (rows before it have been consumed)."""
    for i in range(t.shape[0]):
        code = step(si, s, cfg, fcfg, t[i], o[i], h[i], lo[i], c[i], v[i], out, i)
        if code != OK:
            return i * 8 + code
    return -1
