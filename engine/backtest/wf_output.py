"""The files of a sweep and a walk-forward in ``--out`` (times ISO-8601 UTC; the bytes depend
only on the inputs and the settings, never on the wall clock or the number of workers).

Sweep: ``grid.csv`` (one row per grid point over the whole range) and ``grid.png``.

Walk-forward: ``folds.csv`` (one row per fold: windows, chosen point, its train objective, the
test run's figures), ``grid.csv`` (one row per fold × grid point: the train run's figures),
the stitched out-of-sample ``trades.csv``, ``equity.csv`` and ``summary.json`` (the keys of a
plain backtest's, ``candles`` counting the test windows' candles, plus ``walk_forward``),
``walk_forward.png``, ``grid.png`` and ``report.html`` (the plain report of the stitched
result with the folds table).
"""

from __future__ import annotations

import csv
import html
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.backtest.folds import Period
from engine.backtest.grid import Axis, Point, cell
from engine.backtest.output import day, iso, write_equity, write_summary, write_trades
from engine.backtest.report import write_report
from engine.backtest.stats import summary
from engine.backtest.walkforward import Job, SweepResult, WalkForward, score, standing
from engine.backtest.wf_charts import folds_grid_png, sweep_png, walk_forward_png

FIGURES = (
    "trades",
    "win_rate",
    "profit_factor",
    "expectancy_r",
    "calmar",
    "sharpe",
    "max_drawdown_pct",
    "return_pct",
)
TEST_FIGURES = ("trades", "pnl_quote", "win_rate", "profit_factor", "max_drawdown_pct")
FOLD_COLUMNS_HEAD = ["fold", "train_from", "train_to", "test_from", "test_to"]
FOLD_COLUMNS_TAIL = [
    "train_objective",
    "train_trades",
    "test_trades",
    "test_pnl_quote",
    "test_win_rate",
    "test_profit_factor",
    "test_max_drawdown_pct",
    "test_objective",
    "test_start_equity_quote",
    "test_final_equity_quote",
]


def num(v: Any) -> str:
    """A CSV cell: empty for None, ``inf`` for infinity, numbers as Python writes them."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return str(v)


def _json(v: float | None) -> float | str | None:
    return "inf" if v is not None and math.isinf(v) else v


def pnl(figures: dict[str, Any]) -> str:
    """Final minus start equity, in quote (two decimals, as ``final_equity_quote``)."""
    final, start = figures["final_equity_quote"], figures["start_equity_quote"]
    return format(Decimal(final) - Decimal(start), "f")


def _row(figures: dict[str, Any]) -> list[str]:
    return [num(figures.get(k)) for k in FIGURES] + [pnl(figures)]


def _write(path: Path, head: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(head)
        w.writerows(rows)


def write_sweep(
    out: Path, job: Job, axes: list[Axis], sw: SweepResult, *, image: bool = True
) -> None:
    """``grid.csv`` and (with ``image``) ``grid.png`` of a sweep."""
    out.mkdir(parents=True, exist_ok=True)
    keys = [a.key for a in axes]
    head = ["from", "to", *keys, *FIGURES, "pnl_quote", "objective", "best"]
    rows = [
        [iso(sw.start), iso(sw.end), *[cell(v) for _, v in p.values], *_row(f)]
        + [num(s), num(i == sw.chosen)]
        for i, (p, f, s) in enumerate(zip(job.grid, sw.figures, sw.scores, strict=True))
    ]
    _write(out / "grid.csv", head, rows)
    if image:
        colour = standing(sw.figures, job.objective, job.min_trades)
        png = sweep_png(sw.scores, colour, sw.chosen, job.grid, axes, job.objective)
        (out / "grid.png").write_bytes(png)


def write_walk_forward(
    out: Path,
    job: Job,
    axes: list[Axis],
    wf: WalkForward,
    train: Period,
    test: Period,
    *,
    report: bool = True,
) -> dict[str, Any]:
    """Every walk-forward file (see the module docstring; without ``report`` no
    ``report.html`` and no PNG); returns ``summary.json``'s dict."""
    out.mkdir(parents=True, exist_ok=True)
    keys = [a.key for a in axes]
    grid_rows = []
    fold_rows = []
    for fr in wf.folds:
        f = fr.fold
        for i, (p, figs) in enumerate(zip(job.grid, fr.train, strict=True)):
            grid_rows.append(
                [str(f.number), iso(f.train_from), iso(f.train_to), *_values(p), *_row(figs)]
                + [num(fr.scores[i]), num(i == fr.chosen)]
            )
        t = fr.test.figures
        test_cells = [pnl(t) if k == "pnl_quote" else num(t.get(k)) for k in TEST_FIGURES]
        fold_rows.append(
            [str(f.number), iso(f.train_from), iso(f.train_to), iso(f.test_from), iso(f.test_to)]
            + _values(job.grid[fr.chosen])
            + [num(fr.scores[fr.chosen]), num(fr.train[fr.chosen]["trades"])]
            + test_cells
            + [num(score(t, job.objective)), format(fr.test_start_equity, "f")]
            + [t["final_equity_quote"]]
        )
    _write(
        out / "grid.csv",
        ["fold", "train_from", "train_to", *keys, *FIGURES, "pnl_quote", "objective", "chosen"],
        grid_rows,
    )
    _write(out / "folds.csv", FOLD_COLUMNS_HEAD + keys + FOLD_COLUMNS_TAIL, fold_rows)
    figures = summary(wf.result, job.settings, wf.times, wf.eq, wf.dd, 0.0)
    figures["walk_forward"] = _section(job, axes, wf, train, test, figures)
    write_trades(out / "trades.csv", wf.result.legs)
    write_equity(out / "equity.csv", wf.times, wf.eq, wf.dd)
    write_summary(out / "summary.json", figures)
    if report:
        _images(out, job, wf, train, test, keys, figures)
    return figures


def _images(
    out: Path,
    job: Job,
    wf: WalkForward,
    train: Period,
    test: Period,
    keys: list[str],
    figures: dict[str, Any],
) -> None:
    labels = [_values_label(job.grid[fr.chosen]) for fr in wf.folds]
    span = f"{iso(wf.folds[0].fold.test_from)} → {iso(wf.folds[-1].fold.test_to)}"
    title = f"Walk-forward out-of-sample · train {train}, test {test} · {span}"
    bounds = [fr.fold.test_from for fr in wf.folds]
    (out / "walk_forward.png").write_bytes(
        walk_forward_png(wf.times, wf.eq, wf.dd, bounds, labels, title)
    )
    chosen = [fr.chosen for fr in wf.folds]
    (out / "grid.png").write_bytes(
        folds_grid_png(
            [fr.scores for fr in wf.folds],
            [standing(fr.train, job.objective, job.min_trades) for fr in wf.folds],
            chosen,
            job.grid,
            job.objective,
        )
    )
    write_report(
        out,
        wf.result,
        figures,
        wf.times,
        wf.eq,
        wf.dd,
        heading="Walk-forward (out of sample)",
        extra=_report_section(job, wf, keys, figures["walk_forward"]),
    )


def _values(p: Point) -> list[str]:
    return [cell(v) for _, v in p.values]


def _values_label(p: Point) -> str:
    return ", ".join(_values(p)) or "base"


def _section(
    job: Job, axes: list[Axis], wf: WalkForward, train: Period, test: Period, oos: dict[str, Any]
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for fr in wf.folds:
        label = job.grid[fr.chosen].label()
        counts[label] = counts.get(label, 0) + 1
    chosen_train = [fr.scores[fr.chosen] for fr in wf.folds]
    finite = [s for s in chosen_train if s is not None and math.isfinite(s)]
    return {
        "objective": job.objective,
        "min_trades": job.min_trades,
        "train": str(train),
        "test": str(test),
        "warmup_candles": job.warmup,
        "grid": {a.key: list(a.values) for a in axes},
        "grid_points": len(job.grid),
        "folds": len(wf.folds),
        "from": iso(wf.folds[0].fold.test_from),
        "to": iso(wf.folds[-1].fold.test_to),
        "train_objective_mean": round(sum(finite) / len(finite), 6) if finite else None,
        "oos_objective": _json(score(oos, job.objective)),
        "chosen_counts": dict(sorted(counts.items())),
        "fold_choices": [
            {
                "fold": fr.fold.number,
                "test_from": iso(fr.fold.test_from),
                "params": {k: v for k, v in job.grid[fr.chosen].values},
                "train_objective": _json(fr.scores[fr.chosen]),
                "test_trades": fr.test.figures["trades"],
                "test_pnl_quote": pnl(fr.test.figures),
            }
            for fr in wf.folds
        ],
    }


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.1%}"


def _two(v: Any) -> str:
    if v is None:
        return "n/a"
    return num(v) if isinstance(v, float) and math.isinf(v) else f"{float(v):,.2f}"


def _report_section(job: Job, wf: WalkForward, keys: list[str], section: dict[str, Any]) -> str:
    obj = job.objective
    head = ["fold", "train", "test", *keys, f"train {obj}", "train trades"]
    head += ["test trades", "test PnL", "win rate", "profit factor", "max DD %", f"test {obj}"]
    head += ["equity after"]
    rows = []
    for fr in wf.folds:
        f, t = fr.fold, fr.test.figures
        cells = [
            str(f.number),
            f"{day(f.train_from)} → {day(f.train_to)}",
            f"{day(f.test_from)} → {day(f.test_to)}",
            *_values(job.grid[fr.chosen]),
            _two(fr.scores[fr.chosen]),
            str(fr.train[fr.chosen]["trades"]),
            str(t["trades"]),
            f"{float(pnl(t)):+,.2f}",
            _pct(t["win_rate"]),
            _two(t["profit_factor"]),
            _two(t["max_drawdown_pct"]),
            _two(score(t, obj)),
            f"{float(t['final_equity_quote']):,.2f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    grid = ", ".join(
        f"{k} ∈ {{{', '.join(cell(v) for v in vs)}}}" for k, vs in section["grid"].items()
    )
    return (
        "<h2>Walk-forward folds</h2>"
        f"<p>train {html.escape(section['train'])}, test {html.escape(section['test'])}, "
        f"objective <b>{html.escape(obj)}</b>, {section['folds']} folds, "
        f"{html.escape(grid or 'no grid (the settings as they are)')}; "
        f"{section['warmup_candles']} warm-up candles before every window, never traded. "
        "Each fold's setting is chosen on its train window only; the key figures above are "
        "the test windows stitched end to end (<a href='folds.csv'>folds.csv</a>, "
        "<a href='grid.csv'>grid.csv</a>).</p>"
        '<img src="walk_forward.png" alt="out-of-sample equity with fold boundaries">'
        f"<table><tr>{th}</tr>{''.join(rows)}</table>"
        '<img src="grid.png" alt="train objective per fold and grid point">'
    )
