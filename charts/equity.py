"""An equity curve as PNG (matplotlib, Agg): one line per market, for /pnl and the daily
summary."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from charts import theme

COLOURS = {"spot": "#2b8a3e", "usdm": "#1864ab"}


def render_equity_png(
    title: str, series: dict[str, Sequence[tuple[datetime, float]]], tz_name: str = "UTC"
) -> bytes:
    """PNG bytes of the equity curves (``market → [(time, equity)]``, at least one point)."""
    if not any(series.values()):
        raise ValueError("render_equity_png: no equity points")
    fig = Figure(figsize=(8.0, 4.0), dpi=theme.DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for market, points in series.items():
        if not points:
            continue
        times = np.array(
            [t.astimezone(UTC).replace(tzinfo=None) for t, _ in points], dtype="datetime64[ms]"
        )
        values = np.array([v for _, v in points], dtype=np.float64)
        label = f"{market} {float(values[-1]):,.2f}"
        colour = COLOURS.get(market, "#495057")
        marker = "o" if len(points) <= 30 else ""  # few samples: show each one
        ax.plot(
            times,
            values,
            drawstyle="steps-post",
            linewidth=1.6,
            label=label,
            color=colour,
            marker=marker,
            markersize=4,
        )
    low, high = ax.get_xlim()
    if high - low < 1 / 24:  # one moment only: show the hour around it
        mid = (low + high) / 2
        ax.set_xlim(mid - 1 / 48, mid + 1 / 48)
    locator = AutoDateLocator(tz=tz_name)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=tz_name)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_ylabel("equity (USDT)")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    canvas.print_png(buf)  # type: ignore[no-untyped-call]
    return buf.getvalue()
