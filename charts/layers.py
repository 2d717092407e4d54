"""Drawing of the price panel: axes (limits, grid, tick labels), candles, overlay lines with a
legend, zones, levels with de-overlapped labels, swing and structure markers and the
last-price tag. Functions that create artists return them so the renderer removes them next
time; everything else updates persistent artists and pools in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from charts import theme
from charts.layout import Z_LEVEL, Z_LINE, Z_STRUCT, Z_ZONE, Frame, Layout
from charts.pool import PoolItem, segments
from charts.scales import format_price, time_to_x
from charts.spec import Level, Marker, Zone
from greenlight.core.candlefile import CandleArrays

BODY_FRACTION = 0.68  # of the space per candle
LEGEND_GAP_PX = 14.0


def set_frame(
    frame: Frame,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    xticks: tuple[list[float], list[str]],
    yticks: tuple[list[float], list[str]],
) -> None:
    """Limits, grid lines and tick labels of one axes."""
    frame.ax.set_xlim(*xlim)
    frame.ax.set_ylim(*ylim)
    nan = float("nan")
    xs, ys = xticks[0], yticks[0]
    frame.vgrid.set_data([v for x in xs for v in (x, x, nan)], [v for _ in xs for v in (0, 1, nan)])
    frame.hgrid.set_data([v for _ in ys for v in (0, 1, nan)], [v for y in ys for v in (y, y, nan)])
    frame.yticks.show([(1.0, y, s) for y, s in zip(*yticks, strict=True)])
    if frame.xticks is not None:
        frame.xticks.show([(x, 0.0, s) for x, s in zip(*xticks, strict=True)])


def draw_candles(layout: Layout, c: CandleArrays, price_per_px: float, px_per_row: float) -> None:
    """Update the four candle polylines; bodies are thick butt-capped vertical strokes."""
    x = np.arange(len(c), dtype=np.float64)
    up = c.close >= c.open
    lo = np.minimum(c.open, c.close)
    hi = np.maximum(c.open, c.close)
    # A doji still shows a 1 px body.
    short = (hi - lo) < price_per_px
    mid = (hi + lo) / 2
    lo = np.where(short, mid - price_per_px / 2, lo)
    hi = np.where(short, mid + price_per_px / 2, hi)
    # Whole-pixel stroke widths keep snapped candles crisp instead of smeared over two columns.
    body_pt = max(1, round(BODY_FRACTION * px_per_row)) * 72.0 / theme.DPI
    wick_pt = 72.0 / theme.DPI
    k = layout.candles
    for mask, wick, body in ((up, k.wick_up, k.body_up), (~up, k.wick_down, k.body_down)):
        wick.set_data(*segments(x[mask], c.low[mask], c.high[mask]))
        wick.set_linewidth(wick_pt)
        body.set_data(*segments(x[mask], lo[mask], hi[mask]))
        body.set_linewidth(body_pt)


def draw_lines(layout: Layout, lines: Mapping[str, npt.NDArray[np.float64]]) -> list[Artist]:
    """Overlay lines (EMAs …) and a legend of their names in their colours, top-left."""
    ax = layout.price.ax
    artists: list[Artist] = []
    items: list[PoolItem] = []
    colours: list[str] = []
    prop = FontProperties(size=theme.FONT_SMALL, weight="bold")
    x_px = 6.0
    for k, (name, values) in enumerate(lines.items()):
        colour = theme.LINE_COLOURS[k % len(theme.LINE_COLOURS)]
        line = Line2D(
            np.arange(values.shape[0]), values, color=colour, linewidth=1.4, zorder=Z_LINE
        )
        artists.append(ax.add_line(line))
        text = f"━ {name}"
        items.append((x_px / ax.bbox.width, 1 - 6 / ax.bbox.height, text))
        colours.append(colour)
        width = layout.canvas.text_width(text, prop)
        x_px += width + LEGEND_GAP_PX
    layout.labels.legend.show(items, colours)
    return artists


def draw_zones(
    layout: Layout, zones: Sequence[Zone], open_time: npt.NDArray[np.int64], x_right: float
) -> list[Artist]:
    """Translucent boxes; order blocks stronger than fair value gaps, which get a dashed edge."""
    ax = layout.price.ax
    artists: list[Artist] = []
    items: list[PoolItem] = []
    colours: list[str] = []
    first, last, last_x = int(open_time[0]), int(open_time[-1]), open_time.shape[0] - 1
    for z in zones:
        if (z.end_time is not None and z.end_time < first) or z.start_time > last:
            continue  # entirely outside the window
        x0 = max(time_to_x(open_time, z.start_time) - 0.5, -0.5)
        x1 = x_right if z.end_time is None else min(time_to_x(open_time, z.end_time), last_x) + 0.5
        colour = theme.ZONE_COLOURS[z.direction]
        rect = Rectangle(
            (x0, z.bottom),
            x1 - x0,
            z.top - z.bottom,
            facecolor=to_rgba(colour, theme.ZONE_ALPHA[z.kind]),
            edgecolor=to_rgba(colour, 0.55),
            linewidth=0.8,
            linestyle="-" if z.kind == "ob" else (0, (3, 2)),
            zorder=Z_ZONE,
        )
        artists.append(ax.add_patch(rect))
        items.append((x0 + 0.6, z.top, "OB" if z.kind == "ob" else "FVG"))
        colours.append(colour)
    layout.labels.zone.show(items, colours)
    return artists


def spread_labels(prices: list[float], min_gap: float) -> list[float]:
    """Label positions near ``prices`` (same order) at least ``min_gap`` apart."""
    order = sorted(range(len(prices)), key=lambda i: prices[i])
    placed = [prices[i] for i in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + min_gap)
    # Centre the pushed cluster back on the original prices so nothing drifts one way only.
    shift = (sum(placed) - sum(prices[i] for i in order)) / max(len(placed), 1)
    out = [0.0] * len(prices)
    for k, i in enumerate(order):
        out[i] = placed[k] - shift
    return out


def draw_levels(layout: Layout, levels: Sequence[Level], price_per_px: float) -> list[Artist]:
    """Horizontal lines across the panel, labels in coloured boxes at the right edge."""
    ax = layout.price.ax
    artists: list[Artist] = []
    labelled = [lv for lv in levels if lv.label]
    label_y = spread_labels([lv.price for lv in labelled], 19 * price_per_px)
    for lv in levels:
        line = Line2D(
            [0, 1],
            [lv.price, lv.price],
            transform=ax.get_yaxis_transform(),
            color=theme.LEVEL_COLOURS[lv.kind],
            linewidth=theme.LEVEL_WIDTH,
            linestyle=(0, (6, 3)) if lv.kind == "other" else "-",
            zorder=Z_LEVEL,
        )
        artists.append(ax.add_line(line))
    layout.labels.level.show(
        [(0.995, y, lv.label) for lv, y in zip(labelled, label_y, strict=True)],
        [theme.LEVEL_COLOURS[lv.kind] for lv in labelled],
    )
    return artists


def draw_markers(
    layout: Layout, markers: Sequence[Marker], open_time: npt.NDArray[np.int64]
) -> list[Artist]:
    """Swing labels above highs / below lows; BOS and CHOCH as dashed lines with text; fills
    as triangles at their price (▲ buy, ▼ sell)."""
    ax = layout.price.ax
    first, last = int(open_time[0]), int(open_time[-1])
    highs: list[PoolItem] = []
    lows: list[PoolItem] = []
    struct: list[PoolItem] = []
    colours: list[str] = []
    artists: list[Artist] = []
    for m in markers:
        if m.time < first or m.time > last:
            continue
        x = time_to_x(open_time, m.time)
        if m.kind in ("swing_high", "swing_low"):
            (highs if m.kind == "swing_high" else lows).append((x, m.price, m.text))
            continue
        if m.kind in ("buy", "sell"):
            artists.append(ax.add_line(_fill_marker(x, m.price, m.kind)))
            continue
        x0 = time_to_x(open_time, m.ref_time if m.ref_time is not None else m.time)
        colour = theme.STRUCTURE_COLOURS[m.kind]
        line = Line2D(
            [x0, x],
            [m.price, m.price],
            color=colour,
            linewidth=1.1,
            linestyle=(0, (4, 2.5)),
            zorder=Z_STRUCT,
        )
        artists.append(ax.add_line(line))
        struct.append(((x0 + x) / 2, m.price, m.text))
        colours.append(colour)
    layout.labels.swing_high.show(highs)
    layout.labels.swing_low.show(lows)
    layout.labels.structure.show(struct, colours)
    return artists


def _fill_marker(x: float, price: float, kind: str) -> Line2D:
    return Line2D(
        [x],
        [price],
        marker="^" if kind == "buy" else "v",
        markersize=9,
        markerfacecolor=theme.FILL_COLOURS[kind],
        markeredgecolor="white",
        markeredgewidth=0.8,
        linestyle="None",
        zorder=Z_STRUCT + 1,
    )


def draw_price_tag(layout: Layout, c: CandleArrays, decimals: int) -> None:
    """The last close in a tag over the price axis, coloured like the last candle."""
    close = float(c.close[-1])
    colour = theme.CANDLE_UP if close >= float(c.open[-1]) else theme.CANDLE_DOWN
    layout.labels.tag.show([(1.0, close, format_price(close, decimals))], [colour])
