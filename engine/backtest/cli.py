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
from datetime import UTC, datetime
from pathlib import Path

from engine.agents.registry import load_agents
from engine.backtest.output import write_equity, write_summary, write_trades
from engine.backtest.progress import ProgressBar, wanted
from engine.backtest.report import write_report
from engine.backtest.run import Backtest, Result, Stream
from engine.backtest.stats import equity_curve, summary
from engine.backtest.walkforward import OBJECTIVES
from engine.features import FeatureParams
from engine.guards.news_calendar import CalendarError, read_calendar
from engine.micro_stream import micro_smc_params
from engine.retest.micro import micro_bos_flags
from greenlight.core.candlefile import CandleArrays, CandleFileError, read_candles
from greenlight.core.contracts import Market
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from sim.usdm.setup import read_series


def _symbol(path: Path) -> str:
    return path.name.split("-")[0].split("_")[0].split(".")[0].upper()


def parse_time(text: str | None) -> int | None:
    """``--from``/``--to``: ISO-8601 (UTC when no zone is given) → epoch ms; None for none."""
    if not text:
        return None
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)


def _window(c: CandleArrays, lo: int | None, hi: int | None) -> CandleArrays:
    t = c.open_time
    keep = (t >= (lo if lo is not None else t.min(initial=0))) & (
        t < (hi if hi is not None else (1 << 62))
    )
    return CandleArrays(
        t[keep],
        c.open[keep],
        c.high[keep],
        c.low[keep],
        c.close[keep],
        c.volume[keep],
        c.has_volume,
    )


def load_streams(
    data: list[Path],
    tf: str,
    settings: Settings,
    sub: list[Path] | None = None,
    funding: list[Path] | None = None,
    start: int | None = None,
    end: int | None = None,
    warmup: int = 0,
) -> list[Stream]:
    """The streams of the DATA files (see the module docstring); the first ``warmup``
    candles of each only warm the stages up, as the live engine's warm-up does."""
    subs = {_symbol(p): p for p in sub or []}
    rates = {_symbol(p): read_series(p) for p in funding or []}
    streams = []
    for path in data:
        sym = _symbol(path)
        name = path.name.lower()
        market = Market.USDM if "perp" in name or "futures" in name else Market.SPOT
        c = _window(read_candles(path), start, end)
        st = Stream(sym, market, tf, c, warmup=warmup)
        if sym in subs:
            st.sub = _window(read_candles(subs[sym]), start, end)
            st.micro = micro_bos_flags(
                c.open_time, TIMEFRAMES_MS[tf], st.sub, micro_smc_params(settings)
            )
        if sym in rates:
            st.funding = (rates[sym].open_time, rates[sym].open)
        streams.append(st)
    return streams


def backtest(
    streams: list[Stream],
    settings: Settings,
    out: Path,
    news: Path | None = None,
    *,
    report: bool = True,
    progress: ProgressBar | None = None,
) -> tuple[Result, dict[str, object]]:
    """Run and write ``trades.csv``, ``equity.csv`` and ``summary.json`` into ``out``, and
    with ``report`` ``report.html`` and its PNG files (:mod:`engine.backtest.report`).
    ``progress`` is drawn while the backtest runs (never into the files)."""
    began = time.perf_counter()
    agents = load_agents(
        settings, frozenset(FeatureParams.from_settings(settings.strategy).names())
    )
    events = read_calendar(news) if news is not None else []
    result = Backtest(settings, agents, events).run(streams, progress)
    if progress is not None:
        progress.finish()
    times, eq, dd = equity_curve(result, settings.backtest.start_equity_quote)
    figures = summary(result, settings, times, eq, dd, time.perf_counter() - began)
    out.mkdir(parents=True, exist_ok=True)
    write_trades(out / "trades.csv", result.legs)
    write_equity(out / "equity.csv", times, eq, dd)
    write_summary(out / "summary.json", figures)
    if report:
        write_report(out, result, figures, times, eq, dd)
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


def run_backtest(argv: list[str], settings: Settings) -> int:
    """Entry point of ``greenlight backtest``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.grid or args.walk_forward:
        from engine.backtest.wf_cli import run_grid  # it builds on this module

        return run_grid(args, _overrides(args, settings))
    if args.objective or args.workers is not None:
        print("error: --objective and --workers need --grid or --walk-forward", file=sys.stderr)
        return 2
    settings = _overrides(args, settings)
    try:
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
        bar = ProgressBar() if wanted(args.progress) else None
        result, figures = backtest(
            streams, settings, args.out, args.news, report=not args.no_report, progress=bar
        )
    except (CandleFileError, CalendarError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.reproducible:
        figures["candles_per_second"] = None
        write_summary(args.out / "summary.json", figures)
    print(_headline(figures, args.out))
    return 0


def figures_line(f: dict[str, object]) -> str:
    """The key figures in one line (``69976 candles, 30 trades: win rate 30.0%, …``)."""

    def num(key: str, fmt: str) -> str:
        v = f.get(key)
        return format(v, fmt) if isinstance(v, int | float) else "n/a"

    return (
        f"{f['candles']} candles, {f['trades']} trades: win rate {num('win_rate', '.1%')}, "
        f"profit factor {num('profit_factor', '.2f')}, expectancy {num('expectancy_r', '+.2f')}R, "
        f"max drawdown {num('max_drawdown_pct', '.2f')}%, equity {f['start_equity_quote']} → "
        f"{f['final_equity_quote']} (fees {f['fees_quote']})"
    )


def _headline(f: dict[str, object], out: Path) -> str:
    speed = f.get("candles_per_second")
    rate = format(speed, ",") if isinstance(speed, int) else "n/a"
    return f"{figures_line(f)}, {rate} candles/s → {out}/"
