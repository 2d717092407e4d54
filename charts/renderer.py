"""Render a ChartSpec to PNG bytes or a file, reusing one figure per panel combination."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.font_manager import FontProperties

from charts import layers, panels, theme
from charts.layout import Layout, build_layout
from charts.png import encode_rgb_png
from charts.scales import (
    format_price,
    format_utc,
    padded_range,
    price_ticks,
    quoted_decimals,
    time_ticks,
    time_to_x,
)
from charts.spec import ChartSpec

TAG_CLEARANCE_PX = 15


def _price_range(spec: ChartSpec) -> tuple[float, float]:
    c = spec.candles
    lo, hi = float(c.low.min()), float(c.high.max())
    first, last = int(c.open_time[0]), int(c.open_time[-1])
    for lv in spec.levels:
        lo, hi = min(lo, lv.price), max(hi, lv.price)
    for z in spec.zones:
        in_window = z.start_time <= last and (z.end_time is None or z.end_time >= first)
        if in_window:
            lo, hi = min(lo, z.bottom), max(hi, z.top)
    return padded_range(lo, hi, 0.06)


def _right_margin(layout: Layout, labels: list[str]) -> int:
    """The default price-axis margin, widened (in 8 px steps) when labels need more room."""
    prop = FontProperties(size=theme.FONT_TICK)
    widest = max(layout.canvas.text_width(s, prop) for s in labels)
    needed = int(widest) + 14
    return max(theme.MARGIN_RIGHT_PX, -(-needed // 8) * 8)


class ChartRenderer:
    """Draws chart snapshots. Holds one reusable figure per panel combination (with or without
    RSI / MACD), so create one per process and keep it.

    Not thread-safe: figures are mutated by every render. Use it from one thread (e.g. run it
    in a single-worker executor from asyncio code).
    """

    def __init__(self) -> None:
        self._layouts: dict[tuple[bool, bool], Layout] = {}
        self._last: tuple[Layout, ChartSpec] | None = None

    def warm_up(self) -> None:
        """Build and draw the figure of every panel combination once, so that the first real
        snapshot (e.g. the first confirmation after start-up) does not pay for it."""
        for key in ((False, False), (True, False), (False, True), (True, True)):
            if key not in self._layouts:
                self._layouts[key] = build_layout(*key)
            self._layouts[key].canvas.draw()  # type: ignore[no-untyped-call]

    def _layout(self, spec: ChartSpec) -> Layout:
        key = (spec.rsi is not None, spec.macd is not None)
        if key not in self._layouts:
            self._layouts[key] = build_layout(*key)
        return self._layouts[key]

    def _draw(self, spec: ChartSpec) -> Layout:
        layout = self._layout(spec)
        layout.clear_dynamic()
        c, ax = spec.candles, layout.price.ax
        n = len(c)
        xlim = (-0.5 - n * 0.01, n - 0.5 + max(n * theme.RIGHT_PAD_FRACTION, 6))
        ylim = _price_range(spec)
        xticks = time_ticks(c.open_time)
        ticks, decimals = price_ticks(*ylim)
        close = float(c.close[-1])
        # The last-price tag hides tick labels it would sit on (the grid line stays).
        clear = TAG_CLEARANCE_PX * (ylim[1] - ylim[0]) / ax.bbox.height
        yticks = (
            ticks,
            [format_price(t, decimals) if abs(t - close) > clear else "" for t in ticks],
        )
        scale = panels.macd_scale(spec.macd) if spec.macd is not None else None
        tag_decimals = quoted_decimals(close, decimals)  # the close as quoted, not as ticked
        tag = format_price(close, tag_decimals)
        wide = [*yticks[1], f"{tag}  ", *(scale.labels if scale is not None else [])]
        layout.set_right_margin(_right_margin(layout, wide))
        layers.set_frame(layout.price, xlim, ylim, xticks, yticks)
        layout.title.set_text(spec.title)
        layout.subtitle.set_text(f"last candle {format_utc(int(c.open_time[-1]))}")
        price_per_px = (ylim[1] - ylim[0]) / ax.bbox.height
        px_per_row = ax.bbox.width / (xlim[1] - xlim[0])
        layers.draw_candles(layout, c, price_per_px, px_per_row)
        dyn = layout.dynamic
        dyn.extend(layers.draw_zones(layout, spec.zones, c.open_time, xlim[1]))
        dyn.extend(layers.draw_lines(layout, spec.lines))
        dyn.extend(layers.draw_levels(layout, spec.levels, price_per_px))
        dyn.extend(layers.draw_markers(layout, spec.markers, c.open_time))
        layers.draw_price_tag(layout, c, tag_decimals)
        if spec.rsi is not None:
            panels.draw_rsi(layout, spec.rsi, xlim, xticks)
        if spec.macd is not None and scale is not None:
            bar_pt = max(1.0, 0.7 * px_per_row) * 72.0 / theme.DPI
            panels.draw_macd(layout, spec.macd, scale, xlim, xticks, bar_pt)
        layout.canvas.draw()  # type: ignore[no-untyped-call]
        self._last = (layout, spec)
        return layout

    def render_png(self, spec: ChartSpec) -> bytes:
        """Draw ``spec`` and return it as PNG bytes (size from ``charts.figure_size``)."""
        layout = self._draw(spec)
        rgba = np.asarray(layout.canvas.buffer_rgba())  # type: ignore[no-untyped-call]
        return encode_rgb_png(rgba)

    def render_to(self, spec: ChartSpec, path: Path) -> Path:
        """Render to ``path`` atomically (temporary file in the same folder, then rename)."""
        data = self.render_png(spec)
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def pixel_of(self, time: int, price: float) -> tuple[float, float]:
        """Where ``(time, price)`` landed in the most recent render's price panel, as image
        pixels ``(x, y)`` from the top-left corner (for tests and clickable image maps)."""
        if self._last is None:
            raise ValueError("pixel_of: nothing has been rendered yet")
        layout, spec = self._last
        x = time_to_x(spec.candles.open_time, time)
        px, py = layout.price.ax.transData.transform(np.array([x, price]))
        return float(px), float(layout.figure.bbox.height - py)
