"""``greenlight backtest … --grid KEY=V1,V2 [--grid …] [--walk-forward train=6M,test=1M]
[--objective calmar|sharpe|profit_factor|expectancy_r] [--min-trades N] [--workers N]``.

Without ``--walk-forward`` every grid point runs over the whole range (``--from``/``--to``,
``--warmup`` as a plain backtest) and ``grid.csv``/``grid.png`` rank them. With it the range
is cut into folds (:mod:`engine.backtest.folds`), each fold's setting is chosen on its train
window and run on its test window (:mod:`engine.backtest.walkforward`), and the files of
:mod:`engine.backtest.wf_output` are written. The command prints a table and a summary line.
A grid point whose run made fewer than ``--min-trades`` trades (default
:data:`DEFAULT_MIN_TRADES`) is not chosen: its objective counts as undefined ("n/a").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from engine.backtest.folds import data_range, first_midnight, make_folds, parse_walk_forward
from engine.backtest.grid import Axis, cell, parse_grid, points
from engine.backtest.inputs import load_streams, parse_time
from engine.backtest.output import day, figures_line, iso
from engine.backtest.progress import ProgressBar, wanted
from engine.backtest.walkforward import Job, SweepResult, WalkForward, sweep, walk_forward
from engine.backtest.wf_output import pnl, write_sweep, write_walk_forward
from engine.guards.news_calendar import CalendarError, read_calendar
from greenlight.core.candlefile import CandleFileError
from greenlight.core.settings import Settings

DEFAULT_MIN_TRADES = 5


def default_workers() -> int:
    """``min(2, CPUs)``."""
    return max(1, min(2, os.cpu_count() or 1))


def run_grid(args: argparse.Namespace, settings: Settings) -> int:
    """``--grid`` / ``--walk-forward`` (see the module docstring); returns the exit code."""
    try:
        return _run(args, settings)
    except (CandleFileError, CalendarError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(f"--workers {workers}: at least 1")
    if args.warmup is not None and args.warmup < 0:
        raise ValueError(f"--warmup {args.warmup}: not negative")
    axes = parse_grid(args.grid, settings)
    grid = points(axes)
    periods = parse_walk_forward(args.walk_forward) if args.walk_forward else None
    start, end = parse_time(args.start), parse_time(args.end)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--to {args.end} is not after --from {args.start}")
    news = read_calendar(args.news) if args.news is not None else []
    bar = ProgressBar() if wanted(args.progress) else None
    objective = args.objective or "calmar"
    min_trades = DEFAULT_MIN_TRADES if args.min_trades is None else args.min_trades
    if min_trades < 0:
        raise ValueError(f"--min-trades {min_trades}: not negative")
    if periods is None:
        warmup = args.warmup or 0
        streams = load_streams(
            args.data, args.tf, settings, args.sub, args.funding, start, end, warmup
        )
        lo, hi = data_range(streams)
        job = Job(streams, settings, news, grid, objective, warmup, workers, bar, min_trades)
        sw = sweep(job, lo, hi)
        if bar is not None:
            bar.finish()
        write_sweep(args.out, job, axes, sw, image=not args.no_report)
        print(_sweep_text(job, axes, sw, args.out))
        return 0
    train, test = periods
    # the whole file up to --to: candles before --from warm the first window up
    streams = load_streams(args.data, args.tf, settings, args.sub, args.funding, None, end)
    lo, hi = data_range(streams)
    folds = make_folds(max(lo, start) if start is not None else first_midnight(lo), hi, train, test)
    warmup = settings.market.warmup_candles if args.warmup is None else args.warmup
    job = Job(streams, settings, news, grid, objective, warmup, workers, bar, min_trades)
    wf = walk_forward(job, folds)
    if bar is not None:
        bar.finish()
    figures = write_walk_forward(args.out, job, axes, wf, train, test, report=not args.no_report)
    print(_walk_forward_text(job, wf, figures, args.out))
    return 0


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("s" if count != 1 else "")


def _workers(n: int) -> str:
    return _n(n, "worker")


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def _fmt(v: Any, spec: str = ".2f") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def _sweep_text(job: Job, axes: list[Axis], sw: SweepResult, out: Path) -> str:
    head = [*(a.key for a in axes), "trades", "win rate", "PF", "exp R", "max DD %", "return %"]
    head += [job.objective, "best"]
    rows = []
    for i, (p, f, s) in enumerate(zip(job.grid, sw.figures, sw.scores, strict=True)):
        rows.append(
            [cell(v) for _, v in p.values]
            + [str(f["trades"]), _fmt(f["win_rate"], ".1%"), _fmt(f["profit_factor"])]
            + [_fmt(f["expectancy_r"], "+.2f"), _fmt(f["max_drawdown_pct"])]
            + [_fmt(f["return_pct"], "+.2f"), _fmt(s), "*" if i == sw.chosen else ""]
        )
    candles = sw.figures[0]["candles"]
    return (
        f"{_table(head, rows)}\n"
        f"grid: {len(job.grid)} points over {iso(sw.start)} → {iso(sw.end)} ({candles} candles)"
        f" on {_workers(job.workers)} in {sw.seconds:.1f} s; best by {job.objective}: "
        f"{job.grid[sw.chosen].label()} → {out}/grid.csv"
    )


def _walk_forward_text(job: Job, wf: WalkForward, figures: dict[str, Any], out: Path) -> str:
    head = ["fold", "test from", "test to", "chosen", f"train {job.objective}"]
    head += ["test trades", "test PnL"]
    rows = [
        [
            str(fr.fold.number),
            day(fr.fold.test_from),
            day(fr.fold.test_to),
            job.grid[fr.chosen].label(),
            _fmt(fr.scores[fr.chosen]),
            str(fr.test.figures["trades"]),
            pnl(fr.test.figures),
        ]
        for fr in wf.folds
    ]
    w = figures["walk_forward"]
    runs = len(wf.folds) * len(job.grid)
    return (
        f"{_table(head, rows)}\n"
        f"walk-forward: {_n(len(wf.folds), 'fold')} (train {w['train']}, test {w['test']}, "
        f"{job.warmup} warm-up candles), {_n(len(job.grid), 'grid point')} by {job.objective}: "
        f"{runs} train + {len(wf.folds)} test runs on {_workers(job.workers)} in "
        f"{wf.seconds:.1f} s\n"
        f"out of sample {day(wf.folds[0].fold.test_from)} → {day(wf.folds[-1].fold.test_to)}: "
        f"{figures_line(figures)} → {out}/"
    )
