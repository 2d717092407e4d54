"""Parameter sweeps and walk-forward runs of ``greenlight backtest``.

Every grid point's train run is a plain backtest of one window (:func:`run_window`, warm-up
as :mod:`engine.backtest.folds` describes) in a process pool; the train runs of every fold
are queued at once and read back in (fold, point) order, never in completion order, so the
files do not depend on the number of workers. For each fold the point with the best
objective on its train window is chosen (:func:`rank`: a higher value is better; a figure
that is undefined on the window ranks last, and so does a run with fewer trades than the
job's ``min_trades`` (two lucky trades say nothing), except that a profit factor or a Calmar
with no loss to divide by is infinite when there are winners / a positive return; a negative
Calmar is compared by the return; equal values go to the earlier grid point), and only that
setting runs on the test window, in the parent process while the workers go on with the next
folds' train runs. The choice reads nothing but the train runs' figures, and a train run holds no
candle at or after its window's end.

Test runs are chained: fold ``k`` starts with the equity fold ``k-1`` ended with, in cents
(the first with ``backtest.start_equity_quote``), each with a fresh account (no open
decision, kill or daily-loss state crosses a fold boundary); the stitched out-of-sample
result is their trades and equity curves end to end.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.agents.registry import load_agents
from engine.backtest.folds import Fold, window_stream
from engine.backtest.grid import Point, apply
from engine.backtest.run import Backtest, Result, Stream
from engine.backtest.stats import equity_curve, summary
from engine.features import FeatureParams
from engine.guards.news_calendar import NewsEvent
from greenlight.core.settings import Settings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
OBJECTIVES = ("calmar", "sharpe", "profit_factor", "expectancy_r")
Progress = Callable[[str, float], None]


@dataclass
class WindowRun:
    """A backtest of one window: its result, its equity curve over the window's closes (the
    warm-up candles cut off) and its ``summary.json`` figures over that curve."""

    result: Result
    times: I64
    eq: F64
    dd: F64
    figures: dict[str, Any]


def drawdown(eq: F64) -> F64:
    """Percent below the running peak."""
    peak = np.maximum.accumulate(eq) if len(eq) else eq
    return np.where(peak > 0, (peak - eq) / np.where(peak > 0, peak, 1.0) * 100.0, 0.0)


def run_window(
    streams: list[Stream], settings: Settings, news: list[NewsEvent], a: int, b: int, warmup: int
) -> WindowRun:
    """Backtest the window ``[a, b)`` of ``streams`` with ``settings``: the window's candles
    with ``warmup`` candles before it (never traded; :func:`engine.backtest.folds.window_stream`).
    ``figures["candles"]`` counts the window's own candles."""
    cut = [w for st in streams if (w := window_stream(st, a, b, warmup)) is not None]
    agents = load_agents(
        settings, frozenset(FeatureParams.from_settings(settings.strategy).names())
    )
    result = Backtest(settings, agents, news).run(cut)
    result.candles = sum(int((w.candles.open_time >= a).sum()) for w in cut)
    times, eq, _ = equity_curve(result, settings.backtest.start_equity_quote)
    keep = times > a
    times, eq = times[keep], eq[keep]
    dd = drawdown(eq)
    figures = summary(result, settings, times, eq, dd, 0.0)
    return WindowRun(result, times, eq, dd, figures)


def score(figures: dict[str, Any], objective: str, min_trades: int = 0) -> float | None:
    """The objective's value on a run's figures (see the module docstring); None when it is
    undefined (no trades, no variation) or the run made fewer than ``min_trades`` trades."""
    if (figures.get("trades") or 0) < min_trades:
        return None
    v = figures.get(objective)
    if v is not None:
        return float(v)
    if not figures.get("trades"):
        return None
    if objective == "profit_factor" and (figures.get("win_rate") or 0) > 0:
        return math.inf  # winners and no losing trade
    if objective == "calmar" and float(figures.get("return_pct") or 0) > 0:
        return math.inf  # a positive return without drawdown
    return None


def rank(figures: dict[str, Any], objective: str, min_trades: int = 0) -> tuple[int, float]:
    """What the choice compares, larger is better: defined objectives above undefined ones;
    a negative Calmar is compared by the return instead (Calmar divides a loss by the
    drawdown, so the deeper of two losing runs would look better)."""
    s = score(figures, objective, min_trades)
    if s is None:
        return (0, 0.0)
    if objective == "calmar" and s < 0:
        return (1, float(figures["return_pct"]))
    return (2, s)


def best(figures: list[dict[str, Any]], objective: str, min_trades: int = 0) -> int:
    """Index of the best run by :func:`rank`; the earliest grid point among equals."""
    keys = [rank(f, objective, min_trades) for f in figures]
    return min(range(len(keys)), key=lambda i: (-keys[i][0], -keys[i][1], i))


def standing(figures: list[dict[str, Any]], objective: str, min_trades: int = 0) -> list[float]:
    """Each run's place by :func:`rank` from 1 (best) to 0 (worst), equal runs sharing one;
    NaN where the objective is undefined (the colours of ``grid.png``)."""
    keys = [rank(f, objective, min_trades) for f in figures]
    order = sorted({k for k in keys if k[0] > 0})
    span = max(1, len(order) - 1)
    return [order.index(k) / span if k[0] > 0 else math.nan for k in keys]


# --- the pool -----------------------------------------------------------------------------

_STATE: tuple[list[Stream], list[NewsEvent], int] | None = None


def _init(streams: list[Stream], news: list[NewsEvent], warmup: int) -> None:
    global _STATE
    _STATE = (streams, news, warmup)


def _train(task: tuple[Settings, int, int]) -> dict[str, Any]:
    """A worker's job: one grid point on one train window; only the figures go back."""
    assert _STATE is not None
    streams, news, warmup = _STATE
    settings, a, b = task
    return run_window(streams, settings, news, a, b, warmup).figures


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


@dataclass
class Job:
    """What a sweep or a walk-forward runs: streams, settings, grid and pool size."""

    streams: list[Stream]
    settings: Settings
    news: list[NewsEvent]
    grid: list[Point]
    objective: str
    warmup: int
    workers: int
    progress: Progress | None = None
    min_trades: int = 0  # train runs with fewer trades cannot be chosen (see the docstring)
    point_settings: list[Settings] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.point_settings = [apply(self.settings, p) for p in self.grid]

    def train_runs(self, windows: list[tuple[int, int]]) -> Iterator[list[dict[str, Any]]]:
        """Every grid point on every window in the pool; yields each window's figures (one
        per grid point, in grid order), window by window."""
        tasks = [(s, a, b) for a, b in windows for s in self.point_settings]
        n = len(self.grid)
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=_init,
            initargs=(self.streams, self.news, self.warmup),
        ) as pool:
            results = pool.map(_train, tasks)
            for w in range(len(windows)):
                figs = []
                for _ in range(n):
                    figs.append(next(results))
                    if self.progress is not None:
                        label = f"fold {w + 1}/{len(windows)}" if len(windows) > 1 else "grid"
                        self.progress(label, (w * n + len(figs)) / len(tasks))
                yield figs


@dataclass
class SweepResult:
    """Every grid point's figures over the whole range and the best one's index."""

    start: int
    end: int
    figures: list[dict[str, Any]]
    scores: list[float | None]
    chosen: int
    seconds: float


def sweep(job: Job, start: int, end: int) -> SweepResult:
    """Every grid point over ``[start, end)``."""
    began = time.perf_counter()
    figs = next(job.train_runs([(start, end)]))
    scores = [score(f, job.objective, job.min_trades) for f in figs]
    chosen = best(figs, job.objective, job.min_trades)
    return SweepResult(start, end, figs, scores, chosen, time.perf_counter() - began)


@dataclass
class FoldResult:
    """One fold: every grid point's train figures, the chosen point and its test run."""

    fold: Fold
    train: list[dict[str, Any]]
    scores: list[float | None]
    chosen: int
    test: WindowRun
    test_start_equity: Decimal


@dataclass
class WalkForward:
    """Every fold, and the stitched out-of-sample result."""

    folds: list[FoldResult]
    result: Result
    times: I64
    eq: F64
    dd: F64
    seconds: float


def walk_forward(job: Job, folds: list[Fold]) -> WalkForward:
    """Train, choose and test every fold (see the module docstring)."""
    began = time.perf_counter()
    equity = job.settings.backtest.start_equity_quote
    done: list[FoldResult] = []
    windows = [(f.train_from, f.train_to) for f in folds]
    for fold, figs in zip(folds, job.train_runs(windows), strict=True):
        scores = [score(f, job.objective, job.min_trades) for f in figs]
        k = best(figs, job.objective, job.min_trades)
        chosen = job.point_settings[k]
        bt = chosen.backtest.model_copy(update={"start_equity_quote": equity})
        test = run_window(
            job.streams,
            chosen.model_copy(update={"backtest": bt}),
            job.news,
            fold.test_from,
            fold.test_to,
            job.warmup,
        )
        done.append(FoldResult(fold, figs, scores, k, test, equity))
        equity = Decimal(test.figures["final_equity_quote"])  # in cents, as folds.csv shows
    result, times, eq = stitch(done, job.streams)
    return WalkForward(done, result, times, eq, drawdown(eq), time.perf_counter() - began)


def stitch(folds: list[FoldResult], streams: list[Stream]) -> tuple[Result, I64, F64]:
    """The test runs end to end: decision ids prefixed by the fold (``F001-BT-00001``), the
    full streams kept for the report's charts."""
    out = Result(streams=streams)
    times: list[I64] = []
    eqs: list[F64] = []
    for fr in folds:
        prefix = f"F{fr.fold.number:03d}-"
        r = fr.test.result
        out.legs += [replace(leg, decision_id=prefix + leg.decision_id) for leg in r.legs]
        out.positions += [replace(p, decision_id=prefix + p.decision_id) for p in r.positions]
        out.brackets.update({prefix + k: b for k, b in r.brackets.items()})
        for k, v in r.skipped.items():
            out.skipped[k] = out.skipped.get(k, 0) + v
        out.candles += r.candles
        times.append(fr.test.times)
        eqs.append(fr.test.eq)
    t = np.concatenate(times) if times else np.zeros(0, np.int64)
    e = np.concatenate(eqs) if eqs else np.zeros(0)
    return out, t, e
