"""The report's figures (matplotlib, Agg canvas, no pyplot): ``equity.png`` (equity in quote
and in R with the drawdown underneath), the monthly returns bars and the R-multiple histogram,
plus the tables they come from (monthly returns, attribution by agent and by exit reason).

Everything here depends only on the backtest's result, so the images are the same bytes run to
run (matplotlib writes no timestamp into a PNG).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from engine.backtest.run import TradeLeg

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DPI = 100
EQUITY_SIZE = (1000, 720)  # pixels of equity.png
SMALL_SIZE = (800, 320)  # pixels of monthly.png and r_hist.png
GREEN, RED, BLUE, GREY = "#2b8a3e", "#c92a2a", "#1864ab", "#868e96"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf, metadata={"Software": None})  # type: ignore[no-untyped-call]
    return buf.getvalue()


def _figure(size: tuple[int, int]) -> Figure:
    return Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)


def _dates(times: I64) -> npt.NDArray[np.datetime64]:
    return times.astype("datetime64[ms]")


def r_curve(times: I64, legs: list[TradeLeg]) -> F64:
    """Cumulative R at each time of ``times``: every exit leg's R counts from its exit."""
    out = np.zeros(len(times))
    for leg in legs:
        k = int(np.searchsorted(times, leg.exit_time, side="left"))
        out[k:] += float(leg.r_multiple)
    return out


def equity_png(times: I64, eq: F64, dd: F64, r: F64, title: str) -> bytes:
    """``equity.png``: equity in quote (left axis) and in R (right axis), drawdown below."""
    fig = _figure(EQUITY_SIZE)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    top = fig.add_subplot(grid[0])
    low = fig.add_subplot(grid[1], sharex=top)
    x = _dates(times) if len(times) else np.array([0, 1], dtype="datetime64[ms]")
    y = eq if len(times) else np.zeros(2)
    top.plot(x, y, color=BLUE, linewidth=1.3, label="equity (quote)")
    top.set_ylabel("equity (quote)", color=BLUE)
    right = top.twinx()
    right.plot(x, r if len(times) else np.zeros(2), color=GREEN, linewidth=1.0, label="R")
    right.set_ylabel("cumulative R", color=GREEN)
    top.grid(True, alpha=0.3)
    top.set_title(title, loc="left", fontsize=11)
    low.fill_between(x, -(dd if len(times) else np.zeros(2)), 0, color=RED, alpha=0.35)
    low.set_ylabel("drawdown %")
    low.grid(True, alpha=0.3)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    low.xaxis.set_major_locator(locator)
    low.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    top.tick_params(labelbottom=False)
    fig.subplots_adjust(left=0.09, right=0.91, top=0.94, bottom=0.07)
    return _png(fig)


@dataclass(frozen=True)
class Month:
    """One calendar month (UTC) of the equity curve."""

    month: str  # YYYY-MM
    return_pct: float


def monthly_returns(times: I64, eq: F64, start: float) -> list[Month]:
    """Each month's return: its last equity over the previous month's last (``start`` first)."""
    if not len(times):
        return []
    months = _dates(times).astype("datetime64[M]")
    last = np.flatnonzero(np.diff(months.astype(np.int64), append=months[-1].astype(np.int64) + 1))
    out, before = [], start
    for k in last.tolist():
        end = float(eq[k])
        out.append(Month(str(months[k]), (end / before - 1) * 100 if before else 0.0))
        before = end
    return out


def monthly_png(months: list[Month]) -> bytes:
    """Bars of the monthly returns (green up, red down)."""
    fig = _figure(SMALL_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    values = [m.return_pct for m in months]
    ax.bar(range(len(months)), values, color=[GREEN if v >= 0 else RED for v in values])
    step = max(1, math.ceil(len(months) / 12))
    ax.set_xticks(range(0, len(months), step), [m.month for m in months][::step], fontsize=8)
    ax.axhline(0, color=GREY, linewidth=0.8)
    ax.set_ylabel("return %")
    ax.set_title("Monthly returns", loc="left", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def decision_r(legs: list[TradeLeg]) -> list[float]:
    """R of every decision (its legs summed), in decision id order."""
    by: dict[str, float] = {}
    for leg in legs:
        by[leg.decision_id] = by.get(leg.decision_id, 0.0) + float(leg.r_multiple)
    return [by[k] for k in sorted(by)]


def r_hist_png(rs: list[float]) -> bytes:
    """Histogram of the decisions' R multiples in 0.25 R bins."""
    fig = _figure(SMALL_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    if rs:
        lo, hi = math.floor(min(rs) * 4) / 4, math.ceil(max(rs) * 4) / 4 + 0.25
        bins = np.arange(lo, hi + 0.25, 0.25)
        counts, edges = np.histogram(rs, bins=bins)
        colours = [GREEN if e >= 0 else RED for e in edges[:-1]]
        ax.bar(edges[:-1], counts, width=0.25, align="edge", color=colours, edgecolor="white")
    ax.axvline(0, color=GREY, linewidth=0.8)
    ax.set_xlabel("R multiple per decision")
    ax.set_ylabel("decisions")
    ax.set_title(f"R distribution ({len(rs)} decisions)", loc="left", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


@dataclass(frozen=True)
class Row:
    """One line of an attribution table."""

    key: str
    count: int
    wins: int
    total_r: float
    pnl_quote: float

    @property
    def win_rate(self) -> float:
        """Share of positive rows, 0..1."""
        return self.wins / self.count if self.count else 0.0

    @property
    def avg_r(self) -> float:
        """Mean R."""
        return self.total_r / self.count if self.count else 0.0


def _rows(items: Iterable[tuple[str, float, float]]) -> list[Row]:
    acc: dict[str, list[float]] = {}
    for key, r, pnl in items:
        a = acc.setdefault(key, [0, 0, 0.0, 0.0])
        a[0] += 1
        a[1] += 1 if pnl > 0 else 0
        a[2] += r
        a[3] += pnl
    return [Row(k, int(a[0]), int(a[1]), a[2], a[3]) for k, a in sorted(acc.items())]


def by_agent(legs: list[TradeLeg]) -> list[Row]:
    """Per agent: decisions, winners, total and mean R, PnL."""
    dec: dict[str, tuple[str, float, float]] = {}
    for leg in legs:
        agent, r, pnl = dec.get(leg.decision_id, (leg.agent, 0.0, 0.0))
        dec[leg.decision_id] = (agent, r + float(leg.r_multiple), pnl + float(leg.pnl_quote))
    return _rows(dec[k] for k in sorted(dec))


def by_exit_reason(legs: list[TradeLeg]) -> list[Row]:
    """Per exit reason: exit legs, winning legs, total and mean R, PnL."""
    return _rows((leg.exit_reason, float(leg.r_multiple), float(leg.pnl_quote)) for leg in legs)


def pick_snapshots(legs: list[TradeLeg], n: int = 4) -> list[str]:
    """Decision ids worth a chart: the best and the worst decisions by R (``n`` at most)."""
    by: dict[str, float] = {}
    for leg in legs:
        by[leg.decision_id] = by.get(leg.decision_id, 0.0) + float(leg.r_multiple)
    ranked = sorted(by, key=lambda d: (-by[d], d))
    picked: list[str] = []
    for d in [*ranked[: (n + 1) // 2], *reversed(ranked[-(n // 2) :] if n // 2 else [])]:
        if d not in picked:
            picked.append(d)
    return picked[:n]
