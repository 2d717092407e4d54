"""Candle interval detection and upward resampling (e.g. 5m → 15m; never downward)."""

from __future__ import annotations

import numpy as np

from greenlight.core.candlefile import CandleArrays


def file_interval_ms(arr: CandleArrays) -> int:
    """The candle interval of a file: the most common gap between open times."""
    if len(arr) < 2:
        raise ValueError("a candle file needs at least two rows to tell its interval")
    gaps, counts = np.unique(np.diff(arr.open_time), return_counts=True)
    return int(gaps[int(np.argmax(counts))])


def resample(arr: CandleArrays, tf_ms: int) -> CandleArrays:
    """Aggregate ``arr`` into ``tf_ms`` candles aligned to the epoch.

    Only upward: raises :class:`ValueError` when the file's interval is coarser than
    ``tf_ms`` or does not divide it. Incomplete leading/trailing buckets are dropped.
    """
    src = file_interval_ms(arr)
    if src == tf_ms:
        return arr
    if src > tf_ms or tf_ms % src:
        raise ValueError(
            f"cannot replay {src // 60_000}m candles at {tf_ms // 60_000}m: "
            "resampling goes upward to a multiple of the file's interval only"
        )
    per = tf_ms // src
    bucket = arr.open_time // tf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    sizes = np.diff(np.r_[starts, len(arr)])
    full = starts[sizes == per]
    if len(full) == 0:
        raise ValueError(f"no complete {tf_ms // 60_000}m bucket in the file")
    idx = full[:, None] + np.arange(per)[None, :]
    volume = arr.volume[idx].sum(axis=1)
    return CandleArrays(
        (bucket[full] * tf_ms).astype(np.int64),
        arr.open[full].copy(),
        arr.high[idx].max(axis=1),
        arr.low[idx].min(axis=1),
        arr.close[full + per - 1].copy(),
        volume,
        arr.has_volume,
    )
