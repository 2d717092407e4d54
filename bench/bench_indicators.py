"""Feature engine batch and streaming cost on the bundled 70k-candle BTCUSDT 15m file.

Batch runs are timed against TA-Lib on the same arrays in the same process, interleaved
rep by rep so both see the same machine load; TA-Lib has no VWAP/VWMA, so those use plain
numpy on the reference side. Prints JSON lines:

- ``indicators_7series_batch``: EMA x3, RSI, MACD, ATR, BBANDS + VWAP (our kernel with only
  those groups enabled) vs TA-Lib EMA x3, RSI, MACD, ATR, BBANDS + numpy VWAP;
- ``indicators_talib_only_batch``: the same without VWAP on either side (TA-Lib alone);
- ``features_all17_batch``: ``compute_batch`` (all 17 outputs) vs TA-Lib's 10 functions
  (those above plus ADX, PLUS_DI, MINUS_DI) + numpy VWAP and VWMA;
- ``features_update``: ``FeatureEngine.update`` per closed candle, in microseconds.

    .venv/bin/python bench/bench_indicators.py [--reps 30] [--stream 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the repo's packages
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import talib  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from engine.features import FeatureEngine, FeatureParams, compute_batch, kernels  # noqa: E402
from greenlight.core.candlefile import CandleArrays, read_candles  # noqa: E402

DATA = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
TALIB_SIX = kernels.G_EMA | kernels.G_RSI | kernels.G_MACD | kernels.G_ATR | kernels.G_BB
SEVEN = TALIB_SIX | kernels.G_VWAP

Arr = npt.NDArray[np.float64]


def numpy_vwap(c: CandleArrays) -> Arr:
    """Cumulative HLC3 x volume / cumulative volume, restarting at each 00:00 UTC."""
    day = c.open_time // 86_400_000
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    lengths = np.diff(np.r_[starts, len(c)])
    cum_pv = np.cumsum((c.high + c.low + c.close) / 3.0 * c.volume)
    cum_v = np.cumsum(c.volume)
    base_pv = np.repeat(np.r_[0.0, cum_pv[starts[1:] - 1]], lengths)
    base_v = np.repeat(np.r_[0.0, cum_v[starts[1:] - 1]], lengths)
    out: Arr = (cum_pv - base_pv) / (cum_v - base_v)
    return out


def talib_six(c: CandleArrays) -> None:
    """TA-Lib alone: EMA x3, RSI, MACD, ATR, BBANDS."""
    cl = c.close
    for n in (20, 50, 200):
        talib.EMA(cl, n)
    talib.RSI(cl, 14)
    talib.MACD(cl, 12, 26, 9)
    talib.ATR(c.high, c.low, cl, 14)
    talib.BBANDS(cl, 20, 2.0, 2.0)  # default matype 0: SMA


def talib_seven(c: CandleArrays) -> None:
    """The reference side of the 7-series set (TA-Lib has no VWAP: numpy)."""
    talib_six(c)
    numpy_vwap(c)


def talib_all(c: CandleArrays) -> None:
    """The reference side of all 17 outputs."""
    talib_seven(c)
    talib.ADX(c.high, c.low, c.close, 14)
    talib.PLUS_DI(c.high, c.low, c.close, 14)
    talib.MINUS_DI(c.high, c.low, c.close, 14)
    pv = sliding_window_view(c.close * c.volume, 20).sum(axis=1)
    _ = pv / sliding_window_view(c.volume, 20).sum(axis=1)


def ours_groups(c: CandleArrays, groups: int) -> Callable[[], None]:
    """Our kernel over the whole file with only some indicator groups enabled."""
    params = FeatureParams()
    cfg, fcfg = params.config(groups), params.fconfig()
    cols = (c.open_time, c.open, c.high, c.low, c.close, c.volume)

    def run() -> None:
        si, s = kernels.new_state(params.periods())
        out = np.empty((kernels.N_OUT, len(c)), dtype=np.float64)
        if kernels.run(si, s, cfg, fcfg, *cols, out) != -1:
            raise RuntimeError("bench data rejected by the kernel")

    return run


def interleaved(
    fns: dict[str, Callable[[], object]], reps: int
) -> dict[str, npt.NDArray[np.float64]]:
    """Milliseconds per call for each function, alternating them each repetition."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up: numba compile / cache load, page faults
        fn()
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: np.array(v) for name, v in times.items()}


def report(bench: str, ours: Arr, ref: Arr, n: int) -> None:
    """One JSON line: our p50/p95, the reference's, and the p50 ratio."""
    p50, p95 = np.percentile(ours, [50, 95])
    r50, r95 = np.percentile(ref, [50, 95])
    line = {
        "bench": bench,
        "candles": n,
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "talib_p50_ms": round(float(r50), 3),
        "talib_p95_ms": round(float(r95), 3),
        "ratio_vs_talib": round(float(p50 / r50), 3),
    }
    print(json.dumps(line), flush=True)


def bench_update(c: CandleArrays, count: int) -> None:
    """Per-candle cost of the live path (one kernel call + the output dict)."""
    engine = FeatureEngine()
    engine.warm_up(c.slice(0, 1_000))
    part = c.slice(1_000, 1_000 + count)
    cols = (part.open_time, part.open, part.high, part.low, part.close, part.volume)
    costs = []
    for t, o, h, lo, cl, v in zip(*(col.tolist() for col in cols), strict=True):
        t0 = time.perf_counter_ns()
        engine.update(t, o, h, lo, cl, v)
        costs.append(time.perf_counter_ns() - t0)
    p50, p95 = np.percentile(np.array(costs) / 1e3, [50, 95])
    line = {"bench": "features_update", "candles": len(costs), "p50_us": round(float(p50), 2)}
    line["p95_us"] = round(float(p95), 2)
    print(json.dumps(line), flush=True)


def main() -> None:
    """Run the benchmarks and print one JSON line each."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=30, help="timed repetitions per function")
    ap.add_argument("--stream", type=int, default=20_000, help="candles fed through update()")
    args = ap.parse_args()
    c = read_candles(DATA)
    t0 = time.perf_counter()
    compute_batch(c.slice(0, 10))
    print(json.dumps({"bench": "features_first_call_s", "s": round(time.perf_counter() - t0, 3)}))
    seven = interleaved({"ours": ours_groups(c, SEVEN), "talib": lambda: talib_seven(c)}, args.reps)
    report("indicators_7series_batch", seven["ours"], seven["talib"], len(c))
    six = interleaved({"ours": ours_groups(c, TALIB_SIX), "talib": lambda: talib_six(c)}, args.reps)
    report("indicators_talib_only_batch", six["ours"], six["talib"], len(c))
    full = interleaved({"ours": lambda: compute_batch(c), "talib": lambda: talib_all(c)}, args.reps)
    report("features_all17_batch", full["ours"], full["talib"], len(c))
    bench_update(c, min(args.stream, len(c) - 1_000))


if __name__ == "__main__":
    main()
