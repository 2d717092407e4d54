"""``greenlight analyze``: the whole analysis (features, causal SMC, retests, regimes) of a
candle file, written as CSV files for research and verification.

``greenlight analyze CANDLES.csv --out DIR [--tf 15m] [--swing-length N]
[--swing-method pivot|zigzag] [--zigzag-mult K] [--smc-compat] [--sub SUBCANDLES.csv]
[--symbol SYM] [--agent NAME] [--news CALENDAR.csv|.json] [--equity Q]``

Input: anything :func:`greenlight.core.candlefile.read_candles` accepts (Binance kline dumps with or
without header, ms or µs open times; CSVs with an open-time column in epoch ms/µs or ISO-8601
UTC; a UTF-8 byte-order mark is accepted). Bad rows stop the run with file, line and reason; a
truncated gzip file is reported as such. The interval is detected from the data (the most
common step between open times); ``--tf``, when given, must match it. Candles whose open time
is off the interval's UTC grid are reported on stderr. Gaps are listed in ``gaps.csv`` and on
stderr; they are not filled (every stage runs positionally over the candles given).

Files written to DIR (times are open times in epoch ms UTC; empty cell = NaN / none):

- ``indicators.csv``: one row per candle, ``open_time_ms_utc, ema20, ema50, ema200, rsi14,
  macd, macd_signal, macd_hist, atr14, bb_upper, bb_middle, bb_lower, vwap, vwma20, adx14,
  plus_di14, minus_di14`` (vwap/vwma empty without volume).
- ``swings.csv``: ``pivot_time_ms_utc, known_time_ms_utc, known_index, kind (high|low),
  label (HH|LH|HL|LL|empty for the first), price``; the known candle is pivot + N for
  ``--swing-method pivot`` and the reversal candle for ``zigzag`` (``--zigzag-mult`` ATRs).
- ``smc_events.csv``: ``open_time_ms_utc, index, kind (BOS_UP|BOS_DN|CHOCH_UP|CHOCH_DN),
  level, ref_swing_time_ms_utc``.
- ``zones.csv``: ``zone_id, kind (FVG|OB), direction, start_time_ms_utc, known_time_ms_utc,
  top, bottom, touched_time_ms_utc, end_time_ms_utc, end_reason (mitigated|expired)``.
- ``signals.csv``: ``open_time_ms_utc, index, agent, side_hint, entry_hint, sl_hint, tpR,
  score, ttl_bars, features (true flags joined by ';'), why``.
- ``regimes.csv``: one row per regime change, ``open_time_ms_utc, index, regime, adx,
  atr_pct, bbw_pct``.
- ``gaps.csv``: ``last_open_before_ms_utc, first_open_after_ms_utc, missing_candles``.
- ``decisions.csv``: one row per signal of the decision agent (``--agent``, default the
  settings' ``strategy.agent``), through the same guards as the live engine (news with
  ``--news``; volatility; funding n/a) and the round-trip cost limit, sized on ``--equity``:
  ``open_time, agent, side, score, entry, stop, tp1, tp2, tp3, risk_quote, cost_quote, taken,
  blocked_by`` (see :mod:`engine.decisions_batch`; account limits are a backtester's job).
- with ``--smc-compat``: ``smc_compat.csv``, one row per candle with the smartmoneyconcepts
  0.0.27 columns (see :mod:`engine.smc.compat`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal, TextIO

import numpy as np

from engine.agents.registry import load_agents
from engine.decisions_batch import decisions_table, run_decisions
from engine.features import FeatureParams, compute_batch
from engine.guards.news_calendar import CalendarError, NewsEvent, read_calendar
from engine.micro_stream import micro_smc_params
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeParams, regime_changes, run_regime_batch
from engine.retest import kernel as TK
from engine.retest.analyzer import RetestParams, run_retest_batch, to_signal
from engine.retest.micro import micro_bos_flags
from engine.smc.compat import COMPAT_COLUMNS, FLOAT32_COLUMNS, smc_compat
from engine.smc.engine import SmcParams, run_smc_batch
from engine.smc.tables import Column, events_table, swings_table, write_table, zones_table
from engine.store import INDICATOR_COLUMNS as TABLE_INDICATOR_COLUMNS
from greenlight.core.candlefile import (
    CandleArrays,
    CandleFileError,
    detect_interval_ms,
    find_gaps,
    off_grid,
    read_candles,
)
from greenlight.core.settings import TIMEFRAMES_MS, Settings, SmcSettings, StrategySettings

# The indicator table's own columns first, then those it keeps in ``extra``.
INDICATOR_COLUMNS = (
    *TABLE_INDICATOR_COLUMNS,
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "vwap",
    "vwma20",
    "adx14",
    "plus_di14",
    "minus_di14",
)
_PROGRESS_MIN_CANDLES = 50_000


@dataclass
class AnalyzeReport:
    """What a run produced: the interval, row counts per file, gaps, candles off the
    interval's grid (open times) and elapsed seconds."""

    tf: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    off_grid: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _tf_name(ms: int) -> str | None:
    return next((name for name, v in TIMEFRAMES_MS.items() if v == ms), None)


def resolve_timeframe(c: CandleArrays, tf: str | None, source: str) -> str:
    """The candles' timeframe: detected from the data, checked against ``tf`` when given.

    Raises ``ValueError`` when ``tf`` is unknown or does not match the data, or when the data's
    interval is not a timeframe Greenlight knows."""
    if tf is not None and tf not in TIMEFRAMES_MS:
        raise ValueError(f"unknown timeframe {tf!r}; one of {', '.join(TIMEFRAMES_MS)}")
    step = detect_interval_ms(c.open_time)
    if step is None:
        if tf is None:
            raise ValueError(f"{source}: one candle only; give its timeframe with --tf")
        return tf
    found = _tf_name(step)
    if found is None:
        raise ValueError(
            f"{source}: candles are {step} ms apart (most common step), which is not one of "
            f"{', '.join(TIMEFRAMES_MS)}"
        )
    if tf is not None and tf != found:
        raise ValueError(
            f"{source}: the candles are {found} apart (most common step) but --tf is {tf}; "
            f"use --tf {found} (or leave --tf out)"
        )
    return found


class _Progress:
    def __init__(self, total_steps: int, stream: TextIO | None) -> None:
        self.total = total_steps
        self.done = 0
        self.stream = stream

    def step(self, label: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        filled = 30 * self.done // self.total
        bar = "#" * filled + "." * (30 - filled)
        end = "\n" if self.done == self.total else ""
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label:<12}{end}")
        self.stream.flush()


def _signals_table(
    out: np.ndarray, c: CandleArrays, params: RetestParams, symbol: str, tf: str
) -> dict[str, Column]:
    idx = np.flatnonzero(out[:, TK.O_DIR] != 0)
    sigs = [to_signal(out[i], params, "file", symbol, tf, int(c.open_time[i])) for i in idx]
    return {
        "open_time_ms_utc": c.open_time[idx],
        "index": idx.astype(np.int64),
        "agent": [s.agent for s in sigs],
        "side_hint": [s.side_hint for s in sigs],
        "entry_hint": np.array([s.entry_hint for s in sigs]),
        "sl_hint": np.array([s.sl_hint for s in sigs]),
        "tpR": [";".join(f"{r:g}" for r in s.tpR) for s in sigs],
        "score": np.array([s.score for s in sigs]),
        "ttl_bars": np.array([s.ttl_bars for s in sigs], dtype=np.int64),
        "features": [";".join(k for k, v in s.features.items() if v) for s in sigs],
        "why": [s.why for s in sigs],
    }


def _regimes_table(out: np.ndarray, c: CandleArrays) -> dict[str, Column]:
    idx = regime_changes(out)
    return {
        "open_time_ms_utc": c.open_time[idx],
        "index": idx.astype(np.int64),
        "regime": [RK.NAMES[int(r)] for r in out[idx, RK.O_REGIME]],
        "adx": out[idx, RK.O_ADX].copy(),
        "atr_pct": out[idx, RK.O_ATR_PCT].copy(),
        "bbw_pct": out[idx, RK.O_BBW_PCT].copy(),
    }


def _compat_table(c: CandleArrays, swing_length: int) -> dict[str, Column]:
    res = smc_compat(c, swing_length)
    cols: dict[str, Column] = {"open_time_ms_utc": c.open_time}
    for name in COMPAT_COLUMNS:
        values = res[name]
        cols[name] = values.astype(np.float32) if name in FLOAT32_COLUMNS else values
    return cols


def _gaps_table(gaps: list[tuple[int, int]], tf_ms: int) -> dict[str, Column]:
    a = np.array([g[0] for g in gaps], dtype=np.int64)
    b = np.array([g[1] for g in gaps], dtype=np.int64)
    return {
        "last_open_before_ms_utc": a,
        "first_open_after_ms_utc": b,
        "missing_candles": (b - a) // tf_ms - 1,
    }


@dataclass(frozen=True)
class _Job:
    tf: str
    tf_ms: int
    swing_length: int
    symbol: str
    compat: bool
    smc: SmcParams
    agent: str = "fusion"
    news: tuple[NewsEvent, ...] = ()
    equity: Decimal = Decimal(10000)


def _decisions(c: CandleArrays, sub: CandleArrays | None, job: _Job) -> dict[str, Column]:
    smc = job.smc
    settings = Settings(
        strategy=StrategySettings(agent=job.agent),
        smc=SmcSettings(
            swing_length=smc.swing_length,
            swing_method=smc.swing_method,
            zigzag_atr_mult=smc.zigzag_atr_mult,
        ),
    )
    agents = load_agents(settings, frozenset(FeatureParams().names()))
    micro = None
    if sub is not None:
        micro = micro_bos_flags(c.open_time, job.tf_ms, sub, micro_smc_params(settings))
    rows = run_decisions(c, settings, agents, job.symbol, job.tf, list(job.news), job.equity, micro)
    return dict(decisions_table(rows))


def _stage_tables(
    c: CandleArrays, sub: CandleArrays | None, job: _Job, bar: _Progress
) -> dict[str, dict[str, Column]]:
    feats = compute_batch(c)
    bar.step("indicators")
    events, _ = run_smc_batch(c, job.smc)
    bar.step("smc")
    micro_up = micro_dn = None
    if sub is not None:
        # the engine's default micro structure ([smc] micro_swing_length), so CLI = live
        micro = micro_smc_params(Settings())
        micro_up, micro_dn = micro_bos_flags(c.open_time, job.tf_ms, sub, micro)
    rparams = RetestParams()
    atr, rsi, hist = feats["atr14"], feats["rsi14"], feats["macd_hist"]
    signals, _ = run_retest_batch(
        events, c.open, c.high, c.low, c.close, atr, rsi, hist, rparams, micro_up, micro_dn
    )
    bar.step("retest")
    regimes, _ = run_regime_batch(feats["adx14"], atr, c.close, feats["bb_width"], RegimeParams())
    bar.step("regime")
    indicators: dict[str, Column] = {"open_time_ms_utc": c.open_time}
    indicators.update({k: feats[k] for k in INDICATOR_COLUMNS})
    return {
        "indicators.csv": indicators,
        "swings.csv": swings_table(events),
        "smc_events.csv": events_table(events),
        "zones.csv": zones_table(events),
        "signals.csv": _signals_table(signals, c, rparams, job.symbol, job.tf),
        "regimes.csv": _regimes_table(regimes, c),
    }


def analyze(
    candles_path: Path,
    tf: str | None,
    out_dir: Path,
    swing_length: int = 5,
    compat: bool = False,
    sub_path: Path | None = None,
    symbol: str | None = None,
    progress: TextIO | None = None,
    swing_method: Literal["pivot", "zigzag"] = "pivot",
    zigzag_mult: float = 3.0,
    agent: str | None = None,
    news_path: Path | None = None,
    equity: Decimal = Decimal(10000),
) -> AnalyzeReport:
    """Run every stage over a candle file and write the CSV files (see module docstring).

    ``tf`` None: the interval detected from the data. Raises :class:`CandleFileError` for
    unusable input, :class:`CalendarError` for a bad ``news_path`` and ``ValueError`` for bad
    options or a ``tf`` the data contradicts; nothing is written in any case."""
    if tf is not None and tf not in TIMEFRAMES_MS:
        raise ValueError(f"unknown timeframe {tf!r}; one of {', '.join(TIMEFRAMES_MS)}")
    start = time.perf_counter()
    sym = symbol or candles_path.name.split("-")[0].split("_")[0].split(".")[0].upper()
    smc = SmcParams(
        swing_length=swing_length, swing_method=swing_method, zigzag_atr_mult=zigzag_mult
    )
    news = tuple(read_calendar(news_path)) if news_path is not None else ()
    chosen = agent or Settings().strategy.agent
    c = read_candles(candles_path)
    tf = resolve_timeframe(c, tf, str(candles_path))
    job = _Job(tf, TIMEFRAMES_MS[tf], swing_length, sym, compat, smc, chosen, news, equity)
    sub = read_candles(sub_path) if sub_path is not None else None
    report = AnalyzeReport(tf=tf, gaps=find_gaps(c.open_time, job.tf_ms))
    report.off_grid = [int(c.open_time[i]) for i in off_grid(c.open_time, job.tf_ms)]
    bar = _Progress(7 if compat else 6, progress if len(c) >= _PROGRESS_MIN_CANDLES else None)
    tables = _stage_tables(c, sub, job, bar)
    tables["gaps.csv"] = _gaps_table(report.gaps, job.tf_ms)
    tables["decisions.csv"] = _decisions(c, sub, job)
    bar.step("tables")
    if compat:
        tables["smc_compat.csv"] = _compat_table(c, swing_length)
        bar.step("smc-compat")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, cols in tables.items():
        report.rows[name] = write_table(out_dir / name, cols)
    bar.step("written")
    report.seconds = time.perf_counter() - start
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="greenlight analyze", description="Analyse a candle file and write CSV results."
    )
    p.add_argument("candles", type=Path, help="candle file (.csv or .csv.gz)")
    p.add_argument(
        "--tf", help="timeframe of the candles, e.g. 15m (default: detected; must match the data)"
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--swing-length", type=int, default=5, help="pivot bars N (default 5)")
    p.add_argument(
        "--swing-method",
        choices=("pivot", "zigzag"),
        default="pivot",
        help="swing detector: N-bar pivots (default) or ATR-scaled ZigZag",
    )
    p.add_argument(
        "--zigzag-mult", type=float, default=3.0, help="ZigZag reversal in ATRs (default 3)"
    )
    p.add_argument("--smc-compat", action="store_true", help="also write smc_compat.csv")
    p.add_argument("--sub", type=Path, help="sub-timeframe candles for micro-BOS confirmation")
    p.add_argument("--symbol", help="symbol for signals (default: from the file name)")
    p.add_argument("--agent", help="decision agent for decisions.csv (default: settings)")
    p.add_argument("--news", type=Path, help="news calendar (.csv or .json) for the news guard")
    p.add_argument(
        "--equity", type=Decimal, default=Decimal(10000), help="equity to size on (10000)"
    )
    return p


def run_analyze(argv: list[str]) -> int:
    """Entry point of ``greenlight analyze``; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.swing_length < 1:
        print(f"error: --swing-length must be >= 1, got {args.swing_length}", file=sys.stderr)
        return 2
    try:
        report = analyze(
            args.candles,
            args.tf,
            args.out,
            args.swing_length,
            args.smc_compat,
            args.sub,
            args.symbol,
            progress=sys.stderr,
            swing_method=args.swing_method,
            zigzag_mult=args.zigzag_mult,
            agent=args.agent,
            news_path=args.news,
            equity=args.equity,
        )
    except (CandleFileError, CalendarError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report.off_grid:
        print(
            f"warning: {len(report.off_grid)} candles open off the {report.tf} grid (open time "
            f"not a multiple of {report.tf} since 1970-01-01 UTC), first at "
            f"{report.off_grid[0]}",
            file=sys.stderr,
        )
    if report.gaps:
        missing = sum((b - a) // TIMEFRAMES_MS[report.tf] - 1 for a, b in report.gaps)
        print(
            f"warning: {len(report.gaps)} gaps ({missing} missing candles), first after "
            f"{report.gaps[0][0]}; not filled, see gaps.csv",
            file=sys.stderr,
        )
    summary = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    n = report.rows["indicators.csv"]
    print(f"analyzed {n} {report.tf} candles in {report.seconds:.3f} s: {summary}")
    return 0
