"""Chart snapshot render time on a real 300-candle BTCUSDT 15m window with a full set of
overlays (3 EMAs, entry/stop/3 targets, 4 zones, swing labels, BOS + CHOCH), with and
without the RSI + MACD panels. Prints one JSON line per panel combination.

    .venv/bin/python bench/bench_charts.py [--n 50] [--save-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the repo's packages
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import talib  # noqa: E402

from charts import ChartRenderer, ChartSpec, Level, Marker, Zone  # noqa: E402
from charts.spec import MarkerKind  # noqa: E402
from greenlight.core.candlefile import CandleArrays, read_candles  # noqa: E402

DATA = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
WINDOW = 300
START = 52_000  # a trending stretch in late 2020
WARMUP = 250  # extra rows so EMA 200 / MACD are defined inside the window


def _pivots(c: CandleArrays, span: int = 5) -> list[Marker]:
    """Fractal swing points (``span`` bars each side), labelled HH/LH and HL/LL."""
    markers: list[Marker] = []
    last_high = last_low = None
    for i in range(span, len(c) - span):
        window_h = c.high[i - span : i + span + 1]
        window_l = c.low[i - span : i + span + 1]
        t = int(c.open_time[i])
        if c.high[i] == window_h.max():
            text = "HH" if last_high is None or c.high[i] > last_high else "LH"
            markers.append(Marker(t, float(c.high[i]), text, "swing_high"))
            last_high = float(c.high[i])
        elif c.low[i] == window_l.min():
            text = "LL" if last_low is None or c.low[i] < last_low else "HL"
            markers.append(Marker(t, float(c.low[i]), text, "swing_low"))
            last_low = float(c.low[i])
    return markers


def _breaks(c: CandleArrays, swings: list[Marker], span: int = 5) -> list[Marker]:
    """Closes beyond a confirmed swing: BOS when with the trend, CHOCH when against it."""
    events: list[tuple[int, Marker]] = []
    trend = 0
    for m in swings:
        i = int(np.searchsorted(c.open_time, m.time))
        up = m.kind == "swing_high"
        after = c.close[i + span :]
        hits = np.flatnonzero(after > m.price if up else after < m.price)
        if hits.size:
            events.append((i + span + int(hits[0]), m))
    out = []
    for j, m in sorted(events, key=lambda e: e[0]):
        direction = 1 if m.kind == "swing_high" else -1
        kind: MarkerKind = "bos" if direction == trend else "choch"
        trend = direction
        out.append(Marker(int(c.open_time[j]), m.price, kind.upper(), kind, m.time))
    return out


def _fvgs(c: CandleArrays) -> list[Zone]:
    """Three-candle fair value gaps, biggest first."""
    zones = []
    for i in range(2, len(c)):
        if c.low[i] > c.high[i - 2]:
            zones.append(
                Zone(int(c.open_time[i - 1]), None, c.low[i], c.high[i - 2], "fvg", "bull")
            )
        elif c.high[i] < c.low[i - 2]:
            zones.append(
                Zone(int(c.open_time[i - 1]), None, c.low[i - 2], c.high[i], "fvg", "bear")
            )
    return sorted(zones, key=lambda z: z.top - z.bottom, reverse=True)


def build_spec(candles: CandleArrays, panels: bool, start: int = START) -> ChartSpec:
    """The benchmark's chart: real window, real indicators, structure derived from it."""
    full = candles.slice(start - WARMUP, start + WINDOW)
    close = full.close
    lines: dict[str, npt.NDArray[np.float64]] = {
        f"EMA {n}": talib.EMA(close, n)[WARMUP:] for n in (20, 50, 200)
    }
    c = full.slice(WARMUP, WARMUP + WINDOW)
    swings = _pivots(c)
    highs = [m for m in swings if m.kind == "swing_high"][-6:]
    lows = [m for m in swings if m.kind == "swing_low"][-6:]
    last_low = int(np.searchsorted(c.open_time, lows[-1].time))
    last_high = int(np.searchsorted(c.open_time, highs[-1].time))
    structure = _breaks(c, swings)[-2:]
    fvgs = _fvgs(c)
    zones = [*fvgs[:2]]
    for i, bull in ((last_low, True), (last_high, False)):
        top = float(c.open[i] if bull else c.high[i])
        bottom = float(c.low[i] if bull else c.open[i])
        zones.append(Zone(int(c.open_time[i]), None, top, bottom, "ob", "bull" if bull else "bear"))
    entry = float(c.close[-1])
    risk = entry * 0.008
    levels = [
        Level(entry, f"Entry {entry:,.0f}", "entry"),
        Level(entry - risk, f"Stop {entry - risk:,.0f}", "stop"),
    ]
    for k, r in enumerate((1.5, 2.0, 3.0), start=1):
        p = entry + r * risk
        levels.append(Level(p, f"TP{k} {p:,.0f} ({r:g}R)", "target"))
    rsi = macd = None
    if panels:
        rsi = talib.RSI(close, 14)[WARMUP:]
        line, signal, hist = talib.MACD(close, 12, 26, 9)
        macd = (line[WARMUP:], signal[WARMUP:], hist[WARMUP:])
    return ChartSpec(
        "BTCUSDT · 15m · LONG setup",
        c,
        lines,
        levels,
        zones,
        [*highs, *lows, *structure],
        rsi,
        macd,
    )


def measure(renderer: ChartRenderer, spec: ChartSpec, n: int) -> tuple[list[float], list[float]]:
    """Render ``spec`` ``n`` times after three warm-up renders; wall and CPU milliseconds per
    render (CPU time shows how much of the wall time is waiting for a shared core)."""
    for _ in range(3):
        renderer.render_png(spec)
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        renderer.render_png(spec)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def main() -> None:
    """Run the benchmark and print JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--save-dir", type=Path, default=None, help="also write the PNGs here")
    args = ap.parse_args()
    candles = read_candles(DATA)
    renderer = ChartRenderer()
    for panels in (False, True):
        spec = build_spec(candles, panels)
        times, cpu = measure(renderer, spec, args.n)
        label = "rsi+macd" if panels else "none"
        print(
            json.dumps(
                {
                    "bench": "chart_render",
                    "panels": label,
                    "p50_ms": round(float(np.percentile(times, 50)), 1),
                    "p95_ms": round(float(np.percentile(times, 95)), 1),
                    "n": len(times),
                    "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 1),
                    "png_bytes": len(renderer.render_png(spec)),
                }
            )
        )
        if args.save_dir is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            renderer.render_to(spec, args.save_dir / f"chart-{label}.png")


if __name__ == "__main__":
    main()
