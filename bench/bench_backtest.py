"""Backtest speed on the bundled 70k BTCUSDT 15m candles, as JSON lines.

``python bench/bench_backtest.py [--peers]``

* ``greenlight``: the full default strategy (stages, fusion agent, guards, sizing, bracket
  builder, fills, equity curve, statistics) in one process, the file already read (as
  ``greenlight backtest`` counts its own speed; ``file_read_seconds`` says what reading it
  took). A first run is timed on its own (``first_run_seconds``: loading numba's compiled
  code from its cache, or compiling it on a cold cache); then ``repeat`` runs on fresh
  copies of the streams (nothing carried over from one run to the next) give the median
  wall and CPU seconds and the median time of each step (``stages_ms``: features, smc,
  retest, regime, agent, decisions, and ``equity_summary``).
* with ``--peers``: backtesting.py and vectorbt on a bare EMA(20/50) cross over the same
  candles. They are not Greenlight dependencies: when missing they are pip-installed into
  a throwaway target directory for this run only, or skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"


def bench_greenlight(repeat: int = 7) -> dict[str, Any]:
    """Candles/s of the whole backtest (median of ``repeat`` runs after a first one)."""
    from engine.agents.registry import load_agents
    from engine.backtest.inputs import load_streams
    from engine.backtest.run import Backtest
    from engine.backtest.stats import equity_curve, summary
    from engine.features import FeatureParams
    from greenlight.core.settings import Settings

    s = Settings()
    began = time.perf_counter()
    streams = load_streams([DATA], "15m", s)
    read = time.perf_counter() - began
    walls, cpus, steps = [], [], []
    trades = 0
    for _ in range(repeat + 1):
        fresh = [replace(st) for st in streams]
        t, c = time.perf_counter(), time.process_time()
        agents = load_agents(s, frozenset(FeatureParams.from_settings(s.strategy).names()))
        result = Backtest(s, agents, []).run(fresh)
        mid = time.perf_counter()
        times, eq, dd = equity_curve(result, s.backtest.start_equity_quote)
        fig = summary(result, s, times, eq, dd, 1.0)
        end = time.perf_counter()
        walls.append(end - t)
        cpus.append(time.process_time() - c)
        steps.append({**result.timings, "equity_summary": end - mid})
        trades = fig["trades"]
    first = walls.pop(0)
    cpus.pop(0)
    steps.pop(0)
    n = len(streams[0].candles)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {
        "bench": "greenlight_backtest_full_default_strategy",
        "candles": n,
        "trades": trades,
        "runs": repeat,
        "seconds": round(wall, 4),
        "candles_per_second": round(n / wall),
        "fastest_candles_per_second": round(n / min(walls)),
        "cpu_seconds": round(cpu, 4),
        "candles_per_cpu_second": round(n / cpu),
        "stages_ms": {
            k: round(statistics.median(st.get(k, 0.0) for st in steps) * 1000, 1) for k in steps[0]
        },
        "first_run_seconds": round(first, 3),
        "file_read_seconds": round(read, 3),  # not in the figures above (nor in the peers')
    }


PEER = r"""
import json, sys, time
import numpy as np, pandas as pd
df = pd.read_csv(sys.argv[1])
df.index = pd.to_datetime(df["open_time_ms_utc"], unit="ms")
df = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
n = len(df)
out = []
try:
    import vectorbt as vbt
    close = df["Close"]
    def run_vbt():
        fast = vbt.MA.run(close, 20, ewm=True); slow = vbt.MA.run(close, 50, ewm=True)
        pf = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow),
                                        fast.ma_crossed_below(slow), fees=0.001)
        return pf.total_return()
    run_vbt(); t = time.perf_counter(); run_vbt(); dt = time.perf_counter() - t
    out.append({"bench": "vectorbt_ema_cross", "candles": n, "seconds": round(dt, 4),
                "candles_per_second": round(n / dt)})
except Exception as exc:
    out.append({"bench": "vectorbt_ema_cross", "skipped": f"{type(exc).__name__}: {exc}"})
try:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    def ema(x, k):
        return pd.Series(x).ewm(span=k, adjust=False).mean().values
    class Cross(Strategy):
        def init(self):
            self.f = self.I(ema, self.data.Close, 20); self.s = self.I(ema, self.data.Close, 50)
        def next(self):
            if crossover(self.f, self.s): self.position.close(); self.buy()
            elif crossover(self.s, self.f): self.position.close()
    t = time.perf_counter()
    Backtest(df, Cross, cash=10_000_000, commission=0.001).run()
    dt = time.perf_counter() - t
    out.append({"bench": "backtesting_py_ema_cross", "candles": n, "seconds": round(dt, 4),
                "candles_per_second": round(n / dt)})
except Exception as exc:
    out.append({"bench": "backtesting_py_ema_cross", "skipped": f"{type(exc).__name__}: {exc}"})
for o in out:
    print(json.dumps(o))
"""


def bench_peers() -> list[dict[str, Any]]:
    """Run the peers in a subprocess whose path has them (installed to a temp target)."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "btc.csv"
        import gzip

        csv.write_bytes(gzip.decompress(DATA.read_bytes()))
        target = Path(tmp) / "site"
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target)]
        got = subprocess.run([*pip, "vectorbt", "backtesting"], capture_output=True, text=True)
        note = None if got.returncode == 0 else got.stderr.strip().splitlines()[-1:]
        env_path = f"{target}:{ROOT}"
        run = subprocess.run(
            [sys.executable, "-c", PEER, str(csv)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        )
        lines = [json.loads(x) for x in run.stdout.splitlines() if x.startswith("{")]
        if not lines:
            lines = [{"bench": "peers", "skipped": (run.stderr or "no output")[-300:]}]
        if note:
            for line in lines:
                line.setdefault("install_note", note)
        return lines


def main() -> None:
    """Print one JSON line per benchmark."""
    p = argparse.ArgumentParser()
    p.add_argument("--peers", action="store_true", help="also backtesting.py and vectorbt")
    args = p.parse_args()
    print(json.dumps(bench_greenlight()), flush=True)
    if args.peers:
        for line in bench_peers():
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
