"""The optional lower panels: RSI with 30/70 guides and MACD line, signal and histogram."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from charts.layers import set_frame
from charts.layout import Layout
from charts.pool import segments
from charts.scales import format_price, padded_range, price_ticks

MacdSeries = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _last_finite(values: npt.NDArray[np.float64]) -> float | None:
    idx = np.flatnonzero(np.isfinite(values))
    return float(values[idx[-1]]) if idx.size else None


def draw_rsi(
    layout: Layout,
    rsi: npt.NDArray[np.float64],
    xlim: tuple[float, float],
    xticks: tuple[list[float], list[str]],
) -> None:
    """Update the RSI line and its ``RSI 47.3`` caption."""
    frame, line = layout.rsi, layout.rsi_line
    assert frame is not None and line is not None
    set_frame(frame, xlim, (0.0, 100.0), xticks, ([30.0, 50.0, 70.0], ["30", "50", "70"]))
    line.set_data(np.arange(rsi.shape[0]), rsi)
    last = _last_finite(rsi)
    frame.label.set_text("RSI" if last is None else f"RSI {last:.1f}")


@dataclass(frozen=True)
class MacdScale:
    """Vertical range and tick labels of the MACD panel."""

    ylim: tuple[float, float]
    ticks: list[float]
    labels: list[str]
    decimals: int


def macd_scale(macd: MacdSeries) -> MacdScale:
    """Symmetric range around zero fitting every finite MACD value, with round ticks."""
    finite = np.concatenate([v[np.isfinite(v)] for v in macd])
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound or 1.0
    ticks, decimals = price_ticks(-bound, bound, max_ticks=4)
    labels = [format_price(t, decimals) for t in ticks]
    return MacdScale(padded_range(-bound, bound, 0.08), ticks, labels, decimals)


def draw_macd(
    layout: Layout,
    macd: MacdSeries,
    scale: MacdScale,
    xlim: tuple[float, float],
    xticks: tuple[list[float], list[str]],
    bar_pt: float,
) -> None:
    """Update MACD line, signal and histogram and the panel's scale."""
    line, signal, hist = macd
    frame, artists = layout.macd, layout.macd_lines
    assert frame is not None and artists is not None
    x = np.arange(line.shape[0], dtype=np.float64)
    artists[0].set_data(x, line)
    artists[1].set_data(x, signal)
    ok = np.isfinite(hist)
    for bars, mask in ((artists[2], ok & (hist >= 0)), (artists[3], ok & (hist < 0))):
        bars.set_data(*segments(x[mask], np.zeros(int(mask.sum())), hist[mask]))
        bars.set_linewidth(bar_pt)
    set_frame(frame, xlim, scale.ylim, xticks, (scale.ticks, scale.labels))
    values = [_last_finite(v) for v in macd]
    text = "MACD"
    if all(v is not None for v in values):
        digits = max(scale.decimals, 1)
        text += "  " + "  ".join(format_price(v, digits) for v in values if v is not None)
    frame.label.set_text(text)
