"""Numba step functions for every indicator, over one explicit float64 state vector.

``step`` consumes one closed candle: it validates the candle, advances every indicator and
writes the outputs into column ``j`` of ``out`` (shape ``(N_OUT, m)``). ``run`` loops the
same ``step`` over arrays, so live and batch results are equal bit for bit.

The arithmetic follows TA-Lib's C code operation by operation (seeds, the order of sums,
Wilder's multiply-add-divide, the running sums of SMA/variance in BBANDS) so that our values
agree with TA-Lib to the last few ulps. TA-Lib 0.6+ tests exact zero (no epsilon) before
dividing, and so do we.

State layout: fixed slots ``S_*`` then three ring buffers (Bollinger closes, VWMA prices,
VWMA volumes) whose sizes come from the periods in ``cfg``.
cfg = (ema1, ema2, ema3, rsi, macd_fast, macd_slow, macd_signal, atr, bb, vwma, adx, groups).
"""

from __future__ import annotations

import math

import numba
import numpy as np

# fixed state slots
S_COUNT, S_LAST_T, S_PREV_H, S_PREV_L, S_PREV_C = 0, 1, 2, 3, 4
S_EMA = 5  # three slots
S_RSI_GAIN, S_RSI_LOSS = 8, 9
S_MACD_FAST, S_MACD_SLOW, S_MACD_SIGNAL = 10, 11, 12
S_ATR = 13
S_BB_SUM, S_BB_SUM2 = 14, 15
S_VWAP_DAY, S_VWAP_PV, S_VWAP_V = 16, 17, 18
S_ADX_PDM, S_ADX_MDM, S_ADX_TR, S_ADX_SUMDX, S_ADX = 19, 20, 21, 22, 23
S_BB_POS, S_VWMA_POS, S_VWMA_PV, S_VWMA_V = 24, 25, 26, 27
N_FIXED = 28

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

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


def state_size(cfg: tuple[int, ...]) -> int:
    """Length of the state vector for periods ``cfg``."""
    return N_FIXED + cfg[8] + 2 * cfg[9]


def new_state(cfg: tuple[int, ...]) -> np.ndarray:  # type: ignore[type-arg]
    """A fresh state vector: no candle seen yet."""
    s = np.zeros(state_size(cfg), dtype=np.float64)
    s[S_LAST_T] = -np.inf
    s[S_VWAP_DAY] = -1.0
    return s


@_jit
def _check(s, t, o, h, lo, c, v):  # type: ignore[no-untyped-def]
    if not t > s[S_LAST_T]:
        return ERR_TIME
    if not (lo > 0.0 and h < np.inf and o > 0.0 and c > 0.0):
        return ERR_PRICE
    if not (lo <= h and lo <= o <= h and lo <= c <= h):
        return ERR_RANGE
    if v < 0.0 or v == np.inf:
        return ERR_VOLUME
    return OK


@_jit
def _ema(s, slot, n, j, x):  # type: ignore[no-untyped-def]
    """EMA value at index ``j`` of its own input series: SMA seed at n-1, then alpha."""
    if j < n - 1:
        s[slot] += x
        return NAN
    if j == n - 1:
        s[slot] = (s[slot] + x) / n
    else:
        prev = s[slot]
        s[slot] = ((x - prev) * (2.0 / (n + 1))) + prev
    return s[slot]


@_jit
def _rsi(s, n, k, c):  # type: ignore[no-untyped-def]
    if k == 0:
        return NAN
    d = c - s[S_PREV_C]
    gain, loss = s[S_RSI_GAIN], s[S_RSI_LOSS]
    if k > n:
        loss *= n - 1
        gain *= n - 1
    if d < 0.0:
        loss -= d
    else:
        gain += d
    if k >= n:
        # TA-Lib 0.6 multiplies by 1/n here (not a division): bit-exact with it
        inv = 1.0 / n
        loss *= inv
        gain *= inv
    s[S_RSI_GAIN], s[S_RSI_LOSS] = gain, loss
    if k < n:
        return NAN
    total = gain + loss
    return 100.0 * (gain / total) if total > 0.0 else 0.0


@_jit
def _macd(s, mf, ms, msig, k, c, out, j):  # type: ignore[no-untyped-def]
    # TA-Lib seeds the fast EMA on the window that ends where the slow seed ends.
    kf = k - (ms - mf)
    fast = _ema(s, S_MACD_FAST, mf, kf, c) if kf >= 0 else NAN
    slow = _ema(s, S_MACD_SLOW, ms, k, c)
    km = k - (ms - 1)
    if km < 0:
        line = signal = NAN
    else:
        line = fast - slow
        signal = _ema(s, S_MACD_SIGNAL, msig, km, line)
        if km < msig - 1:
            line = NAN
    out[O_MACD, j] = line
    out[O_MACD_SIGNAL, j] = signal
    out[O_MACD_HIST, j] = line - signal


@_jit
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


@_jit
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


@_jit
def _advance(s, slot, n):  # type: ignore[no-untyped-def]
    """Ring position for this candle; the next one wraps at n (no integer division)."""
    pos = np.int64(s[slot])
    s[slot] = 0.0 if pos + 1 == n else pos + 1.0
    return pos


@_jit
def _bollinger(s, n, width, k, c, out, j):  # type: ignore[no-untyped-def]
    ring = N_FIXED
    pos = _advance(s, S_BB_POS, n)
    s[ring + pos] = c
    s[S_BB_SUM] += c
    s[S_BB_SUM2] += c * c
    if k < n - 1:
        out[O_BB_UPPER, j] = out[O_BB_MIDDLE, j] = out[O_BB_LOWER, j] = NAN
        out[O_BB_WIDTH, j] = NAN
        return
    total = s[S_BB_SUM]
    mean2 = s[S_BB_SUM2] / n
    trailing = s[ring + (0 if pos + 1 == n else pos + 1)]  # the close n-1 candles ago
    s[S_BB_SUM] -= trailing
    s[S_BB_SUM2] -= trailing * trailing
    middle = total / n
    var = mean2 - middle * middle
    dev = math.sqrt(var) * width if var > 0.0 else 0.0
    upper = middle + dev
    lower = middle - dev
    out[O_BB_UPPER, j] = upper
    out[O_BB_MIDDLE, j] = middle
    out[O_BB_LOWER, j] = lower
    out[O_BB_WIDTH, j] = (upper - lower) / middle


@_jit
def _vwap(s, t, h, lo, c, v):  # type: ignore[no-untyped-def]
    day = float(t // DAY_MS)
    if day != s[S_VWAP_DAY]:
        s[S_VWAP_DAY] = day
        s[S_VWAP_PV] = 0.0
        s[S_VWAP_V] = 0.0
    s[S_VWAP_PV] += ((h + lo + c) / 3.0) * v
    s[S_VWAP_V] += v
    return s[S_VWAP_PV] / s[S_VWAP_V]


@_jit
def _vwma(s, bb, n, k, c, v):  # type: ignore[no-untyped-def]
    prices = N_FIXED + bb
    vols = prices + n
    pos = _advance(s, S_VWMA_POS, n)
    old_p, old_v = s[prices + pos], s[vols + pos]
    s[prices + pos] = c
    s[vols + pos] = v
    if k < n:
        s[S_VWMA_PV] += c * v
        s[S_VWMA_V] += v
        return NAN if k < n - 1 else s[S_VWMA_PV] / s[S_VWMA_V]
    if pos == n - 1:
        # running sums drift; re-add the whole window once per lap (zero volume stays 0)
        pv = 0.0
        vv = 0.0
        for i in range(n):
            pv += s[prices + i] * s[vols + i]
            vv += s[vols + i]
        s[S_VWMA_PV], s[S_VWMA_V] = pv, vv
    else:
        s[S_VWMA_PV] += c * v - old_p * old_v
        s[S_VWMA_V] += v - old_v
    return s[S_VWMA_PV] / s[S_VWMA_V]


@_jit
def _adx(s, n, k, h, lo, tr, out, j):  # type: ignore[no-untyped-def]
    out[O_ADX, j] = out[O_PLUS_DI, j] = out[O_MINUS_DI, j] = NAN
    if k == 0:
        return
    dp = h - s[S_PREV_H]
    dm = s[S_PREV_L] - lo
    pdm, mdm = s[S_ADX_PDM], s[S_ADX_MDM]
    if k < n:
        if dm > 0.0 and dp < dm:
            mdm += dm
        elif dp > 0.0 and dp > dm:
            pdm += dp
        s[S_ADX_PDM], s[S_ADX_MDM] = pdm, mdm
        s[S_ADX_TR] += tr
        return
    mdm -= mdm / n
    pdm -= pdm / n
    if dm > 0.0 and dp < dm:
        mdm += dm
    elif dp > 0.0 and dp > dm:
        pdm += dp
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


@_jit
def step(s, cfg, bb_k, t, o, h, lo, c, v, out, j):  # type: ignore[no-untyped-def]
    """Consume one candle; write outputs to ``out[:, j]``. Returns OK or an ERR_* code, in
    which case neither ``s`` nor ``out`` was touched."""
    code = _check(s, t, o, h, lo, c, v)
    if code != OK:
        return code
    k = np.int64(s[S_COUNT])
    groups = cfg[11]
    if groups & G_EMA:
        for e in range(3):
            out[O_EMA + e, j] = _ema(s, S_EMA + e, cfg[e], k, c)
    if groups & G_RSI:
        out[O_RSI, j] = _rsi(s, cfg[3], k, c)
    if groups & G_MACD:
        _macd(s, cfg[4], cfg[5], cfg[6], k, c, out, j)
    tr = _true_range(s, k, h, lo)
    if groups & G_ATR:
        out[O_ATR, j] = _atr(s, cfg[7], k, tr)
    if groups & G_BB:
        _bollinger(s, cfg[8], bb_k, k, c, out, j)
    if groups & G_VWAP:
        out[O_VWAP, j] = _vwap(s, t, h, lo, c, v)
    if groups & G_VWMA:
        out[O_VWMA, j] = _vwma(s, cfg[8], cfg[9], k, c, v)
    if groups & G_ADX:
        _adx(s, cfg[10], k, h, lo, tr, out, j)
    s[S_PREV_H] = h
    s[S_PREV_L] = lo
    s[S_PREV_C] = c
    s[S_LAST_T] = t
    s[S_COUNT] = k + 1
    return OK


@_jit
def run(s, cfg, bb_k, t, o, h, lo, c, v, out):  # type: ignore[no-untyped-def]
    """Loop ``step`` over arrays. Returns -1, or ``row * 8 + code`` for the first bad row
    (rows before it have been consumed)."""
    for i in range(t.shape[0]):
        code = step(s, cfg, bb_k, t[i], o[i], h[i], lo[i], c[i], v[i], out, i)
        if code != OK:
            return i * 8 + code
    return -1
