"""``greenlight backtest DATA... --tf TF [--sub-tf TF --sub FILE...] [--from T] [--to T]
[--out DIR] [--approve-delay BARS] [--funding FILE...] [--news FILE] [--agent NAME]``.

Each DATA file is one stream; its symbol is the file name's first ``-``/``_`` part and it is
USD-M when the name says ``perp`` or ``futures`` (spot otherwise). ``--funding`` files
(``SYMBOL-…``) give USD-M funding rates. Settings come from ``greenlight --settings FILE``
(``[backtest]`` for the fill model and the account). ``--grid`` and ``--walk-forward``
(sweeps and walk-forward folds) are :mod:`engine.backtest.wf_cli`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.agents.registry import load_agents
from engine.backtest.inputs import load_streams, parse_time
from engine.backtest.output import figures_line, write_equity, write_summary, write_trades
from engine.backtest.progress import Progress, ProgressBar, scaled, wanted
from engine.backtest.report import write_report
from engine.backtest.run import Backtest, Result, Stream
from engine.backtest.stats import equity_curve, summary
from engine.backtest.walkforward import OBJECTIVES
from engine.backtest.wf_cli import run_grid
from engine.features import FeatureParams
from engine.guards.news_calendar import CalendarError, NewsEvent, read_calendar
from greenlight.core.candlefile import CandleFileError
from greenlight.core.settings import TIMEFRAMES_MS, Settings


def backtest(
    streams: list[Stream],
    settings: Settings,
    out: Path,
    news: Path | None = None,
    *,
    report: bool = True,
    progress: Progress | None = None,
) -> tuple[Result, dict[str, object]]:
    """Run and write ``trades.csv``, ``equity.csv`` and ``summary.json`` into ``out``, and
    with ``report`` ``report.html`` and its PNG files (:mod:`engine.backtest.report`).
    ``progress`` is told how far the run is (never into the files): the backtest counts for
    the first 75 %, the report for the rest."""
    began = time.perf_counter()
    agents = load_agents(
        settings, frozenset(FeatureParams.from_settings(settings.strategy).names())
    )
    events: list[NewsEvent] = []
    if news is not None:
        if progress is not None:
            progress("news calendar", 0.0)
        events = read_calendar(news)
    result = Backtest(settings, agents, events).run(
        streams, scaled(progress, 0.0, 0.75 if report else 1.0)
    )
    times, eq, dd = equity_curve(result, settings.backtest.start_equity_quote)
    figures = summary(result, settings, times, eq, dd, time.perf_counter() - began)
    out.mkdir(parents=True, exist_ok=True)
    write_trades(out / "trades.csv", result.legs)
    write_equity(out / "equity.csv", times, eq, dd)
    write_summary(out / "summary.json", figures)
    if report:
        write_report(out, result, figures, times, eq, dd, progress=scaled(progress, 0.75, 1.0))
    return result, figures


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="greenlight backtest", description=__doc__)
    p.add_argument("data", nargs="+", type=Path, help="candle files (.csv, .csv.gz, .zip)")
    p.add_argument("--tf", required=True, choices=sorted(TIMEFRAMES_MS), help="timeframe")
    p.add_argument("--sub-tf", help="timeframe of the --sub files (intrabar path, micro-BOS)")
    p.add_argument("--sub", action="append", type=Path, default=[], help="finer candle file")
    p.add_argument("--funding", action="append", type=Path, default=[], help="funding file")
    p.add_argument("--from", dest="start", help="first candle open time (ISO-8601 UTC)")
    p.add_argument("--to", dest="end", help="end, exclusive (ISO-8601 UTC)")
    p.add_argument("--out", type=Path, default=Path("backtest-out"), help="output directory")
    p.add_argument(
        "--warmup",
        type=int,
        help="candles that only warm up, no decisions (default 0; with --walk-forward the"
        " candles before every window, default market.warmup_candles)",
    )
    p.add_argument("--approve-delay", type=int, help="bars before approval (default 0)")
    p.add_argument("--agent", help="decision agent (default: settings strategy.agent)")
    p.add_argument("--news", type=Path, help="news calendar for the news guard")
    p.add_argument(
        "--reproducible",
        action="store_true",
        help="write candles_per_second as null so summary.json is byte-identical run to run",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html and the PNGs")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2,…",
        help="a settings key and the values to try (repeat for more keys: their product)",
    )
    p.add_argument(
        "--walk-forward",
        metavar="train=6M,test=1M",
        help="rolling folds (M months, W weeks, D days): choose on train, run on test",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="what the grid maximises (default calmar)",
    )
    p.add_argument(
        "--min-trades",
        type=int,
        help="a grid point whose train run made fewer trades cannot be chosen (default 5)",
    )
    p.add_argument("--workers", type=int, help="train runs in parallel (default min(2, CPUs))")
    return p


def _overrides(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` with ``--approve-delay`` and ``--agent``."""
    update: dict[str, object] = {}
    if args.approve_delay is not None:
        update["backtest"] = settings.backtest.model_copy(
            update={"approve_delay_bars": args.approve_delay}
        )
    if args.agent:
        update["strategy"] = settings.strategy.model_copy(update={"agent": args.agent})
    return settings.model_copy(update=update)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of ``greenlight backtest`` (exits with the usage on a bad one)."""
    return _parser().parse_args(argv)


def execute(
    args: argparse.Namespace, settings: Settings, progress: Progress | None = None
) -> dict[str, object]:
    """Run the plain backtest ``args`` describe (no ``--grid``/``--walk-forward``) and write
    its files; returns ``summary.json``'s figures. Raises :class:`CandleFileError`,
    :class:`CalendarError`, ``ValueError`` or ``OSError`` on bad input. ``progress``: loading
    the files counts for the first 10 %."""
    settings = _overrides(args, settings)
    if progress is not None:
        progress("loading candles", 0.0)
    streams = load_streams(
        args.data,
        args.tf,
        settings,
        args.sub,
        args.funding,
        parse_time(args.start),
        parse_time(args.end),
        args.warmup or 0,
    )
    _, figures = backtest(
        streams,
        settings,
        args.out,
        args.news,
        report=not args.no_report,
        progress=scaled(progress, 0.1, 1.0),
    )
    if args.reproducible:
        figures["candles_per_second"] = None
        write_summary(args.out / "summary.json", figures)
    return figures


def run_backtest(argv: list[str], settings: Settings) -> int:
    """Entry point of ``greenlight backtest``; returns the exit code."""
    args = parse_args(argv)
    if args.grid or args.walk_forward:
        return run_grid(args, _overrides(args, settings))
    if args.objective or args.workers is not None or args.min_trades is not None:
        print(
            "error: --objective, --min-trades and --workers need --grid or --walk-forward",
            file=sys.stderr,
        )
        return 2
    bar = ProgressBar() if wanted(args.progress) else None
    try:
        figures = execute(args, settings, bar)
    except (CandleFileError, CalendarError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.finish()
    print(_headline(figures, args.out))
    return 0


def _headline(f: dict[str, object], out: Path) -> str:
    speed = f.get("candles_per_second")
    rate = format(speed, ",") if isinstance(speed, int) else "n/a"
    return f"{figures_line(f)}, {rate} candles/s → {out}/"
