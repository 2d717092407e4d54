"""SMC / retest / regime benchmarks on the bundled 70k-candle BTCUSDT file; prints JSON lines.

    .venv/bin/python bench/bench_smc.py [--skip-library] [--stream-candles N]

- ``smc_compat_batch``: our swings+BOS/CHOCH+FVG+OB (compatibility mode) vs smartmoneyconcepts
  0.0.27 on the same candles (target >= 100x faster);
- ``smc_causal_batch``: the causal engine over all candles;
- ``stream_per_candle``: one stream, one closed candle at a time through features, SMC,
  retest, regime, every agent plugin (starter, retest, fusion) and the guards' verdicts
  (news on the bundled calendar, funding, volatility) (target <= 50 us per candle);
- ``analyze``: ``greenlight analyze`` end to end (read, compute, write CSVs).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pandas as pd

from engine.agents.base import BarContext
from engine.agents.registry import StreamAgents, load_agents
from engine.analyze import analyze
from engine.events import Candle
from engine.features import FeatureEngine, FeatureParams, compute_batch
from engine.guards import vol as V
from engine.guards.hub import GuardHub, StreamGuards
from engine.guards.news_calendar import symbol_assets
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeClassifier, RegimeParams
from engine.retest.analyzer import RetestAnalyzer, RetestParams
from engine.smc.compat import smc_compat
from engine.smc.engine import SmcEngine, SmcParams, run_smc_batch
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "data/BTCUSDT-15m-2019-2020.csv.gz"
TF = 900_000


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Fastest wall time of ``repeat`` runs (after one warm-up run)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def library_seconds(c: CandleArrays, swing_length: int) -> float:
    """One run of the four smartmoneyconcepts functions."""
    from smartmoneyconcepts import smc

    df = pd.DataFrame(
        {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume}
    )
    t = time.perf_counter()
    swings = smc.swing_highs_lows(df, swing_length)
    smc.bos_choch(df, swings)
    smc.fvg(df)
    smc.ob(df, swings)
    return time.perf_counter() - t


def stream_costs(c: CandleArrays, n: int) -> np.ndarray:
    """Per-candle seconds of the whole analysis and decision logic for one stream (what the
    live pipeline computes between the candle and the database)."""
    settings = Settings()
    feats = FeatureEngine()
    smc = SmcEngine(SmcParams())
    rt = RetestAnalyzer(RetestParams())
    rg = RegimeClassifier(RegimeParams())
    agents = StreamAgents(load_agents(settings, frozenset(FeatureParams().names())))
    ctx = BarContext("sim", "BTCUSDT", "15m", TF, "usdm", True)
    hub = GuardHub(settings)
    hub.check_calendar()  # the bundled calendar
    guards = StreamGuards(hub, "sim", "BTCUSDT", symbol_assets("BTCUSDT"), True)
    hub.funding_book("sim").update("BTCUSDT", int(c.open_time[0]) // TF * TF, D("0.0001"))
    chop = settings.volatility.chop_bbw_pct
    costs = np.empty(n)
    t_, o_, h_, l_, c_, v_ = (
        a.tolist() for a in (c.open_time, c.open, c.high, c.low, c.close, c.volume)
    )
    for i in range(n):
        px = {"open": o_[i], "high": h_[i], "low": l_[i], "close": c_[i], "volume": v_[i]}
        bar = Candle.model_construct(
            venue="sim",
            symbol="BTCUSDT",
            tf="15m",
            open_time=t_[i],
            close_time=t_[i] + TF - 1,
            **px,
        )
        t0 = time.perf_counter()
        f = feats.update(t_[i], o_[i], h_[i], l_[i], c_[i], v_[i])
        ev = smc.update(t_[i], o_[i], h_[i], l_[i], c_[i], v_[i])
        out = rt.update(ev, o_[i], h_[i], l_[i], c_[i], f["atr14"], f["rsi14"], f["macd_hist"])
        reg = rg.update(f["adx14"], f["atr14"], c_[i], f["bb_width"])
        code = int(reg[RK.O_REGIME])
        atr_pct, bbw_pct = float(reg[RK.O_ATR_PCT]), float(reg[RK.O_BBW_PCT])
        ctx.update(ev, out, RK.NAMES[code], atr_pct, bbw_pct)
        agents.run(ctx, bar, f)
        vol = V.vol_step(code, bbw_pct, chop)
        guards.evaluate(t_[i] + TF, vol, atr_pct, bbw_pct, "long")
        costs[i] = time.perf_counter() - t0
    return costs


def bench_compat(c: CandleArrays, with_library: bool) -> dict[str, object]:
    """Compatibility-mode batch vs the library."""
    ours = best_of(lambda: smc_compat(c, 5), 5)
    line: dict[str, object] = {
        "bench": "smc_compat_batch",
        "candles": len(c),
        "ours_s": round(ours, 5),
    }
    if with_library:
        lib = library_seconds(c, 5)
        line |= {"smartmoneyconcepts_s": round(lib, 3), "speedup": round(lib / ours, 1)}
    return line


def bench_stream(c: CandleArrays, n: int) -> dict[str, object]:
    """Per-candle cost of the whole analysis for one stream (after a warm-up stream)."""
    stream_costs(c, 200)  # loads every compiled step
    costs = stream_costs(c, min(n, len(c))) * 1e6
    return {
        "bench": "stream_per_candle",
        "candles": len(costs),
        "stages": "features+smc+retest+regime+agents(starter,retest,fusion)+guards",
        "mean_us": round(float(costs.mean()), 2),
        "p50_us": round(float(np.percentile(costs, 50)), 2),
        "p95_us": round(float(np.percentile(costs, 95)), 2),
        "p99_us": round(float(np.percentile(costs, 99)), 2),
    }


def main() -> None:
    """Run the benchmarks and print one JSON object per line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-library", action="store_true", help="skip smartmoneyconcepts")
    ap.add_argument("--stream-candles", type=int, default=20_000)
    args = ap.parse_args()
    c = read_candles(DATA)
    print(json.dumps(bench_compat(c, not args.skip_library)), flush=True)
    causal = best_of(lambda: run_smc_batch(c, SmcParams()), 5)
    print(
        json.dumps(
            {
                "bench": "smc_causal_batch",
                "candles": len(c),
                "s": round(causal, 5),
                "candles_per_s": round(len(c) / causal),
            }
        ),
        flush=True,
    )
    compute_batch(c.slice(0, 100))
    print(json.dumps(bench_stream(c, args.stream_candles)), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        secs = best_of(lambda: analyze(DATA, "15m", Path(tmp), compat=True), 3)
    print(
        json.dumps(
            {"bench": "analyze", "candles": len(c), "smc_compat": True, "s": round(secs, 3)}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
