"""The images of a sweep and a walk-forward (matplotlib, Agg canvas, no pyplot; no wall clock
in them, so the same inputs give the same bytes):

- ``walk_forward.png``: the stitched out-of-sample equity with a line at every fold boundary
  (labelled with the fold's chosen grid point) and the drawdown underneath;
- ``grid.png``: the objective of every grid point — a heatmap of fold × grid point on the train
  windows (the chosen point framed) for a walk-forward; for a sweep, bars over one key's
  values, a heatmap over two keys, bars per grid point beyond that.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.patches import Rectangle

from engine.backtest.grid import Axis, Point, cell
from engine.backtest.report_charts import BLUE, GREEN, GREY, RED, _figure, _png

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
WF_SIZE = (1000, 640)
GRID_SIZE = (900, 520)


def _short(point: Point) -> str:
    return ", ".join(cell(v) for _, v in point.values) or "base"


def walk_forward_png(
    times: I64,
    eq: F64,
    dd: F64,
    boundaries: list[int],
    labels: list[str],
    title: str,
) -> bytes:
    """Stitched out-of-sample equity, fold boundaries (``boundaries[k]`` is fold k's test
    start, ``labels[k]`` its chosen point) and the drawdown."""
    fig = _figure(WF_SIZE)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    top = fig.add_subplot(grid[0])
    low = fig.add_subplot(grid[1], sharex=top)
    x = times.astype("datetime64[ms]") if len(times) else np.array([0, 1], "datetime64[ms]")
    top.plot(x, eq if len(times) else np.zeros(2), color=BLUE, linewidth=1.3)
    top.set_ylabel("out-of-sample equity (quote)", color=BLUE)
    top.grid(True, alpha=0.3)
    top.set_title(title, loc="left", fontsize=11)
    low.fill_between(x, -(dd if len(times) else np.zeros(2)), 0, color=RED, alpha=0.35)
    low.set_ylabel("drawdown %")
    low.grid(True, alpha=0.3)
    every = max(1, math.ceil(len(boundaries) / 24))  # at most ~24 labels
    for k, (t, label) in enumerate(zip(boundaries, labels, strict=True)):
        d = float(date2num(np.datetime64(t, "ms")))  # type: ignore[no-untyped-call]
        for ax in (top, low):
            ax.axvline(d, color=GREY, linewidth=0.7, linestyle=":")
        if k % every == 0:
            top.text(
                d,
                1.0,
                f" {k + 1}: {label}",
                transform=top.get_xaxis_transform(),
                rotation=90,
                va="top",
                ha="left",
                fontsize=8,
                color=GREY,
            )
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    low.xaxis.set_major_locator(locator)
    low.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    top.tick_params(labelbottom=False)
    fig.subplots_adjust(left=0.09, right=0.97, top=0.94, bottom=0.07)
    return _png(fig)


def _text(s: float | None) -> str:
    if s is None:
        return "n/a"
    return "inf" if math.isinf(s) else f"{s:.2f}"


def _heatmap(
    colour: F64,
    texts: list[list[str]],
    rows: list[str],
    cols: list[str],
    title: str,
    xlabel: str,
    ylabel: str,
    framed: list[tuple[int, int]],
) -> bytes:
    fig = _figure(GRID_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    shown = np.ma.masked_invalid(colour)
    ax.imshow(shown, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    if colour.size <= 400:
        for i in range(colour.shape[0]):
            for j in range(colour.shape[1]):
                ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=9)
    for i, j in framed:
        ax.add_patch(
            Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.0)
        )
    step_r = max(1, math.ceil(len(rows) / 30))
    step_c = max(1, math.ceil(len(cols) / 20))
    ax.set_yticks(range(0, len(rows), step_r), rows[::step_r], fontsize=8)
    ax.set_xticks(range(0, len(cols), step_c), cols[::step_c], fontsize=8, rotation=30)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def folds_grid_png(
    scores: list[list[float | None]],
    colour: list[list[float]],
    chosen: list[int],
    grid: list[Point],
    objective: str,
) -> bytes:
    """Walk-forward ``grid.png``: the train objective per fold (rows) and grid point
    (columns), coloured by its place within the fold (green best), the chosen point framed."""
    values = np.array(colour, dtype=np.float64).reshape(len(scores), len(grid))
    texts = [[_text(s) for s in row] for row in scores]
    rows = [f"fold {k + 1}" for k in range(len(scores))]
    cols = [_short(p) for p in grid]
    keys = ", ".join(k for k, _ in grid[0].values) or "settings"
    return _heatmap(
        values,
        texts,
        rows,
        cols,
        f"Train {objective} per fold and grid point (green: best in its fold; chosen framed)",
        keys,
        "fold",
        [(k, c) for k, c in enumerate(chosen)],
    )


def sweep_png(
    scores: list[float | None],
    colour: list[float],
    chosen: int,
    grid: list[Point],
    axes: list[Axis],
    objective: str,
) -> bytes:
    """Sweep ``grid.png`` (see the module docstring); ``colour`` is each point's place
    (1 best, 0 worst) for the heatmap."""
    title = f"{objective} per grid point (best framed)"
    if len(axes) == 2:
        a, b = axes
        n = len(b.values)
        values = np.array(colour, dtype=np.float64).reshape(len(a.values), n)
        texts = [[_text(scores[i * n + j]) for j in range(n)] for i in range(len(a.values))]
        return _heatmap(
            values,
            texts,
            [cell(v) for v in a.values],
            [cell(v) for v in b.values],
            f"{objective} per grid point (green: best; best framed)",
            b.key,
            a.key,
            [divmod(chosen, n)],
        )
    fig = _figure(GRID_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    heights = np.array(
        [s if s is not None and math.isfinite(s) else 0.0 for s in scores], dtype=np.float64
    )
    colours = [GREEN if v >= 0 else RED for v in heights]
    bars = ax.bar(range(len(grid)), heights, color=colours)
    bars[chosen].set_edgecolor("black")
    bars[chosen].set_linewidth(2.0)
    for i, s in enumerate(scores):
        ax.text(i, heights[i], _text(s), ha="center", va="bottom", fontsize=8)
    step = max(1, math.ceil(len(grid) / 30))
    labels = [_short(p) for p in grid]
    ax.set_xticks(range(0, len(grid), step), labels[::step], fontsize=8, rotation=30)
    ax.axhline(0, color=GREY, linewidth=0.8)
    ax.set_xlabel(", ".join(a.key for a in axes) or "settings")
    ax.set_ylabel(objective)
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)
