"""Micro-BOS confirmation from a sub-timeframe stream (e.g. 1m or 5m under 15m).

A structure break (BOS or CHOCH) found by the causal SMC engine on the sub-timeframe counts
for the parent candle whose span contains the sub-candle; the sub-candle closes no later
than the parent candle, so the flag is known when the parent candle closes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.smc import layout as L
from engine.smc.engine import SmcParams, run_smc_batch
from greenlight.core.candlefile import CandleArrays

B1 = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]


def micro_bos_flags(
    parent_open_time: I64, tf_ms: int, sub: CandleArrays, params: SmcParams
) -> tuple[B1, B1]:
    """Per parent candle: was there an upward / downward micro structure break inside it?"""
    if (
        len(sub)
        and len(parent_open_time)
        and tf_ms <= int(np.min(np.diff(sub.open_time), initial=tf_ms + 1))
    ):
        raise ValueError("sub-timeframe candles must be finer than the parent timeframe")
    events, _ = run_smc_batch(sub, params)
    n = parent_open_time.shape[0]
    up = np.zeros(n, np.bool_)
    dn = np.zeros(n, np.bool_)
    is_break = (events[:, L.EV_TYPE] == L.T_BOS) | (events[:, L.EV_TYPE] == L.T_CHOCH)
    brk = events[is_break]
    times = brk[:, L.EV_TIME].astype(np.int64)
    idx = np.searchsorted(parent_open_time, times, side="right") - 1
    ok = (idx >= 0) & (times < parent_open_time[np.clip(idx, 0, None)] + tf_ms)
    up[idx[ok & (brk[:, L.EV_DIR] > 0)]] = True
    dn[idx[ok & (brk[:, L.EV_DIR] < 0)]] = True
    return up, dn
